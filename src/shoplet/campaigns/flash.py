"""Flash sales (限时秒杀 / 每日必抢, SPEC S4).

A sale runs in its window, optionally only in daily time slots (in the merchant's time
zone). Each item is a SKU with a flash price and a flash stock of its own. Buying takes, in
the unit of work that writes the order:

- the flash stock, ``UPDATE flash_items SET sold = sold + q WHERE sold + q <= stock``;
- the customer's units, an upsert of ``campaign_quotas`` whose WHERE is the limit —
  never a count of earlier orders.

The order's payment deadline is the sale's short one; when it passes unpaid, the order is
cancelled and both come back (:class:`Hooks`). With ``SHOPLET_REDIS_URL`` set, a buy
passes :class:`FlashGate` first: one Lua script takes the item's units and the customer's
units in Redis, so a rush's refusals never reach the database; the database stays the
record and the backstop (an admitted buy still runs both conditional writes, and gives the
Redis units back if they refuse). :func:`reconcile_gate` re-primes Redis from the database.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import redis
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shoplet.campaigns import service
from shoplet.campaigns.models import CampaignKind, FlashItem, FlashSale
from shoplet.db import Database, by_key, changed, new_id
from shoplet.errors import Conflict, Unprocessable
from shoplet.events import EventKind, record
from shoplet.orders import checkout, routing
from shoplet.orders.checkout import Placed
from shoplet.orders.pricing import Campaign, CartPricer
from shoplet.orders.schemas import OrderOut
from shoplet.orders.service import lines_of
from shoplet.scoping import get_owned, owned, same_tenant, scoped, transition
from shoplet.tenancy.service import zone

# --- sales -------------------------------------------------------------------------------


def _slots(raw: list[list[str]]) -> list[list[str]]:
    out = []
    for pair in raw:
        start, end = (time.fromisoformat(p) for p in pair)
        if end <= start:
            raise Unprocessable(
                "flash.bad_slot", f"The time slot {pair[0]}–{pair[1]} must end after it starts."
            )
        out.append([start.strftime("%H:%M"), end.strftime("%H:%M")])
    return out


def create_sale(
    session: Session, *, merchant_id: str, fields: dict[str, Any], items: list[dict[str, Any]], now: datetime
) -> FlashSale:
    """A sale with its items (SKU, flash price, flash stock; each SKU once)."""
    service.check_window(fields["starts_at"], fields["ends_at"])
    if len({i["sku_id"] for i in items}) != len(items):
        raise Unprocessable("flash.duplicate_sku", "Each SKU appears once in a flash sale.")
    sale = FlashSale(
        merchant_id=merchant_id,
        id=new_id("fls"),
        status="active",
        created_at=now,
        updated_at=now,
        **{**fields, "daily_slots": _slots(fields.get("daily_slots") or [])},
    )
    session.add(sale)
    session.flush()
    for item in items:
        service.sellable_sku(session, merchant_id, item["sku_id"])
        session.add(FlashItem(merchant_id=merchant_id, id=new_id("fli"), sale_id=sale.id, sold=0, **item))
    session.flush()
    return sale


def get_sale(session: Session, merchant_id: str, sale_id: str) -> FlashSale:
    return get_owned(session, FlashSale, merchant_id, sale_id, what="Flash sale", code="flash_sale")


def items_of(session: Session, merchant_id: str, sale_ids: list[str]) -> dict[str, list[FlashItem]]:
    out: dict[str, list[FlashItem]] = {s: [] for s in sale_ids}
    if sale_ids:
        for item in session.scalars(
            scoped(FlashItem, merchant_id).where(FlashItem.sale_id.in_(sale_ids)).order_by(FlashItem.id)
        ):
            out[item.sale_id].append(item)
    return out


def is_running(sale: FlashSale, now: datetime, tz: Any) -> bool:
    """In the window and, if it has daily slots, in one of them (merchant's local time)."""
    if sale.status != "active" or not sale.starts_at <= now < sale.ends_at:
        return False
    if not sale.daily_slots:
        return True
    local = now.astimezone(tz).time()
    return any(time.fromisoformat(a) <= local < time.fromisoformat(b) for a, b in sale.daily_slots)


def next_start(sale: FlashSale, now: datetime, tz: Any) -> datetime | None:
    """When the sale next opens (None: running now or over)."""
    if sale.status != "active" or now >= sale.ends_at or is_running(sale, now, tz):
        return None
    if not sale.daily_slots:
        return sale.starts_at if now < sale.starts_at else None
    start = max(now, sale.starts_at).astimezone(tz)
    for day in range(0, 400):
        date = (start + timedelta(days=day)).date()
        for a, _ in sorted(sale.daily_slots):
            at = datetime.combine(date, time.fromisoformat(a), tzinfo=tz)
            if at >= start and at < sale.ends_at:
                return at
        if datetime.combine(date, time(0), tzinfo=tz) > sale.ends_at:
            break
    return None


# --- the Redis gate ----------------------------------------------------------------------

TAKE = """
local stock = redis.call('GET', KEYS[1])
local held = redis.call('GET', KEYS[2])
if not stock or not held then return -4 end
local q, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(stock) < q then return -1 end
if tonumber(held) + q > limit then return -2 end
redis.call('DECRBY', KEYS[1], q)
redis.call('INCRBY', KEYS[2], q)
return 1
"""
GIVE_BACK = """
redis.call('INCRBY', KEYS[1], ARGV[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then redis.call('DECRBY', KEYS[2], ARGV[1]) end
return 1
"""
SOLD_OUT, LIMIT, NOT_PRIMED = -1, -2, -4


class FlashGate:
    """Flash stock and per-customer units in Redis, taken together by one script."""

    def __init__(self, url: str, prefix: str = "shoplet:flash-gate") -> None:
        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self._take = self.redis.register_script(TAKE)
        self._give_back = self.redis.register_script(GIVE_BACK)

    def keys(self, merchant_id: str, item_id: str, customer_id: str) -> list[str]:
        base = f"{self.prefix}:{merchant_id}:{item_id}"
        return [f"{base}:stock", f"{base}:c:{customer_id}"]

    def take(self, *, keys: list[str], quantity: int, limit: int, prime: Any) -> int:
        """1 taken, SOLD_OUT or LIMIT; ``prime()`` gives (stock left, customer's units) from
        the database when a key is missing."""
        for _ in range(2):
            result = int(self._take(keys=keys, args=[quantity, limit]))
            if result != NOT_PRIMED:
                return result
            left, held = prime()
            pipe = self.redis.pipeline()
            pipe.set(keys[0], left, nx=True)
            pipe.set(keys[1], held, nx=True, ex=7 * 86400)
            pipe.execute()
        raise RuntimeError("the flash gate could not be primed")

    def give_back(self, keys: list[str], quantity: int) -> None:
        self._give_back(keys=keys, args=[quantity])

    def reconcile(self, merchant_id: str, item_id: str, left: int) -> None:
        base = f"{self.prefix}:{merchant_id}:{item_id}"
        self.redis.set(f"{base}:stock", left)
        for key in self.redis.scan_iter(match=f"{base}:c:*", count=1000):
            self.redis.delete(key)


def reconcile_gate(db: Database, gate: FlashGate, *, now: datetime) -> int:
    """Set every running sale item's Redis stock from the database (units that came back
    from unpaid orders; a flushed Redis) and let customer counts re-prime."""
    with db.unit_of_work(write=False) as s:
        rows = s.execute(
            select(FlashItem.merchant_id, FlashItem.id, FlashItem.stock - FlashItem.sold)
            .join(FlashSale, same_tenant(FlashSale, FlashItem) & (FlashSale.id == FlashItem.sale_id))
            .where(FlashSale.status == service.ACTIVE, FlashSale.ends_at > now)
        ).all()
    for merchant_id, item_id, left in rows:
        gate.reconcile(merchant_id, item_id, int(left))
    return len(rows)


# --- buying ------------------------------------------------------------------------------

_TAKE = transition(
    FlashItem, FlashItem.sold + bindparam("q") <= FlashItem.stock, sold=FlashItem.sold + bindparam("q")
)
_SOLD_OUT_AT = (
    update(FlashItem)
    .where(
        owned(FlashItem, bindparam("m")),
        FlashItem.id == bindparam("key"),
        FlashItem.sold >= FlashItem.stock,
        FlashItem.sold_out_at.is_(None),
    )
    .values(sold_out_at=bindparam("at"))
)
_GIVE = (
    update(FlashItem)
    .where(
        owned(FlashItem, bindparam("m")), FlashItem.id == bindparam("key"), FlashItem.sold >= bindparam("q")
    )
    .values(sold=FlashItem.sold - bindparam("q"))
)


def _read(db: Database, merchant_id: str, item_id: str) -> tuple[FlashItem, FlashSale, Any]:
    with db.unit_of_work(write=False) as s:
        item = get_owned(s, FlashItem, merchant_id, item_id, what="Flash item", code="flash_item")
        sale = s.get_one(FlashSale, (merchant_id, item.sale_id))
        tz = zone(s, merchant_id)
        s.expunge_all()
    return item, sale, tz


_CACHE: dict[tuple[str, str], tuple[float, tuple[FlashItem, FlashSale, Any]]] = {}
CACHE_SECONDS = 1.0


def _cached(db: Database, merchant_id: str, item_id: str) -> tuple[FlashItem, FlashSale, Any]:
    """The item, its sale and the shop's zone for a gated buy, read at most once a second per
    process: a rush asks for the same rows thousands of times a second. A stale copy only
    delays a pause, a stop or a window the merchant edits by up to a second; stock and limits
    are Redis's and then the database's to answer."""
    key = (merchant_id, item_id)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] > clock.monotonic():
        return hit[1]
    found = _read(db, merchant_id, item_id)
    if len(_CACHE) > 10_000:
        _CACHE.clear()
    _CACHE[key] = (clock.monotonic() + CACHE_SECONDS, found)
    return found


