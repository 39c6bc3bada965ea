"""The daily rollups, kept up to date from the event queue (the embedded analytics engine).

The job takes a batch of queued events per merchant and rebuilds every local day they
touch — the day each happened on, and the day its subject began (a refund of last week's
order changes last week's refunds; a coupon used today changes the use rate of the day it
was claimed) — from the raw events of that day alone, then deletes the batch from the queue
in the same transaction. A rebuild replaces the day's rows, so running it twice, or over an
event that arrived late, leaves the rollups exactly as a rebuild from scratch would: that is
what keeps them right without bookkeeping of increments.

What a day's rebuild writes (tables in ``analytics.models``):

- ``rollup_customer_days``: each customer active that day, their event count, path and
  paid orders;
- ``rollup_customers``: a customer's first day moves earlier when an earlier event appears,
  with the host app and scene of their first event of that day that names a host app;
- ``rollup_daily_metrics``: the day's sums and counts by store, host app, guide, template,
  plan and outcome;
- ``rollup_retention``: the cells this day completes (cohort ``day - k`` at offset ``k``), and
  the whole row of every cohort whose membership changed;
- ``rollup_period_actives``: distinct customers of the day's week and month.

A dashboard reads only these tables, never ``events``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from shoplet.analytics.calendar import day_bounds, local_day, month_start, next_period, week_start
from shoplet.analytics.figures import DEFAULT_FUNNEL
from shoplet.analytics.models import CustomerDay, DailyMetric, FirstSeen, PeriodActive, RetentionCell
from shoplet.db import Database, bulk_insert, one_of
from shoplet.events import CODES, Event, EventKind, EventQueue
from shoplet.scoping import owned, same_tenant
from shoplet.tenancy.service import zone

CONSUMER = "rollup"
DEFAULT_LETTERS = "".join(CODES[k] for k in DEFAULT_FUNNEL)
MAX_OFFSET = 30
"""Retention is kept for offsets 0–30 days."""
BATCH = 200_000

# Kinds counted on the day their subject began (``subject_at``), not the day they happened.
ATTRIBUTED = (EventKind.REFUND, EventKind.COUPON_USED, EventKind.COUPON_VERIFIED, EventKind.COUPON_EXPIRED)


@dataclass
class Progress:
    events: int = 0
    days: int = 0
    merchants: set[str] = field(default_factory=set)


def run(db: Database, *, limit: int = BATCH) -> Progress:
    """Apply queued events until the queue is empty; returns what was done."""
    progress = Progress()
    while True:
        with db.unit_of_work(write=False) as session:
            merchants = list(
                session.scalars(
                    select(EventQueue.merchant_id)
                    .where(EventQueue.consumer == CONSUMER)
                    .distinct()
                    .limit(100)
                )
            )
        if not merchants:
            return progress
        for merchant_id in merchants:
            while apply_batch(db, merchant_id, limit=limit, progress=progress):
                pass


def apply_batch(db: Database, merchant_id: str, *, limit: int, progress: Progress) -> int:
    """Take up to ``limit`` queued events of one merchant, rebuild each local day they touch
    once (a transaction per day, so a big batch never holds SQLite's writer for long), then
    dequeue them. A crash before the dequeue leaves them queued: the next run rebuilds the
    same days again, to the same rows. Events queued meanwhile wait for the next batch."""
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(EventQueue.event_id, Event.occurred_at, Event.subject_at)
            .join(Event, same_tenant(Event, EventQueue) & (Event.id == EventQueue.event_id))
            .where(owned(EventQueue, merchant_id), EventQueue.consumer == CONSUMER)
            .limit(limit)
        ).all()
        stray = (
            []
            if rows
            else list(  # queued ids with no event (cannot happen: both are written together)
                session.scalars(
                    select(EventQueue.event_id)
                    .where(owned(EventQueue, merchant_id), EventQueue.consumer == CONSUMER)
                    .limit(limit)
                )
            )
        )
        tz = zone(session, merchant_id)
    touched: set[date] = set()
    for _id, occurred_at, subject_at in rows:
        touched.add(local_day(occurred_at, tz))
        if subject_at is not None:
            touched.add(local_day(subject_at, tz))
    for day in sorted(touched):
        with db.unit_of_work() as session:
            serialise(session, merchant_id)
            rebuild_day(session, merchant_id, tz, day)
    ids = [r[0] for r in rows] + stray
    with db.unit_of_work() as session:
        for chunk in (ids[i : i + 5000] for i in range(0, len(ids), 5000)):
            session.execute(
                delete(EventQueue).where(
                    owned(EventQueue, merchant_id),
                    EventQueue.consumer == CONSUMER,
                    one_of(db.dialect, EventQueue.event_id, chunk),
                )
            )
    progress.events += len(ids)
    progress.days += len(touched)
    if ids:
        progress.merchants.add(merchant_id)
    return len(ids)


def serialise(session: Session, merchant_id: str) -> None:
    """One rollup writer per merchant at a time: two would replace the same rows at once. On
    PostgreSQL a transaction-scoped advisory lock; SQLite already has a single writer."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"rollup:{merchant_id}"}
        )


