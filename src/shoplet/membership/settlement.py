"""Light membership settlement: close due periods, charge min(fee, enjoyed)
through the deduction agreement, retry failures on a schedule, then mark overdue.

It is a batch that survives being killed anywhere:

1. *Close*: due active memberships become ``settling`` and each gets one
   :class:`LightSettlement` for its period (a unique key: one per period), with the amount
   fixed from ``enjoyed`` as read by the same UPDATE — one transaction per chunk.
2. *Charge*: due settlements are sent to the provider with their own id as the request
   number. The provider answers a number it already charged with "succeeded" and charges
   nothing, so a run killed after the provider charged and before the outcome was written
   simply asks again and records the answer. Outcomes are written one transaction per chunk.

So nothing is charged twice (one number per period, idempotent at the provider) and
nothing is skipped (a closed period stays ``pending`` until an outcome is recorded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.db import Database, bulk_insert, new_id, number, pairs_in, written_in
from shoplet.events import EventKind, Fact
from shoplet.membership.agreements import AgreementProvider, ChargeRequest
from shoplet.membership.models import (
    LightMembership,
    LightPlan,
    LightSettlement,
    LightStatus,
    PlanStatus,
    SettlementStatus,
)
from shoplet.membership.service import emit_pack
from shoplet.scoping import owned, same_tenant

# A failed deduction is retried 1 h after the first failure, 24 h after the second and
# 72 h after the third; a fourth failure makes the membership overdue.
RETRY_DELAYS = (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72))


@dataclass
class Progress:
    closed: int = 0
    charged: int = 0
    closed_free: int = 0
    failed: int = 0
    overdue: int = 0

    @property
    def settled(self) -> int:
        return self.charged + self.closed_free + self.overdue

    def add(self, other: Progress) -> None:
        self.closed += other.closed
        self.charged += other.charged
        self.closed_free += other.closed_free
        self.failed += other.failed
        self.overdue += other.overdue


def _settlement_rows(rows, reason: str, now: datetime, status: str = "pending") -> list[dict]:
    return [
        {
            "merchant_id": r.merchant_id,
            "id": new_id("lst"),
            "membership_id": r.id,
            "customer_id": r.customer_id,
            "period_no": r.period_no,
            "fee": r.fee,
            "enjoyed": r.enjoyed,
            "amount": min(r.fee, r.enjoyed),
            "reason": reason,
            "status": status,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
            "charged_at": now if status == "closed" else None,
        }
        for r in rows
    ]


def _closing(where, reason: str, values: dict | None = None):
    return (
        update(LightMembership)
        .where(*where, LightMembership.status == LightStatus.ACTIVE)
        .values(**(values or {"status": "settling"}), end_reason=reason)
        .returning(
            LightMembership.merchant_id,
            LightMembership.id,
            LightMembership.customer_id,
            LightMembership.period_no,
            LightMembership.fee,
            LightMembership.enjoyed,
        )
        .execution_options(synchronize_session=False)
    )


def close_period(session: Session, membership: LightMembership, *, reason: str, now: datetime) -> bool:
    """Close one membership's current period now (a cancellation); False if not active."""
    rows = session.execute(
        _closing(
            (
                owned(LightMembership, membership.merchant_id),
                LightMembership.id == membership.id,
                LightMembership.period_no == membership.period_no,
            ),
            reason,
        )
    ).all()
    if not rows:
        return False
    bulk_insert(session.connection(), LightSettlement.__table__, _settlement_rows(rows, reason, now))
    return True


# The conditions of the partial indexes over what is due, with the statuses written into the
# SQL (not bound): SQLite, and PostgreSQL's generic plans of prepared statements, use a
# partial index only when the query's condition is the index's own.
RUNNING = LightMembership.status == literal_column("'active'")
TO_CHARGE = written_in(LightSettlement.status, ("pending", "retrying"))


