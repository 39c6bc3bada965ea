"""Flash sale and group-buy benchmark (issue 16): a real server on loopback.

Per backend (SQLite; PostgreSQL when SHOPLET_TEST_DATABASE_URL is set; each behind the Redis
gate when SHOPLET_TEST_REDIS_URL is set): migrate, start ``shoplet serve``, create a merchant
with a SKU in its warehouse, a flash sale (flash stock F, a per-customer limit) and a
two-person group-buy campaign, and sign in many customers.

1. Groups: G leaders open a group each and pay; then, for every group at once, several
   customers race for its one free seat over HTTP. Half of the winners pay (those groups
   succeed); the other groups are closed at their time limit by two sweeps racing each
   other, so their paid leaders must be refunded exactly once.
2. Flash: many threads buy the flash SKU — more attempts than flash stock, customers
   trying past their limit — in turns with the baseline, the same server's /api/v1/health
   rate with the same client and threads (a quarter of each at a time: ``harness.paired``);
   then every placed order is paid.

The database is then read back: units sold against flash stock (``oversold``), units per
customer against the limit (``limit_violations``), seats held or paid per group against
its size (``overfilled_groups``), refunds per order and refunded against paid
(``double_refunds``). ``orders_per_s`` is flash buy requests answered per second (placed
or refused: a rush is mostly refusals), ``ratio`` that over ``baseline_rps``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, update

from harness import PLATFORM_KEY, Server, fresh_postgres, gated_backends, paired, rate
from shoplet.campaigns import groups
from shoplet.campaigns.models import BuyingGroup, FlashItem, GroupSeat
from shoplet.db import Database, utcnow
from shoplet.events import EventQueue
from shoplet.migrate import upgrade
from shoplet.orders.models import Order, OrderLine
from shoplet.outbox import OutboxEvent
from shoplet.payments.models import Refund


def pay(http: httpx.Client, order_id: str, headers: dict) -> None:
    payment = http.post(
        f"/api/v1/storefront/orders/{order_id}/payments",
        headers={**headers, "Idempotency-Key": f"pay-{order_id}"},
    ).json()
    http.post(f"/api/v1/sandbox/trades/{payment['provider_trade_no']}/pay")


def wait_until(check, timeout: float = 1200) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError("timed out waiting for the server's jobs")


def run_backend(name: str, url: str, args, redis_url: str | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    if name.startswith("postgresql"):
        fresh_postgres(url)
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    upgrade(url)
    server = Server(url, work, redis_url)
    rng = random.Random(16)
    try:
        base = server.base
        with httpx.Client(base_url=base, timeout=60) as http:
            merchant = http.post(
                "/api/v1/platform/merchants",
                json={"name": "Double 11"},
                headers={"Authorization": f"Bearer {PLATFORM_KEY}"},
            ).json()
            merchant_id = merchant["merchant"]["id"]
            admin = {"Authorization": f"Bearer {merchant['api_key']}"}
            warehouse = http.post(
                "/api/v1/stores", json={"kind": "warehouse", "code": "WH", "name": "Warehouse"}, headers=admin
            ).json()["id"]
            product = http.post(
                "/api/v1/products",
                json={"title": "Nuts gift box", "skus": [{"code": "NUTS", "list_price": 9900}]},
                headers=admin,
            ).json()
            sku = product["skus"][0]["id"]
            http.put(f"/api/v1/stores/{warehouse}/stock/{sku}", json={"on_hand": 10_000_000}, headers=admin)
            now = utcnow()
            sale = http.post(
                "/api/v1/flash-sales",
                json={
                    "name": "每日必抢",
                    "starts_at": (now - timedelta(minutes=1)).isoformat(),
                    "ends_at": (now + timedelta(hours=6)).isoformat(),
                    "per_customer_limit": args.limit,
                    "pay_minutes": 30,
                    "items": [{"sku_id": sku, "price": 1990, "stock": args.stock}],
                },
                headers=admin,
            ).json()
            item_id = sale["items"][0]["id"]
            campaign = http.post(
                "/api/v1/group-campaigns",
                json={
                    "name": "两人团",
                    "sku_id": sku,
                    "price": 5990,
                    "group_size": 2,
                    "time_limit_minutes": 60,
                    "starts_at": (now - timedelta(minutes=1)).isoformat(),
                    "ends_at": (now + timedelta(hours=6)).isoformat(),
                    "stock": 1_000_000,
                    "per_customer_limit": 1000,
                },
                headers=admin,
            ).json()
            tokens = [
                {
                    "Authorization": "Bearer "
                    + http.post(
                        "/api/v1/storefront/sessions",
                        json={
                            "merchant_id": merchant_id,
                            "host_app": "alipay",
                            "auth_code": f"sandbox:fan-{i}",
                        },
                    ).json()["token"]
                }
                for i in range(args.customers)
            ]

        # --- groups: G leaders open and pay, then racers for each group's last seat
        leader_ids = rng.sample(range(args.customers), args.groups)

        def lead(h, i):
            order = h.post(
                f"/api/v1/storefront/group-campaigns/{campaign['id']}/groups",
                json={"location_id": warehouse},
                headers=tokens[leader_ids[i]],
            ).json()
            pay(h, order["id"], tokens[leader_ids[i]])
            return order["campaign_ref"], leader_ids[i]

        _, led = rate(base, args.threads, args.groups, lead)
        group_ids = [g for g, _ in led]
        db = Database(url)

        def all_open() -> bool:
            with db.unit_of_work(write=False) as s:
                return s.scalar(
                    select(func.count()).where(
                        BuyingGroup.merchant_id == merchant_id, BuyingGroup.status == "open"
                    )
                ) == len(group_ids)

        wait_until(all_open)
        races = []
        for group_id, leader in led:
            others = [c for c in rng.sample(range(args.customers), args.racers + 1) if c != leader][
                : args.racers
            ]
            races += [(group_id, c) for c in others]
        rng.shuffle(races)

        def join(h, i):
            group_id, c = races[i]
            r = h.post(
                f"/api/v1/storefront/buying-groups/{group_id}/orders",
                json={"location_id": warehouse},
                headers=tokens[c],
            )
            return (
                r.status_code,
                group_id,
                c,
                r.json().get("id") if r.status_code == 201 else r.json().get("code"),
            )

        _, joined = rate(base, args.threads, len(races), join)
        winners = [(g, c, o) for status, g, c, o in joined if status == 201]
        paying = {g for g in group_ids[: len(group_ids) // 2]}
        _, _ = rate(
            base,
            args.threads,
            len(winners),
            lambda h, i: pay(h, winners[i][2], tokens[winners[i][1]]) if winners[i][0] in paying else None,
        )

        # --- the flash rush, once the jobs the groups queued (payment notifications, notices,
        # webhooks) are done: the rush's figures are the rush's alone
        def quiet() -> bool:
            with db.unit_of_work(write=False) as s:
                pending = s.scalar(
                    select(func.count()).where(
                        OutboxEvent.merchant_id == merchant_id, OutboxEvent.status == "pending"
                    )
                )
                queued = s.scalar(
                    select(func.count()).where(
                        EventQueue.merchant_id == merchant_id, EventQueue.consumer == "messaging"
                    )
                )
            return pending == 0 and queued == 0

        wait_until(quiet)

        def buy(h, i):
            token = tokens[i % len(tokens)]
            r = h.post(
                f"/api/v1/storefront/flash-items/{item_id}/orders",
                json={"location_id": warehouse, "quantity": 1},
                headers=token,
            )
            return (
                r.status_code,
                r.json().get("id") if r.status_code == 201 else r.json().get("code"),
                token,
            )

        measured = paired(server, args.threads, args.attempts, args.attempts, buy)
        bought, orders_per_s, baseline = (
            measured.results,
            args.attempts / measured.work_s,
            measured.baseline_rps,
        )
        flash_cpu, health_cpu = measured.work_cpu, measured.health_cpu
        placed = [(o, t) for status, o, t in bought if status == 201]
        rate(base, args.threads, len(placed), lambda h, i: pay(h, placed[i][0], placed[i][1]))

        def settled() -> bool:
            with db.unit_of_work(write=False) as s:
                paid_groups = s.scalar(
                    select(func.count()).where(
                        BuyingGroup.merchant_id == merchant_id, BuyingGroup.status == "succeeded"
                    )
                )
                unpaid_flash = s.scalar(
                    select(func.count()).where(
                        Order.merchant_id == merchant_id,
                        Order.campaign_kind == "flash",
                        Order.status == "pending_payment",
                    )
                )
            return paid_groups >= len({g for g, _, _ in winners if g in paying}) and unpaid_flash == 0

        wait_until(settled)
    finally:
        server.stop()

    # --- the time limit: the unfilled groups are closed by two racing sweeps
    later = utcnow() + timedelta(hours=2)
    with db.unit_of_work() as s:
        s.execute(
            update(BuyingGroup)
            .where(BuyingGroup.merchant_id == merchant_id, BuyingGroup.status == "open")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    outcomes: list[dict] = []
    sweepers = [
        threading.Thread(target=lambda: outcomes.append(groups.close_due(db, now=later))) for _ in range(2)
    ]
    for t in sweepers:
        t.start()
    for t in sweepers:
        t.join()

    with db.unit_of_work(write=False) as s:
        item = s.get(FlashItem, (merchant_id, item_id))
        flash_orders = (Order.merchant_id == merchant_id) & (Order.campaign_kind == "flash")
        live = Order.status.in_(("pending_payment", "paid", "fulfilled"))
        units = s.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(Order, (Order.merchant_id == OrderLine.merchant_id) & (Order.id == OrderLine.order_id))
            .where(flash_orders, live)
        )
        per_customer = s.execute(
            select(Order.customer_id, func.sum(OrderLine.quantity))
            .join(OrderLine, (Order.merchant_id == OrderLine.merchant_id) & (Order.id == OrderLine.order_id))
            .where(flash_orders, live)
            .group_by(Order.customer_id)
        ).all()
        seats = s.execute(
            select(GroupSeat.group_id, func.count())
            .where(GroupSeat.merchant_id == merchant_id, GroupSeat.status.in_(("held", "paid")))
            .group_by(GroupSeat.group_id)
        ).all()
        sizes = dict(
            s.execute(
                select(BuyingGroup.id, BuyingGroup.size).where(BuyingGroup.merchant_id == merchant_id)
            ).all()
        )
        group_status = dict(
            s.execute(
                select(BuyingGroup.status, func.count())
                .where(BuyingGroup.merchant_id == merchant_id)
                .group_by(BuyingGroup.status)
            ).all()
        )
        refunds = s.execute(
            select(Refund.order_id, func.count(), func.sum(Refund.amount))
            .where(Refund.merchant_id == merchant_id)
            .group_by(Refund.order_id)
        ).all()
        paid = dict(
            s.execute(select(Order.id, Order.paid_amount).where(Order.merchant_id == merchant_id)).all()
        )
        failed_leaders = s.scalar(
            select(func.count())
            .select_from(GroupSeat)
            .join(
                BuyingGroup,
                (BuyingGroup.merchant_id == GroupSeat.merchant_id) & (BuyingGroup.id == GroupSeat.group_id),
            )
            .where(
                GroupSeat.merchant_id == merchant_id,
                BuyingGroup.status == "failed",
                GroupSeat.leader.is_(True),
            )
        )
    db.dispose()
    double_refunds = sum(1 for order_id, n, amount in refunds if n > 1 or amount > paid.get(order_id, 0))
    return {
        "backend": name,
        "attempts": args.attempts,
        "flash_stock": args.stock,
        "sold": int(item.sold),
        "placed_orders": units,
        "oversold": max(0, int(item.sold) - args.stock) + abs(int(item.sold) - int(units)),
        "limit_violations": sum(1 for _, q in per_customer if q > args.limit),
        "groups": len(group_ids),
        "join_attempts": len(races),
        "groups_succeeded": group_status.get("succeeded", 0),
        "groups_failed": group_status.get("failed", 0),
        "overfilled_groups": sum(1 for g, n in seats if n > sizes[g]),
        "refunded_orders": len(refunds),
        "failed_group_leaders": failed_leaders,
        "double_refunds": double_refunds,
        "orders_per_s": round(orders_per_s, 1),
        "baseline_rps": round(baseline, 1),
        "ratio": round(orders_per_s / baseline, 3),
        "server_cpu_ms_per_flash_buy": round(flash_cpu / args.attempts * 1000, 3),
        "server_cpu_ms_per_health": round(health_cpu / args.attempts * 1000, 3),
        "statuses": {str(k): [b[0] for b in bought].count(k) for k in sorted({b[0] for b in bought})},
        "sweeps": outcomes,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.threads, args.limit, args.racers = 16, 2, 6
    if args.quick:
        args.attempts, args.stock, args.customers, args.groups = 1200, 300, 200, 40
    else:
        args.attempts, args.stock, args.customers, args.groups = 12000, 3000, 2000, 300

    backends = gated_backends("flash")
    results = [run_backend(name, url, args, redis_url) for name, url, redis_url in backends]
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