def rebuild(db: Database, merchant_id: str) -> int:
    """Rebuild every day of a merchant from its events (repair, or a changed definition);
    returns how many days."""
    with db.unit_of_work() as session:
        serialise(session, merchant_id)
        tz = zone(session, merchant_id)
        for model in (CustomerDay, DailyMetric, FirstSeen, RetentionCell, PeriodActive):
            session.execute(delete(model).where(owned(model, merchant_id)))
        first, last = session.execute(
            select(func.min(Event.occurred_at), func.max(Event.occurred_at)).where(owned(Event, merchant_id))
        ).one()
        if first is None:
            return 0
        day, end = local_day(first, tz), local_day(last, tz)
        count = 0
        while day <= end:
            rebuild_day(session, merchant_id, tz, day)
            day += timedelta(days=1)
            count += 1
        session.execute(
            delete(EventQueue).where(owned(EventQueue, merchant_id), EventQueue.consumer == CONSUMER)
        )
        return count


def rebuild_day(session: Session, merchant_id: str, tz: ZoneInfo, day: date) -> None:
    """Replace every rollup row that depends on the events of local ``day``."""
    start, end = day_bounds(day, tz)
    active = _customer_days(session, merchant_id, day, start, end)
    changed_cohorts, first_days = _first_seen(session, merchant_id, day, active)
    _metrics(session, merchant_id, day, start, end, active=active)
    _retention(session, merchant_id, day, changed_cohorts, first_days)
    _periods(session, merchant_id, day)


def binary(session: Session, column: Any) -> Any:
    """Order by the bytes of a text column (as SQLite and ClickHouse do), not by PostgreSQL's
    locale collation: events at the same moment are ordered by id the same on every engine."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def collapse(letters: list[str]) -> str:
    """A day's path: its events' letters in time order, a run of the same letter kept once
    (a funnel asks only whether steps came in order, which runs do not change)."""
    out: list[str] = []
    for letter in letters:
        if not out or out[-1] != letter:
            out.append(letter)
    return "".join(out)


@dataclass
class _Active:
    letters: list[str] = field(default_factory=list)
    paid_orders: int = 0
    paid_amount: int = 0
    host_app: str | None = None
    scene: str | None = None
    attributed: bool = False


def _customer_days(
    session: Session, merchant_id: str, day: date, start: datetime, end: datetime
) -> dict[str, _Active]:
    rows = session.execute(
        select(Event.customer_id, Event.kind, Event.amount, Event.host_app, Event.scene)
        .where(
            owned(Event, merchant_id),
            Event.occurred_at >= start,
            Event.occurred_at < end,
            Event.customer_id.is_not(None),
        )
        .order_by(Event.customer_id, Event.occurred_at, binary(session, Event.id))
    )
    active: dict[str, _Active] = defaultdict(_Active)
    for customer_id, kind, amount, host_app, scene in rows:
        a = active[str(customer_id)]  # never null here (filtered above)
        a.letters.append(CODES.get(kind, "Z"))
        if kind == EventKind.ORDER_PAID:
            a.paid_orders += 1
            a.paid_amount += amount
        if host_app is not None and not a.attributed:
            a.host_app, a.scene, a.attributed = host_app, scene, True
    session.execute(delete(CustomerDay).where(owned(CustomerDay, merchant_id), CustomerDay.day == day))
    bulk_insert(
        session.connection(),
        CustomerDay.__table__,
        [
            {
                "merchant_id": merchant_id,
                "day": day,
                "customer_id": customer_id,
                "events": len(a.letters),
                "path": collapse(a.letters),
                "paid_orders": a.paid_orders,
                "paid_amount": a.paid_amount,
            }
            for customer_id, a in active.items()
        ],
    )
    return active


def _first_seen(
    session: Session, merchant_id: str, day: date, active: dict[str, _Active]
) -> tuple[set[date], dict[str, date]]:
    """Move customers' first day to ``day`` where it is earlier than what was known; returns
    the cohorts whose membership changed (always ``day`` itself) and the first day of each
    customer active on ``day``."""
    changed = {day}
    first: dict[str, date] = {}
    dialect = session.get_bind().dialect.name
    known: dict[str, tuple[date, str | None, str | None]] = {}
    ids = list(active)
    for chunk in (ids[i : i + 5000] for i in range(0, len(ids), 5000)):
        for customer_id, first_day, host_app, scene in session.execute(
            select(FirstSeen.customer_id, FirstSeen.first_day, FirstSeen.host_app, FirstSeen.scene).where(
                owned(FirstSeen, merchant_id), one_of(dialect, FirstSeen.customer_id, chunk)
            )
        ):
            known[customer_id] = (first_day, host_app, scene)
    new_rows = []
    for customer_id, a in active.items():
        seen = known.get(customer_id)
        first[customer_id] = day if seen is None or seen[0] > day else seen[0]
        if seen is None:
            new_rows.append(
                {
                    "merchant_id": merchant_id,
                    "customer_id": customer_id,
                    "first_day": day,
                    "host_app": a.host_app,
                    "scene": a.scene,
                }
            )
        elif seen[0] > day or (seen[0] == day and seen[1:] != (a.host_app, a.scene)):
            changed.add(seen[0])
            session.execute(
                update(FirstSeen)
                .where(owned(FirstSeen, merchant_id), FirstSeen.customer_id == customer_id)
                .values(first_day=day, host_app=a.host_app, scene=a.scene)
            )
    bulk_insert(session.connection(), FirstSeen.__table__, new_rows)
    return changed, first


def reached(path: str, letters: str) -> int:
    """How many of the steps ``letters`` a day's path reached in order (a subsequence)."""
    n = 0
    for letter in path:
        if n < len(letters) and letter == letters[n]:
            n += 1
    return n