def close_due(db: Database, *, now: datetime, chunk: int) -> tuple[int, int, list[tuple[str, str]]]:
    """Close up to ``chunk`` periods that ended by ``now``; returns how many, how many of
    them owed nothing and ended at once, and the keys of the settlements written to charge."""
    with db.unit_of_work() as session:
        due = (
            select(LightMembership.merchant_id, LightMembership.id)
            .where(RUNNING, LightMembership.period_end <= now)
            .order_by(LightMembership.period_end, LightMembership.id)
            .limit(chunk)
            # PostgreSQL: the chunk's rows stay as read until the UPDATEs below (a parallel
            # settler takes the next ones), so those go by key alone — primary-key probes
            # whatever the statistics say. SQLite's single writer holds them anyway.
            .with_for_update(skip_locked=True)
        )
        keys = session.execute(due).all()
        if not keys:
            return 0, 0, []
        connection = session.connection()
        due_now = (_among(session, LightMembership, keys),)
        # Owing nothing and not renewing: the period closes and the membership ends in one go,
        # with no charge to make (the settlement row still records the closed period).
        free = connection.execute(
            _closing(
                (*due_now, LightMembership.enjoyed == 0, LightMembership.auto_renew.is_(False)),
                "period_end",
                {"status": "ended", "ended_at": now},
            )
        ).all()
        rows = connection.execute(_closing(due_now, "period_end")).all()
        to_charge = _settlement_rows(rows, "period_end", now)
        bulk_insert(
            connection,
            LightSettlement.__table__,
            _settlement_rows(free, "period_end", now, "closed") + to_charge,
        )
        return len(free) + len(rows), len(free), [(r["merchant_id"], r["id"]) for r in to_charge]


def due_settlements(session: Session, *, now: datetime, chunk: int, ids: list[tuple[str, str]] | None = None):
    stmt = select(
        LightSettlement.merchant_id,
        LightSettlement.id,
        LightSettlement.membership_id,
        LightSettlement.amount,
        LightSettlement.attempts,
        LightSettlement.created_at,
        LightSettlement.reason,
        LightSettlement.customer_id,
        LightSettlement.enjoyed,
        LightMembership.agreement_no,
    ).join(
        LightMembership,
        (same_tenant(LightMembership, LightSettlement))
        & (LightMembership.id == LightSettlement.membership_id),
    )
    if ids is not None:
        return session.execute(stmt.where(_among(session, LightSettlement, ids))).all()
    return session.execute(
        stmt.where(TO_CHARGE, LightSettlement.next_attempt_at <= now)
        .order_by(LightSettlement.next_attempt_at, LightSettlement.id)
        .limit(chunk)
    ).all()


def _keys(rows, column: str = "id") -> list[tuple[str, str]]:
    return [(r.merchant_id, getattr(r, column)) for r in rows]


def _among(session: Session, model: Any, keys: Sequence[Any]) -> Any:
    """``(merchant_id, id) IN keys``, fast for thousands of keys on both databases."""
    return pairs_in(session.get_bind().dialect.name, model.merchant_id, model.id, keys)


