"""Every figure of a simulated month, from the rollups (SQLite, and PostgreSQL when
configured) and from ClickHouse SQL on chDB, equals its brute-force recomputation from the
raw events — before and after late events, and after the rollups are rebuilt from scratch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from shoplet import simulator
from shoplet.analytics import embedded, figures, rollups, service
from shoplet.analytics.calendar import local_day
from shoplet.analytics.clickhouse import ChdbClient, ClickHouseSource, Warehouse
from shoplet.analytics.embedded import RollupSource
from shoplet.analytics.models import CustomerDay, FirstSeen
from shoplet.config import Settings
from shoplet.customers import visits
from shoplet.customers.schemas import VisitIn
from shoplet.db import Database, utcnow
from shoplet.demo import create
from shoplet.events import Event, EventKind
from shoplet.migrate import upgrade
from shoplet.orders.models import Order, OrderStatus
from shoplet.payments import refunds
from shoplet.scoping import owned
from tests.analytics.brute import BruteSource

DAYS = 30
ROLLUP_TABLES = [
    "rollup_customer_days",
    "rollup_daily_metrics",
    "rollup_customers",
    "rollup_retention",
    "rollup_period_actives",
]


@dataclass
class Month:
    db: Database
    merchant_id: str
    zone: ZoneInfo
    first: date
    last: date
    report: simulator.Report
    warehouse: Warehouse


def _simulated_month(database: Database, customers: int) -> Month:
    end = utcnow()
    settings = Settings(database_url=database.url, sandbox_payments=True)
    with database.unit_of_work() as s:
        merchant_id = create(s, now=end - timedelta(days=DAYS)).id
    rt = simulator.runtime_for(settings, database)
    # more of the rarer things than the defaults, so that every figure has something to count
    knobs = simulator.Knobs(order=0.18, refund=0.15, join_light=0.05, verify_in_store=0.1)
    report = simulator.simulate(rt, merchant_id, days=DAYS, customers=customers, seed=7, end=end, knobs=knobs)
    zone = ZoneInfo("Asia/Shanghai")
    warehouse = Warehouse(ChdbClient())
    warehouse.create()
    return Month(
        db=database,
        merchant_id=merchant_id,
        zone=zone,
        first=local_day(end, zone) - timedelta(days=DAYS - 1),
        last=local_day(end, zone),
        report=report,
        warehouse=warehouse,
    )


@pytest.fixture(scope="module")
def month(database_url, tmp_path_factory) -> Month:
    """A month of its own database (the simulator's sweeps would touch other tests' rows):
    another SQLite file, or another schema of the PostgreSQL database. Every event is queued
    for the ClickHouse copy too, as with SHOPLET_CLICKHOUSE_URL set. PostgreSQL plays fewer
    customers (the suite's time)."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('month') / 'month.db'}"
    else:
        base = Database(database_url)
        with base.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS analytics_month CASCADE"))
            conn.execute(text("CREATE SCHEMA analytics_month"))
        base.dispose()
        url = database_url + ("&" if "?" in database_url else "?") + "options=-csearch_path%3Danalytics_month"
    upgrade(url)
    db = Database(url)
    db.event_consumers = (rollups.CONSUMER, "clickhouse")
    try:
        yield _simulated_month(db, 160 if database_url.startswith("sqlite") else 90)
    finally:
        db.dispose()


def _ranges(m: Month) -> list[tuple[date, date]]:
    end = m.last + timedelta(days=1)
    return [
        (m.first - timedelta(days=3), end),
        (m.first + timedelta(days=9), m.first + timedelta(days=17)),
        (m.last, end),
    ]


def _all_figures(source, m: Month) -> list:
    out = []
    for since, until in _ranges(m):
        for grain in ("day", "week", "month"):
            out.append(figures.active(source, since, until, grain))
        out.append(figures.new_customers(source, since, until))
        for offsets in ([1, 7, 30], [1, 2, 3]):
            out.append(figures.retention(source, since, until, offsets, m.last))
        for steps in (
            [str(k) for k in figures.DEFAULT_FUNNEL],
            ["visit", "order.placed"],
            ["coupon.claimed", "order.paid", "pickup.verified"],
            ["order.paid", "coupon.used"],
        ):
            out.append(figures.funnel(source, since, until, steps))
        out.append(figures.coupons(source, since, until))
        for by in figures.SALES_DIMENSIONS:
            out.append(figures.sales(source, since, until, by))
        out.append(figures.repeat_purchase(source, since, until))
        out.append(figures.light_memberships(source, since, until))
        out.append(figures.guides(source, since, until, 5))
    return out


def _before_after(source, m: Month, store_ids: list[str]) -> list:
    day = m.first + timedelta(days=15)
    return [figures.before_after(source, store, day, 10) for store in store_ids]


def _stores(m: Month) -> list[str]:
    with m.db.unit_of_work(write=False) as s:
        return sorted(
            {x for x in s.scalars(select(Event.store_id).where(owned(Event, m.merchant_id))) if x is not None}
        )


def _compare(m: Month, source_of) -> None:
    with m.db.unit_of_work(write=False) as s:
        brute = BruteSource(s, m.merchant_id, m.zone)
        other = source_of(s)
        stores = _stores(m)
        expected = _all_figures(brute, m) + _before_after(brute, m, stores)
        got = _all_figures(other, m) + _before_after(other, m, stores)
    assert len(got) == len(expected)
    for n, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"figure {n} ({type(want).__name__}) differs on {other.name}"


def _rollups(m: Month):
    return lambda s: RollupSource(s, m.merchant_id)


def _clickhouse(m: Month):
    return lambda s: ClickHouseSource(m.warehouse, m.merchant_id, "Asia/Shanghai")


def test_a_simulated_month_has_every_kind_of_figure(month):
    r = month.report
    assert r.customers > 50 and r.paid > 20 and r.refunds >= 1, r
    with month.db.unit_of_work(write=False) as s:
        kinds = set(s.scalars(select(Event.kind).where(owned(Event, month.merchant_id)).distinct()))
    wanted = {
        EventKind.VISIT, EventKind.SIGN_IN, EventKind.FOLLOW, EventKind.COUPON_CLAIMED, EventKind.COUPON_USED,
        EventKind.COUPON_VERIFIED, EventKind.ORDER_PLACED, EventKind.ORDER_PAID, EventKind.REFUND,
        EventKind.PICKUP_VERIFIED, EventKind.LIGHT_JOINED, EventKind.LIGHT_SETTLED, EventKind.POINTS_EARNED,
        EventKind.GUIDE_BOUND, EventKind.COMMISSION_CREATED,
    }  # fmt: skip
    assert wanted <= kinds, wanted - kinds


def test_rollups_equal_brute_force(month):
    rollups.run(month.db)
    _compare(month, _rollups(month))


def test_the_day_sums_are_planned_for_the_days_asked_each_time(month):
    """The home dashboard's day sums read the same figures however often they are asked for,
    and on PostgreSQL the statement is never prepared on the server: psycopg would prepare it
    at its fifth use, and PostgreSQL's generic plan, blind to the range of days, scanned every
    metric of the range and sorted them (2.3 times slower than the custom plan)."""
    rollups.run(month.db)
    r = service.day_range(None, None, tz=month.zone, now=utcnow())
    with month.db.unit_of_work(write=False) as s:
        source = RollupSource(s, month.merchant_id)
        first = service.dashboard(s, source, month.merchant_id, r, list(service.HOME))
        for _ in range(7):
            assert service.dashboard(s, source, month.merchant_id, r, list(service.HOME)) == first
        assert first.sales_by_store is not None and first.sales_by_store.total.orders > 0
        if s.get_bind().dialect.name == "postgresql":
            prepared = list(s.scalars(text("SELECT statement FROM pg_prepared_statements")))
            assert not [p for p in prepared if "sum(rollup_daily_metrics.value)" in p], prepared


def test_day_sums_take_only_the_figures_own_names():
    with pytest.raises(ValueError):
        embedded._sums(("gmv') OR ('1",), ("all",))


def test_clickhouse_sql_on_chdb_equals_brute_force(month):
    month.warehouse.export(month.db)
    _compare(month, _clickhouse(month))


def _late_events(m: Month) -> dict:
    """A page view reported five days late by a new customer, an older view of a customer
    first seen two days ago (their first day moves back), and a refund today of an order
    paid a week or more ago."""
    db, merchant_id = m.db, m.merchant_id
    now = utcnow()
    with db.unit_of_work() as s:
        moved = s.scalar(
            select(FirstSeen.customer_id)
            .where(owned(FirstSeen, merchant_id), FirstSeen.first_day == m.last - timedelta(days=2))
            .order_by(FirstSeen.customer_id)
            .limit(1)
        )
        views = [VisitIn(id="late-1", page="home", scene="search", at=now - timedelta(days=5))]
        visits.record_visits(
            s, merchant_id=merchant_id, customer_id="cus_late_new", host_app="alipay", scene=None,
            views=views, now=now,
        )  # fmt: skip
        if moved:
            visits.record_visits(
                s, merchant_id=merchant_id, customer_id=moved, host_app="taobao", scene="feed",
                views=[VisitIn(id="late-2", page="store", at=now - timedelta(days=6))], now=now,
            )  # fmt: skip
        old = s.scalar(
            select(Order.id)
            .where(
                owned(Order, merchant_id),
                Order.status.in_((OrderStatus.PAID, OrderStatus.FULFILLED)),
                Order.paid_at < now - timedelta(days=7),
            )
            .order_by(Order.paid_at)
            .limit(1)
        )
    assert old is not None
    settings = Settings(database_url=db.url, sandbox_payments=True)
    rt = simulator.runtime_for(settings, db)
    refunds.refund_order(
        db, rt.providers, merchant_id=merchant_id, scope="staff:test", order_id=old, items=None, restock=True,
        reason="late", clerk_store_id=None, idempotency_key=None, payload={}, now=now,
    )  # fmt: skip
    return {"moved": moved, "refunded": old}


def _rollup_state(m: Month) -> dict[str, list]:
    with m.db.unit_of_work(write=False) as s:
        return {
            table: sorted(
                tuple(str(v) for v in row)
                for row in s.execute(
                    text(f"SELECT * FROM {table} WHERE merchant_id = :m"), {"m": m.merchant_id}
                )
            )
            for table in ROLLUP_TABLES
        }


def test_late_events_fix_the_right_days_and_a_rebuild_changes_nothing(month):
    rollups.run(month.db)
    before = _rollup_state(month)
    late = _late_events(month)
    rollups.run(month.db, limit=2)  # small batches: any order of arrival gives the same rollups
    after = _rollup_state(month)
    assert after != before
    with month.db.unit_of_work(write=False) as s:
        assert s.scalar(
            select(FirstSeen.first_day).where(
                owned(FirstSeen, month.merchant_id), FirstSeen.customer_id == "cus_late_new"
            )
        ) == local_day(utcnow() - timedelta(days=5), month.zone)
        if late["moved"]:
            assert s.scalar(
                select(FirstSeen.first_day).where(
                    owned(FirstSeen, month.merchant_id), FirstSeen.customer_id == late["moved"]
                )
            ) == local_day(utcnow() - timedelta(days=6), month.zone)
    _compare(month, _rollups(month))
    month.warehouse.export(month.db)
    _compare(month, _clickhouse(month))
    # Running the job again, or rebuilding every day from the raw events, changes nothing.
    rollups.run(month.db)
    assert _rollup_state(month) == after
    rollups.rebuild(month.db, month.merchant_id)
    assert _rollup_state(month) == after


def test_the_clickhouse_copy_resumes_after_a_crash_and_counts_each_event_once(month):
    class Crashing:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def command(self, sql):
            self.inner.command(sql)

        def rows(self, sql):
            return self.inner.rows(sql)

        def insert(self, table, rows):
            self.calls += 1
            self.inner.insert(table, rows)  # the batch lands, then the copier dies before dequeuing
            if self.calls == 2:
                raise RuntimeError("killed")

    warehouse = Warehouse(month.warehouse.client, database="crash")
    warehouse.create()
    with month.db.unit_of_work() as s:  # queue every event of the month again for this copy
        ids = list(s.scalars(select(Event.id).where(owned(Event, month.merchant_id))))
        s.execute(
            text("DELETE FROM event_queue WHERE merchant_id = :m AND consumer = 'clickhouse'"),
            {"m": month.merchant_id},
        )
        s.execute(
            text("INSERT INTO event_queue (merchant_id, consumer, event_id) VALUES (:m, 'clickhouse', :e)"),
            [{"m": month.merchant_id, "e": i} for i in ids],
        )
    crashing = Crashing(warehouse.client)
    warehouse.client = crashing
    with pytest.raises(RuntimeError):
        warehouse.export(month.db, limit=500)
    warehouse.client = crashing.inner
    warehouse.export(month.db, limit=500)
    quoted = f"'{month.merchant_id}'"
    rows = warehouse.client.rows(
        f"SELECT count(), uniqExact(id) FROM crash.events FINAL WHERE merchant_id = {quoted}"
    )
    assert [int(x) for x in rows[0]] == [len(ids), len(ids)]
    with month.db.unit_of_work(write=False) as s:
        assert s.scalar(
            select(func.count()).select_from(CustomerDay).where(owned(CustomerDay, month.merchant_id))
        )