def _metrics(
    session: Session,
    merchant_id: str,
    day: date,
    start: datetime,
    end: datetime,
    *,
    active: dict[str, _Active],
) -> None:
    values: dict[tuple[str, str, str], int] = defaultdict(int)

    def add(metric: str, dim: str, key: str | None, value: int) -> None:
        values[(metric, dim, key or "")] += value

    dims = (Event.kind, Event.store_id, Event.host_app, Event.guide_id, Event.ref)
    sums = (func.count(), func.coalesce(func.sum(Event.amount), 0), func.coalesce(func.sum(Event.benefit), 0))
    happened = session.execute(
        select(*dims, *sums)
        .where(owned(Event, merchant_id), Event.occurred_at >= start, Event.occurred_at < end)
        .group_by(*dims)
    )
    for kind, store_id, host_app, guide_id, ref, count, amount, benefit in happened:
        add("events", "kind", kind, count)
        add_happened(add, kind, store_id, host_app, guide_id, ref, count, int(amount), int(benefit))
    attributed = session.execute(
        select(*dims, *sums)
        .where(
            owned(Event, merchant_id),
            Event.subject_at >= start,
            Event.subject_at < end,
            Event.kind.in_(ATTRIBUTED),
        )
        .group_by(*dims)
    )
    for kind, store_id, host_app, guide_id, ref, count, amount, _benefit in attributed:
        add_attributed(add, kind, store_id, host_app, guide_id, ref, count, int(amount))
    if active:
        add("active", "all", "", len(active))
    # The default funnel's journeys (a customer's day) that reached each step, so the home
    # dashboard reads a few rows; other funnels are asked of the customers' days.
    for a in active.values():
        for step in range(1, reached(collapse(a.letters), DEFAULT_LETTERS) + 1):
            add("journeys", "funnel", str(step), 1)
    session.execute(delete(DailyMetric).where(owned(DailyMetric, merchant_id), DailyMetric.day == day))
    bulk_insert(
        session.connection(),
        DailyMetric.__table__,
        [
            {"merchant_id": merchant_id, "day": day, "metric": m, "dim": d, "key": k, "value": v}
            for (m, d, k), v in values.items()
        ],
    )