def _record(session: Session, rows, now: datetime, **values) -> None:
    """Write one outcome for a group of settlements in one statement. Only rows still owed
    move, and only from the attempt count they were read with: a concurrent settler that
    recorded first wins, and the second changes nothing."""
    if not rows:
        return
    seen = {r.attempts for r in rows}
    assert len(seen) == 1, "groups share their attempt count"
    session.connection().execute(
        update(LightSettlement)
        .where(
            _among(session, LightSettlement, _keys(rows)),
            LightSettlement.attempts == seen.pop(),
            LightSettlement.status.in_(
                (SettlementStatus.PENDING, SettlementStatus.RETRYING, SettlementStatus.OVERDUE)
            ),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def charge(db: Database, provider: AgreementProvider, rows, *, now: datetime, progress: Progress) -> None:
    """Charge these settlements and record every outcome in one transaction, a statement per
    kind of outcome (charged, owed nothing, failed after n attempts)."""
    to_charge = [r for r in rows if r.amount > 0]
    answers = {}
    if to_charge:
        results = provider.charge_agreements(
            [
                ChargeRequest(
                    merchant_id=r.merchant_id,
                    agreement_no=r.agreement_no,
                    out_request_no=r.id,
                    amount=r.amount,
                )
                for r in to_charge
            ]
        )
        answers = {r.id: a for r, a in zip(to_charge, results, strict=True)}
    free = [r for r in rows if r.amount == 0]
    paid = [r for r in to_charge if answers[r.id].succeeded]
    failed: dict[int, list] = {}
    for r in to_charge:
        if not answers[r.id].succeeded:
            failed.setdefault(r.attempts, []).append(r)
    progress.charged += len(paid)
    progress.closed_free += len(free)
    overdue = []
    with db.unit_of_work() as session:
        for group in _by_attempts(free):
            _record(session, group, now, status="closed", charged_at=now, last_error=None)
        for group in _by_attempts(paid):
            _record(
                session,
                group,
                now,
                status="charged",
                attempts=group[0].attempts + 1,
                charged_at=now,
                last_error=None,
            )
        for seen, group in failed.items():
            progress.failed += len(group)
            error = answers[group[0].id].message[:200] or "declined"
            if seen + 1 > len(RETRY_DELAYS):
                overdue.extend(group)
                _record(session, group, now, status="overdue", attempts=seen + 1, last_error=error)
            else:
                _record(
                    session,
                    group,
                    now,
                    status="retrying",
                    attempts=seen + 1,
                    next_attempt_at=now + RETRY_DELAYS[seen],
                    last_error=error,
                )
        progress.overdue += len(overdue)
        if overdue:
            session.connection().execute(
                update(LightMembership)
                .where(_among(session, LightMembership, _keys(overdue, "membership_id")))
                .values(status="overdue")
                .execution_options(synchronize_session=False)
            )
        if free or paid:
            _finish(session, free + paid, now)
        _record_events(session, free=free, paid=paid, overdue=overdue, now=now)


def _record_events(session: Session, *, free, paid, overdue, now: datetime) -> None:
    """A settled period (charged or owed nothing) and a period gone overdue, as events: the
    amount charged (or owed), and what the member enjoyed against the fee."""
    outcomes = [(r, EventKind.LIGHT_SETTLED, "free") for r in free]
    outcomes += [(r, EventKind.LIGHT_SETTLED, "charged") for r in paid]
    outcomes += [(r, EventKind.LIGHT_OVERDUE, "overdue") for r in overdue]
    by_merchant: dict[str, list[Fact]] = {}
    for r, kind, outcome in outcomes:
        by_merchant.setdefault(r.merchant_id, []).append(
            Fact(
                kind=kind,
                occurred_at=now,
                id=f"{kind}:{r.id}",
                customer_id=r.customer_id,
                subject_id=r.membership_id,
                ref=outcome,
                amount=r.amount,
                benefit=r.enjoyed,
            )
        )
    for merchant_id, facts in by_merchant.items():
        events.record_many(session, merchant_id, facts)


def _by_attempts(rows) -> list[list]:
    groups: dict[int, list] = {}
    for r in rows:
        groups.setdefault(r.attempts, []).append(r)
    return list(groups.values())


def _finish(session: Session, rows, now: datetime) -> None:
    """A period is paid (or owed nothing): renew where the customer asked and the plan is
    still open, otherwise end the membership — a statement per plan renewed, one to end."""
    keys = _keys(rows, "membership_id")
    candidates = session.execute(
        select(
            LightMembership.merchant_id,
            LightMembership.id,
            LightMembership.plan_id,
            LightMembership.customer_id,
        ).where(
            _among(session, LightMembership, keys),
            LightMembership.status == LightStatus.SETTLING,
            LightMembership.auto_renew.is_(True),
            LightMembership.end_reason == "period_end",
        )
    ).all()
    by_plan: dict[tuple[str, str], list] = {}
    for c in candidates:
        by_plan.setdefault((c.merchant_id, c.plan_id), []).append(c)
    renewing: set[tuple[str, str]] = set()
    for (merchant_id, plan_id), group in by_plan.items():
        plan = session.get_one(LightPlan, (merchant_id, plan_id))
        if plan.status != PlanStatus.ACTIVE:
            continue
        # Benefits paused while the period settled: the new one starts now, at the plan's current terms.
        session.connection().execute(
            update(LightMembership)
            .where(
                _among(session, LightMembership, _keys(group)), LightMembership.status == LightStatus.SETTLING
            )
            .values(
                period_no=LightMembership.period_no + 1,
                period_start=now,
                period_end=now + timedelta(days=plan.period_days),
                fee=plan.fee,
                period_days=plan.period_days,
                enjoyed=0,
                status="active",
                end_reason=None,
            )
            .execution_options(synchronize_session=False)
        )
        if plan.coupon_template_ids:
            for c in group:
                number = session.scalar(
                    select(LightMembership.period_no).where(
                        owned(LightMembership, merchant_id), LightMembership.id == c.id
                    )
                )
                emit_pack(
                    session,
                    merchant_id=merchant_id,
                    customer_id=c.customer_id,
                    template_ids=plan.coupon_template_ids,
                    key=f"light:{c.id}:{number}",
                    now=now,
                )
        renewing.update(_keys(group))
    ending = [k for k in keys if k not in renewing]
    if ending:
        session.connection().execute(
            update(LightMembership)
            .where(
                _among(session, LightMembership, ending),
                LightMembership.status.in_((LightStatus.SETTLING, LightStatus.OVERDUE)),
            )
            .values(status="ended", ended_at=now)
            .execution_options(synchronize_session=False)
        )


def due_count(db: Database, *, now: datetime) -> int:
    with db.unit_of_work(write=False) as session:
        closing = number(
            session,
            select(func.count())
            .select_from(LightMembership)
            .where(RUNNING, LightMembership.period_end <= now),
        )
        charging = number(
            session,
            select(func.count())
            .select_from(LightSettlement)
            .where(TO_CHARGE, LightSettlement.next_attempt_at <= now),
        )
        return closing + charging


def settle(
    db: Database,
    provider: AgreementProvider,
    *,
    now: datetime,
    chunk: int | None = None,
    on_chunk: Callable[[Progress], None] | None = None,
    workers: int = 1,
) -> Progress:
    """Close every due period, then charge every due settlement, chunk by chunk.

    ``workers`` > 1 (PostgreSQL): that many threads close and charge chunks side by side —
    each close takes the next due memberships no other holds (``SKIP LOCKED``) and charges
    what it closed, by key — so one worker's Python runs while another's statements run in
    the database. The search for due settlements (retries, and what a killed run closed but
    did not charge) then runs in one thread."""
    chunk = chunk or (5000 if db.dialect == "postgresql" else 1000)
    progress = Progress()
    if workers > 1:
        _close_side_by_side(
            db, provider, now=now, chunk=chunk, workers=workers, progress=progress, on_chunk=on_chunk
        )
    while True:
        closed, ended_free, written = close_due(db, now=now, chunk=chunk)
        progress.closed += closed
        progress.closed_free += ended_free
        with db.unit_of_work(write=False) as session:
            # What was just closed is charged by key; the search for due settlements (retries,
            # and what a killed run closed but did not charge) runs once closing is done.
            rows = (
                due_settlements(session, now=now, chunk=chunk, ids=written)
                if written
                else due_settlements(session, now=now, chunk=chunk)
            )
        if rows:
            charge(db, provider, rows, now=now, progress=progress)
        if on_chunk is not None:
            on_chunk(progress)
        if not closed and not rows:
            return progress


def _close_side_by_side(
    db: Database,
    provider: AgreementProvider,
    *,
    now: datetime,
    chunk: int,
    workers: int,
    progress: Progress,
    on_chunk: Callable[[Progress], None] | None,
) -> None:
    """Threads that each close a chunk and charge it until nothing is due to close; the
    first error stops them all and is raised."""
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not stop.is_set():
                mine = Progress()
                closed, mine.closed_free, written = close_due(db, now=now, chunk=chunk)
                mine.closed = closed
                if written:
                    with db.unit_of_work(write=False) as session:
                        rows = due_settlements(session, now=now, chunk=chunk, ids=written)
                    charge(db, provider, rows, now=now, progress=mine)
                with lock:
                    progress.add(mine)
                    if on_chunk is not None and closed:
                        on_chunk(progress)
                if not closed:
                    return
        except BaseException as exc:  # noqa: BLE001 — handed to the caller's thread
            stop.set()
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=work, name=f"settle-{n}", daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def charge_now(
    db: Database, provider: AgreementProvider, *, merchant_id: str, settlement_id: str, now: datetime
) -> Progress:
    """Charge one settlement at once: a cancellation, or an overdue period the customer
    wants to pay now (after topping up)."""
    progress = Progress()
    with db.unit_of_work(write=False) as session:
        rows = due_settlements(session, now=now, chunk=1, ids=[(merchant_id, settlement_id)])
    if rows:  # an overdue period gets one more attempt; failing again keeps it overdue
        charge(db, provider, rows, now=now, progress=progress)
    return progress