@dataclass(frozen=True)
class Buy:
    item_id: str
    quantity: int
    location_id: str
    fulfilment: routing.Request | None = None
    coupon_ids: list[str] | None = None


def buy(
    db: Database,
    *,
    merchant_id: str,
    customer_id: str,
    scope: str,
    request: Buy,
    pricer: CartPricer,
    gate: FlashGate | None,
    host_app: str | None,
    scene: str | None,
    now: datetime,
    idempotency_key: str | None,
    payload: dict[str, Any],
) -> OrderOut:
    """A customer's flash buy: refused from one read when the sale is not running, sold out
    or past the limit; through the Redis gate when configured; then the order with the flash
    stock and the customer's units taken by conditional writes."""
    item, sale, tz = (
        _cached(db, merchant_id, request.item_id)
        if gate is not None
        else _read(db, merchant_id, request.item_id)
    )
    q = request.quantity
    limit = sale.per_customer_limit

    def over_limit() -> Conflict:
        return Conflict("flash.over_limit", f"At most {limit} per customer in this flash sale.")

    def check(_: Any = None) -> None:
        if not is_running(sale, now, tz):
            if now >= sale.ends_at or sale.status == "stopped":
                raise Conflict("campaign.over", "This flash sale is over.")
            raise service.not_running("flash sale")
        if q > limit:
            raise over_limit()
        if gate is None and item.sold + q > item.stock:  # behind the gate, Redis answers it
            raise Conflict("flash.sold_out", "Sold out.")

    keys: list[str] = []
    if gate is not None:
        check()  # the refusals that need nothing more, before Redis
        keys = gate.keys(merchant_id, item.id, customer_id)

        def prime() -> tuple[int, int]:
            with db.unit_of_work(write=False) as s:
                fresh = s.get_one(FlashItem, (merchant_id, item.id))
                return fresh.stock - fresh.sold, service.quota_taken(
                    s, merchant_id=merchant_id, campaign_id=item.id, customer_id=customer_id
                )

        result = gate.take(keys=keys, quantity=q, limit=limit, prime=prime)
        if result == SOLD_OUT:
            raise Conflict("flash.sold_out", "Sold out.")
        if result == LIMIT:
            raise over_limit()

    def take(s: Session, placed: Placed) -> None:
        taken = s.execute(_TAKE, {"m": merchant_id, "key": item.id, "q": q}).scalar()
        if taken is None:
            raise Conflict("flash.sold_out", "Sold out.")
        if not service.take_quota(
            s, merchant_id=merchant_id, campaign_id=item.id, customer_id=customer_id, quantity=q, limit=limit
        ):
            raise over_limit()
        if taken.sold >= taken.stock and changed(
            s.execute(_SOLD_OUT_AT, {"m": merchant_id, "key": item.id, "at": now})
        ):
            record(
                s,
                merchant_id,
                EventKind.FLASH_SOLD_OUT,
                now,
                subject_id=item.id,
                ref=sale.id,
                amount=item.stock,
            )

    def refused() -> None:
        if gate is not None:
            gate.give_back(keys, q)

    return checkout.place_order(
        db,
        merchant_id=merchant_id,
        customer_id=customer_id,
        scope=scope,
        operation=f"flash:{item.id}",
        payload=payload,
        idempotency_key=idempotency_key,
        location_id=request.location_id,
        items=[(item.sku_id, q)],
        campaign=Campaign(
            kind=CampaignKind.FLASH,
            ref=item.id,
            price_kind="flash_price",
            rule_id=sale.id,
            sku_id=item.sku_id,
            price=item.price,
            coupons=True,  # the coupon template decides (its `campaigns`)
        ),
        pricer=pricer,
        host_app=host_app,
        scene=scene,
        timeout=timedelta(minutes=sale.pay_minutes),
        now=now,
        coupon_ids=request.coupon_ids,
        fulfilment=request.fulfilment,
        check=None if gate is not None else check,
        take=take,
        refused=refused,
    )


class Hooks:
    """``order_hooks`` for orders of kind ``flash``: an unpaid order's units come back."""

    def cancelled(self, session: Session, order: Any, now: datetime) -> None:
        m = order.merchant_id
        item = by_key(session, FlashItem, (m, order.campaign_ref))
        if item is None:
            return
        units = sum(line.quantity for line in _lines(session, order) if line.sku_id == item.sku_id)
        if units:
            session.execute(_GIVE, {"m": m, "key": item.id, "q": units})
            service.give_quota(
                session, merchant_id=m, campaign_id=item.id, customer_id=order.customer_id, quantity=units
            )

    def paid(self, session: Session, order: Any, now: datetime) -> bool:
        return True

    def refunded(self, session: Session, order: Any, full: bool, now: datetime) -> None:
        """A paid flash order's units stay sold (the goods go back to normal stock)."""


def _lines(session: Session, order: Any) -> list[Any]:
    return lines_of(session, order.merchant_id, order.id)