def add_happened(
    add: Any, kind: str, store_id, host_app, guide_id, ref, count: int, amount: int, benefit: int
):
    """The metrics an event adds to the day it happened on."""
    if kind == EventKind.ORDER_PAID:
        for dim, key in (("all", ""), ("store", store_id), ("host_app", host_app), ("guide", guide_id)):
            add("gmv", dim, key, amount)
            add("orders", dim, key, count)
        add("discount", "all", "", benefit)
    elif kind == EventKind.COUPON_CLAIMED:
        add("claimed", "template", ref, count)
    elif kind == EventKind.LIGHT_JOINED:
        add("light_joined", "plan", ref, count)
    elif kind == EventKind.LIGHT_SETTLED:
        add("light_settled", "outcome", ref, count)
        add("light_charged", "all", "", amount)
        add("light_enjoyed", "all", "", benefit)
    elif kind == EventKind.LIGHT_OVERDUE:
        add("light_overdue", "all", "", count)
        add("light_owed", "all", "", amount)
    elif kind == EventKind.COMMISSION_CREATED:
        add("commission", "guide", guide_id, amount)
    elif kind == EventKind.COMMISSION_SETTLED:
        add("commission_settled", "guide", guide_id, amount)
    elif kind == EventKind.GUIDE_BOUND:
        add("bound", "guide", guide_id, count)


def add_attributed(add: Any, kind: str, store_id, host_app, guide_id, ref, count: int, amount: int):
    """The metrics an event adds to the day its subject began."""
    if kind == EventKind.REFUND:
        for dim, key in (("all", ""), ("store", store_id), ("host_app", host_app), ("guide", guide_id)):
            add("refunds", dim, key, amount)
            add("refund_count", dim, key, count)
    elif kind in (EventKind.COUPON_USED, EventKind.COUPON_VERIFIED):
        add("coupon_used", "template", ref, count)
    elif kind == EventKind.COUPON_EXPIRED:
        add("coupon_expired", "template", ref, count)


def _retention(
    session: Session, merchant_id: str, day: date, changed: set[date], first_days: dict[str, date]
) -> None:
    """The cells this day completes, counted from the day's customers and their first days
    (in hand: no join for the planner to get wrong on freshly filled tables), and the whole
    row of each cohort whose membership changed."""
    dialect = session.get_bind().dialect.name
    cells: list[dict[str, Any]] = []
    for cohort in sorted(changed):
        session.execute(
            delete(RetentionCell).where(owned(RetentionCell, merchant_id), RetentionCell.cohort_day == cohort)
        )
        members = list(
            session.scalars(
                select(FirstSeen.customer_id).where(
                    owned(FirstSeen, merchant_id), FirstSeen.first_day == cohort
                )
            )
        )
        counts: dict[date, int] = defaultdict(int)
        for chunk in (members[i : i + 5000] for i in range(0, len(members), 5000)):
            for active_day, customers in session.execute(
                select(CustomerDay.day, func.count())
                .where(
                    owned(CustomerDay, merchant_id),
                    one_of(dialect, CustomerDay.customer_id, chunk),
                    CustomerDay.day >= cohort,
                    CustomerDay.day <= cohort + timedelta(days=MAX_OFFSET),
                )
                .group_by(CustomerDay.day)
            ):
                counts[active_day] += customers
        cells += [_cell(merchant_id, cohort, (d - cohort).days, n) for d, n in counts.items()]
    # The cells this day completes for the other cohorts of the last 30 days.
    others = [day - timedelta(days=k) for k in range(1, MAX_OFFSET + 1)]
    others = [c for c in others if c not in changed]
    if others:
        session.execute(
            delete(RetentionCell).where(
                owned(RetentionCell, merchant_id),
                or_(
                    *[
                        and_(RetentionCell.cohort_day == c, RetentionCell.days_after == (day - c).days)
                        for c in others
                    ]
                ),
            )
        )
    completed: dict[date, int] = defaultdict(int)
    for first_day in first_days.values():
        if first_day in others:
            completed[first_day] += 1
    cells += [_cell(merchant_id, cohort, (day - cohort).days, n) for cohort, n in completed.items()]
    bulk_insert(session.connection(), RetentionCell.__table__, cells)


def _cell(merchant_id: str, cohort: date, offset: int, customers: int) -> dict[str, Any]:
    return {"merchant_id": merchant_id, "cohort_day": cohort, "days_after": offset, "customers": customers}


def _periods(session: Session, merchant_id: str, day: date) -> None:
    for grain, start in (("week", week_start(day)), ("month", month_start(day))):
        customers = session.scalar(
            select(func.count(func.distinct(CustomerDay.customer_id))).where(
                owned(CustomerDay, merchant_id),
                CustomerDay.day >= start,
                CustomerDay.day < next_period(start, grain),
            )
        )
        session.execute(
            delete(PeriodActive).where(
                owned(PeriodActive, merchant_id), PeriodActive.grain == grain, PeriodActive.start == start
            )
        )
        if customers:
            session.add(PeriodActive(merchant_id=merchant_id, grain=grain, start=start, customers=customers))
    session.flush()
