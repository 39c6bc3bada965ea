"""The Redis gate for flash claims (the scale path for limited-stock claims).

Under a flash claim most attempts must be refused; refusing them in Redis keeps them off
the database. One Lua script atomically checks and takes a template's remaining stock and
the customer's lifetime and per-day counts. The database stays the record and the
backstop: an admitted claim still runs the conditional updates of
:func:`shoplet.coupons.service.issue`, and if those refuse, the gate gives the slot back.
Keys are primed from the database on first use (``SET NX``); :func:`reconcile` re-primes
them from the database, so a lost compensation or a flushed Redis heals.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

TAKE = """
local stock = redis.call('GET', KEYS[1])
if not stock then return -4 end
if tonumber(stock) <= 0 then return -1 end
local total_limit, day_limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if total_limit >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= total_limit then return -2 end
if day_limit >= 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= day_limit then return -3 end
redis.call('DECR', KEYS[1])
redis.call('INCR', KEYS[2])
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], 172800)
return 1
"""

GIVE_BACK = """
redis.call('INCR', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 1
"""

SOLD_OUT, LIMIT, DAILY_LIMIT, NOT_PRIMED = -1, -2, -3, -4


@dataclass(frozen=True)
class Slot:
    keys: tuple[str, str, str]


class RedisGate:
    def __init__(self, url: str, prefix: str = "shoplet:coupon-gate") -> None:
        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self._take = self.redis.register_script(TAKE)
        self._give_back = self.redis.register_script(GIVE_BACK)

    def keys(self, merchant_id: str, template_id: str, customer_id: str, day: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{merchant_id}:{template_id}"
        return f"{base}:stock", f"{base}:c:{customer_id}", f"{base}:d:{customer_id}:{day}"

    def take(
        self,
        *,
        merchant_id: str,
        template_id: str,
        customer_id: str,
        day: str,
        total_limit: int | None,
        day_limit: int | None,
        prime,
    ) -> tuple[int, Slot | None]:
        """Try to take a slot. ``prime()`` returns (stock left, customer's count, today's count)
        from the database, used when a key is missing. Returns (code, slot)."""
        keys = self.keys(merchant_id, template_id, customer_id, day)
        args = [-1 if total_limit is None else total_limit, -1 if day_limit is None else day_limit]
        for _ in range(2):
            result = int(self._take(keys=list(keys), args=args))
            if result != NOT_PRIMED:
                return result, (Slot(keys) if result == 1 else None)
            stock_left, held, today = prime()
            pipe = self.redis.pipeline()
            pipe.set(keys[0], stock_left, nx=True)
            pipe.set(keys[1], held, nx=True)
            pipe.set(keys[2], today, nx=True, ex=172800)
            pipe.execute()
        raise RuntimeError("the coupon gate could not be primed")

    def prime_customer(self, keys: tuple[str, str, str], held: int, today: int) -> None:
        pipe = self.redis.pipeline()
        pipe.set(keys[1], held, nx=True)
        pipe.set(keys[2], today, nx=True, ex=172800)
        pipe.execute()

    def give_back(self, slot: Slot) -> None:
        self._give_back(keys=list(slot.keys))

    def reconcile(self, merchant_id: str, template_id: str, stock_left: int) -> None:
        """Set the stock key from the database and forget customer counts (they re-prime)."""
        base = f"{self.prefix}:{merchant_id}:{template_id}"
        self.redis.set(f"{base}:stock", stock_left)
        for key in self.redis.scan_iter(match=f"{base}:[cd]:*", count=1000):
            self.redis.delete(key)
