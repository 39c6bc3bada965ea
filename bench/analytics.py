"""Analytics benchmark (issue 13): the home dashboard on each engine against one full scan of
the raw events, and the simulator's rate through the real services.

Per engine — SQLite and PostgreSQL (when SHOPLET_TEST_DATABASE_URL is set) on the daily
rollups, and chDB (in-process ClickHouse) on the raw events — write N events of one
merchant (full: 10 million; --quick: 1 million) shaped like a shop's traffic over 45 days
(page views, coupon claims and uses, orders placed and paid, refunds of earlier orders,
pickups, points, guide bindings), straight into the events table: the figure is about
reading them, and generating millions through the services would take hours. Then:

- the rollups are brought up to date by the job (``rollup_s``);
- ``dashboard_ms``: the home dashboard — MAU, 30 cohorts × D1/D7/D30 retention, the default
  funnel, GMV by store for the month — median of 5 runs after an untimed one;
- ``raw_scan_ms``: the baseline, one full scan counting the merchant's raw events on the
  same engine, timed the same way; ``ratio`` = dashboard_ms / raw_scan_ms (target ≤ 0.05 on
  the rollups);
- verified afterwards from the database: the queue is empty, GMV equals the sum of the
  order.paid events of the month, and chDB's dashboard equals the rollups' exactly.

``simulated_events_per_s``: the simulator (``shoplet.simulator``) plays a shop through the
real services on that database (quick: 7 days of 300 customers; full: 30 days of 3,000)
and the events it recorded are divided by its wall time (target ≥ 2,000 on SQLite).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from harness import fresh_postgres  # noqa: E402
from shoplet import demo, simulator  # noqa: E402
from shoplet.analytics import rollups, service  # noqa: E402
from shoplet.analytics.calendar import day_bounds  # noqa: E402
from shoplet.analytics.clickhouse import COLUMNS, ChdbClient, ClickHouseSource, Warehouse  # noqa: E402
from shoplet.analytics.embedded import RollupSource  # noqa: E402
from shoplet.config import Settings  # noqa: E402
from shoplet.db import Database, bulk_insert  # noqa: E402
from shoplet.events import Event, EventQueue  # noqa: E402
from shoplet.migrate import upgrade  # noqa: E402
from shoplet.scoping import owned  # noqa: E402
from shoplet.tenancy import service as tenancy  # noqa: E402

DAYS = 45
ZONE = ZoneInfo("Asia/Shanghai")
HOSTS = ("alipay", "taobao", "tmall", "amap", "h5")
SCENES = ("qr_scan", "search", "share", "profile", "feed", "home_banner", "nearby", "message")
RUNS = 15
SEED = 13


def traffic(n: int, merchant_id: str, end: datetime, rng: random.Random):
    """Yield about ``n`` event rows of one merchant, in batches of customers' days."""
    customers = max(100, n // 40)
    stores = [f"loc_bench{i:02d}" for i in range(10)]
    guides = [f"stf_bench{i:02d}" for i in range(20)]
    templates = [f"cpt_bench{i}" for i in range(8)]
    start = end - timedelta(days=DAYS)
    written = 0
    seq = 0
    while written < n:
        for c in range(customers):
            if written >= n:
                return
            customer = f"cus_b{c:07d}"
            arrival = rng.randrange(DAYS)
            host, scene = rng.choice(HOSTS), rng.choice(SCENES)
            store = rng.choice(stores)
            guide = rng.choice(guides) if rng.random() < 0.3 else None
            batch = []
            for day in range(arrival, DAYS):
                if day > arrival and rng.random() > 0.6 * (day - arrival) ** -0.5:
                    continue
                t = start + timedelta(days=day, hours=rng.randrange(7, 22), minutes=rng.randrange(60))

                def add(kind, at, _customer=customer, _batch=batch, **columns):
                    nonlocal seq
                    seq += 1
                    row = dict.fromkeys(COLUMNS)
                    row.update(merchant_id=merchant_id, id=f"b{seq:010d}", kind=kind, occurred_at=at)
                    row.update(customer_id=_customer, amount=0, benefit=0)
                    row.update(columns)
                    _batch.append(row)

                for k in range(rng.randint(1, 8)):
                    add("visit", t + timedelta(seconds=20 * k), host_app=host, scene=scene, ref="home")
                t += timedelta(minutes=5)
                if rng.random() < 0.3:
                    add("coupon.claimed", t, ref=rng.choice(templates), subject_at=t)
                if rng.random() < 0.12:
                    amount = rng.randrange(1500, 30000)
                    order = dict(store_id=store, host_app=host, guide_id=guide)
                    add("order.placed", t + timedelta(minutes=1), amount=amount, **order)
                    if rng.random() < 0.9:
                        paid = t + timedelta(minutes=2)
                        add("order.paid", paid, amount=amount, subject_at=paid, **order)
                        add("points.earned", paid, amount=amount // 100)
                        if rng.random() < 0.3:
                            add("coupon.used", paid, ref=rng.choice(templates), subject_at=t, store_id=store)
                        if rng.random() < 0.8:
                            add("pickup.verified", paid + timedelta(minutes=15), store_id=store)
                        if rng.random() < 0.05:
                            add("refund", paid + timedelta(days=1), amount=amount, subject_at=paid, **order)
            written += len(batch)
            yield batch


def median_ms(work) -> float:
    """The median of RUNS timed runs after one untimed one (statement caches and the
    database's pages warm, as in a server that has answered before), the collector run
    first: the same for the dashboard and for its baseline."""
    work()
    gc.collect()
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        work()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def home(session, source, merchant_id: str, r):
    return service.dashboard(session, source, merchant_id, r, list(service.HOME))


def simulated_rate(url: str, days: int, customers: int) -> float:
    db = Database(url)
    end = datetime.now(UTC)
    with db.unit_of_work() as s:
        merchant_id = demo.create(s, now=end - timedelta(days=days)).id
    rt = simulator.runtime_for(Settings(database_url=url, sandbox_payments=True), db)
    report = simulator.simulate(rt, merchant_id, days=days, customers=customers, seed=1, end=end)
    db.dispose()
    return round(report.events_per_s, 1)


def bench_rollups(
    backend: str, url: str, n: int, sim: tuple[int, int], rng: random.Random
) -> tuple[dict, dict]:
    if backend == "postgresql":
        fresh_postgres(url)
    upgrade(url)
    db = Database(url)
    end = datetime.now(UTC)
    with db.unit_of_work() as s:
        merchant, _key, _token = tenancy.create_merchant(
            s, name="Bench coffee", timezone="Asia/Shanghai", now=end
        )
        merchant_id = merchant.id
    t = time.perf_counter()

    def write(rows: list[dict]) -> None:
        with db.unit_of_work() as s:
            bulk_insert(s.connection(), Event.__table__, rows)
            bulk_insert(
                s.connection(),
                EventQueue.__table__,
                [{"merchant_id": merchant_id, "consumer": "rollup", "event_id": r["id"]} for r in rows],
            )

    pending: list[dict] = []
    for batch in traffic(n, merchant_id, end, rng):
        pending.extend(batch)
        if len(pending) >= 50_000:
            write(pending)
            pending = []
    write(pending)
    if backend == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    generated_s = time.perf_counter() - t
    t = time.perf_counter()
    rollups.run(db, limit=n)  # a backfill: every day once (live, the job sees about one day a run)
    rollup_s = time.perf_counter() - t
    if backend == "postgresql":  # as autovacuum would after the backfill (it is off on these machines)
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    with db.unit_of_work(write=False) as s:
        events = s.scalar(select(func.count()).select_from(Event).where(owned(Event, merchant_id)))
        r = service.day_range(None, None, tz=ZONE, now=end)
        source = RollupSource(s, merchant_id)
        dashboard_ms = median_ms(lambda: home(s, source, merchant_id, r))
        raw_scan_ms = median_ms(
            lambda: s.execute(
                text("SELECT count(*) FROM events WHERE merchant_id = :m"), {"m": merchant_id}
            ).scalar()
        )
        out = home(s, source, merchant_id, r)
        since, until = day_bounds(r.since, ZONE)[0], day_bounds(r.until, ZONE)[0]
        gmv = s.scalar(
            select(func.coalesce(func.sum(Event.amount), 0)).where(
                owned(Event, merchant_id),
                Event.kind == "order.paid",
                Event.occurred_at >= since,
                Event.occurred_at < until,
            )
        )
        queued = s.scalar(select(func.count()).select_from(EventQueue).where(owned(EventQueue, merchant_id)))
    assert out.sales_by_store and out.sales_by_store.total.gmv == gmv, "GMV differs from the raw events"
    assert queued == 0, "events left in the rollup queue"
    db.dispose()
    result = {
        "engine": f"{backend} rollups",
        "events": events,
        "dashboard_ms": dashboard_ms,
        "raw_scan_ms": raw_scan_ms,
        "ratio": round(dashboard_ms / raw_scan_ms, 4),
        "simulated_events_per_s": simulated_rate(url, *sim),
        "generate_s": round(generated_s, 1),
        "rollup_s": round(rollup_s, 1),
    }
    context = {"n": n, "merchant_id": merchant_id, "end": end, "dashboard": out, "url": url}
    return result, context


def bench_chdb(context: dict) -> dict:
    warehouse = Warehouse(ChdbClient(), database="bench")
    warehouse.create()
    merchant_id, end = context["merchant_id"], context["end"]
    pending: list[dict] = []
    for batch in traffic(context["n"], merchant_id, end, random.Random(SEED)):  # the same events again
        pending.extend(batch)
        if len(pending) >= 100_000:
            warehouse.client.insert(warehouse.table, pending)
            pending = []
    warehouse.client.insert(warehouse.table, pending)
    warehouse.client.command(f"OPTIMIZE TABLE {warehouse.table} FINAL")
    source = ClickHouseSource(warehouse, merchant_id, str(ZONE))
    r = service.day_range(None, None, tz=ZONE, now=end)
    db = Database(context["url"])
    with db.unit_of_work(write=False) as s:
        dashboard_ms = median_ms(lambda: home(s, source, merchant_id, r))
        out = home(s, source, merchant_id, r)
    db.dispose()
    quoted = f"'{merchant_id}'"
    raw_scan_ms = median_ms(
        lambda: warehouse.client.rows(
            f"SELECT count() FROM {warehouse.table} FINAL WHERE merchant_id = {quoted}"
        )
    )
    events = int(
        warehouse.client.rows(f"SELECT count() FROM {warehouse.table} FINAL WHERE merchant_id = {quoted}")[0][
            0
        ]
    )
    expected = context["dashboard"]
    assert out.model_copy(update={"engine": ""}) == expected.model_copy(update={"engine": ""}), "chDB differs"
    return {
        "engine": "chdb",
        "events": events,
        "dashboard_ms": dashboard_ms,
        "raw_scan_ms": raw_scan_ms,
        "ratio": round(dashboard_ms / raw_scan_ms, 4),
        "simulated_events_per_s": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 million events (about a minute per engine).")
    parser.add_argument("--events", type=int, help="Override the number of events.")
    args = parser.parse_args()
    n = args.events or (1_000_000 if args.quick else 10_000_000)
    sim = (7, 300) if args.quick else (30, 3000)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite, context = bench_rollups(
            "sqlite", f"sqlite:///{Path(tmp) / 'analytics.db'}", n, sim, random.Random(SEED)
        )
        print(f"sqlite: {sqlite}", file=sys.stderr)
        results.append(sqlite)
        pg = os.environ.get("SHOPLET_TEST_DATABASE_URL")
        if pg:
            result, _ = bench_rollups("postgresql", pg, n, sim, random.Random(SEED))
            print(f"postgresql: {result}", file=sys.stderr)
            results.append(result)
        chdb = bench_chdb(context)
        print(f"chdb: {chdb}", file=sys.stderr)
        results.append(chdb)
        context.clear()
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
