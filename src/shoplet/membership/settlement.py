"""Light membership settlement (SPEC M3): close due periods, charge min(fee, enjoyed)
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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from shoplet.db import Database, new_id
from shoplet.membership.agreements import AgreementProvider, ChargeRequest
from shoplet.membership.models import LightMembership, LightPlan, LightSettlement
from shoplet.membership.service import emit_pack

# After the period closes: retry at +1 h, +24 h and +72 h; a fourth failure is overdue.
RETRY_OFFSETS = (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72))


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


def _settlement_rows(rows, reason: str, now: datetime) -> list[dict]:
    return [{"merchant_id": r.merchant_id, "id": new_id("lst"), "membership_id": r.id, "customer_id": r.customer_id,
             "period_no": r.period_no, "fee": r.fee, "enjoyed": r.enjoyed, "amount": min(r.fee, r.enjoyed),
             "reason": reason, "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": None,
             "created_at": now, "charged_at": None} for r in rows]


def _closing(where, reason: str):
    return (update(LightMembership).where(*where, LightMembership.status == "active")
            .values(status="settling", end_reason=reason)
            .returning(LightMembership.merchant_id, LightMembership.id, LightMembership.customer_id,
                       LightMembership.period_no, LightMembership.fee, LightMembership.enjoyed)
            .execution_options(synchronize_session=False))


def close_period(session: Session, membership: LightMembership, *, reason: str, now: datetime) -> bool:
    """Close one membership's current period now (a cancellation); False if not active."""
    rows = session.execute(_closing((LightMembership.merchant_id == membership.merchant_id,
                                     LightMembership.id == membership.id,
                                     LightMembership.period_no == membership.period_no), reason)).all()
    if not rows:
        return False
    session.execute(LightSettlement.__table__.insert(), _settlement_rows(rows, reason, now))
    return True


def close_due(db: Database, *, now: datetime, chunk: int) -> int:
    """Close up to ``chunk`` periods that ended by ``now``; returns how many."""
    with db.unit_of_work() as session:
        due = select(LightMembership.merchant_id, LightMembership.id).where(
            LightMembership.status == "active", LightMembership.period_end <= now
        ).order_by(LightMembership.period_end, LightMembership.id).limit(chunk)
        keys = session.execute(due).all()
        if not keys:
            return 0
        rows = session.execute(_closing((tuple_(LightMembership.merchant_id, LightMembership.id).in_(keys),
                                         LightMembership.period_end <= now), "period_end")).all()
        if rows:
            session.execute(LightSettlement.__table__.insert(), _settlement_rows(rows, "period_end", now))
        return len(rows)


def due_settlements(session: Session, *, now: datetime, chunk: int, ids: list[tuple[str, str]] | None = None):
    stmt = (select(LightSettlement.merchant_id, LightSettlement.id, LightSettlement.membership_id,
                   LightSettlement.amount, LightSettlement.attempts, LightSettlement.created_at,
                   LightSettlement.reason, LightMembership.agreement_no)
            .join(LightMembership, (LightMembership.merchant_id == LightSettlement.merchant_id)
                  & (LightMembership.id == LightSettlement.membership_id)))
    if ids is not None:
        return session.execute(stmt.where(tuple_(LightSettlement.merchant_id, LightSettlement.id).in_(ids))).all()
    return session.execute(stmt.where(LightSettlement.status.in_(("pending", "retrying")),
                                      LightSettlement.next_attempt_at <= now)
                           .order_by(LightSettlement.next_attempt_at, LightSettlement.id).limit(chunk)).all()


_RECORD = (update(LightSettlement)
           .where(LightSettlement.merchant_id == bindparam("m"), LightSettlement.id == bindparam("s"),
                  LightSettlement.attempts == bindparam("seen"),
                  # (not IN: an expanding list cannot be executed many times)
                  or_(LightSettlement.status == "pending", LightSettlement.status == "retrying",
                      LightSettlement.status == "overdue"))
           .values(status=bindparam("status"), attempts=bindparam("attempts"),
                   next_attempt_at=bindparam("next_at"), charged_at=bindparam("charged_at"),
                   last_error=bindparam("error"))
           .execution_options(synchronize_session=False))


def charge(db: Database, provider: AgreementProvider, rows, *, now: datetime, progress: Progress) -> None:
    """Charge these settlements and record every outcome in one transaction."""
    to_charge = [r for r in rows if r.amount > 0]
    results = {}
    if to_charge:
        answers = provider.charge_agreements([ChargeRequest(merchant_id=r.merchant_id, agreement_no=r.agreement_no,
                                                            out_request_no=r.id, amount=r.amount)
                                              for r in to_charge])
        results = {r.id: a for r, a in zip(to_charge, answers, strict=True)}
    records, finished, overdue = [], [], []
    for r in rows:
        attempts = r.attempts + (1 if r.amount > 0 else 0)
        answer = results.get(r.id)
        if answer is None or answer.succeeded:
            status = "charged" if answer is not None else "closed"
            records.append({"m": r.merchant_id, "s": r.id, "seen": r.attempts, "status": status,
                            "attempts": attempts, "next_at": now, "charged_at": now, "error": None})
            finished.append(r)
            if status == "charged":
                progress.charged += 1
            else:
                progress.closed_free += 1
            continue
        progress.failed += 1
        if attempts > len(RETRY_OFFSETS):
            records.append({"m": r.merchant_id, "s": r.id, "seen": r.attempts, "status": "overdue",
                            "attempts": attempts, "next_at": now, "charged_at": None, "error": answer.message[:200]})
            overdue.append(r)
            progress.overdue += 1
        else:
            next_at = max(now, r.created_at + RETRY_OFFSETS[attempts - 1])
            records.append({"m": r.merchant_id, "s": r.id, "seen": r.attempts, "status": "retrying",
                            "attempts": attempts, "next_at": next_at, "charged_at": None,
                            "error": answer.message[:200]})
    with db.unit_of_work() as session:
        if records:
            session.connection().execute(_RECORD, records)
        if overdue:
            session.execute(update(LightMembership)
                            .where(tuple_(LightMembership.merchant_id, LightMembership.id).in_(
                                [(r.merchant_id, r.membership_id) for r in overdue]))
                            .values(status="overdue").execution_options(synchronize_session=False))
        if finished:
            _finish(session, finished, now)


def _finish(session: Session, rows, now: datetime) -> None:
    """A period is paid (or owed nothing): renew where the customer asked and the plan is
    still open, otherwise end the membership (one UPDATE for the chunk)."""
    keys = [(r.merchant_id, r.membership_id) for r in rows]
    candidates = session.execute(select(LightMembership.merchant_id, LightMembership.id, LightMembership.plan_id)
                                 .where(tuple_(LightMembership.merchant_id, LightMembership.id).in_(keys),
                                        LightMembership.status == "settling", LightMembership.auto_renew.is_(True),
                                        LightMembership.end_reason == "period_end")).all()
    plans = {}
    if candidates:
        plans = {(p.merchant_id, p.id): p for p in session.scalars(select(LightPlan).where(
            tuple_(LightPlan.merchant_id, LightPlan.id).in_({(c.merchant_id, c.plan_id) for c in candidates})))}
    renewing = set()
    for c in candidates:
        plan = plans[(c.merchant_id, c.plan_id)]
        if plan.status != "active":
            continue
        m = session.get(LightMembership, (c.merchant_id, c.id))
        # Benefits paused while the period settled: the new one starts now, at the plan's current terms.
        m.period_no, m.period_start, m.period_end = m.period_no + 1, now, now + timedelta(days=plan.period_days)
        m.fee, m.period_days, m.enjoyed, m.status, m.end_reason = plan.fee, plan.period_days, 0, "active", None
        emit_pack(session, merchant_id=m.merchant_id, customer_id=m.customer_id,
                  template_ids=plan.coupon_template_ids, key=f"light:{m.id}:{m.period_no}", now=now)
        renewing.add((c.merchant_id, c.id))
    session.flush()
    ending = [k for k in keys if k not in renewing]
    if ending:
        session.execute(update(LightMembership)
                        .where(tuple_(LightMembership.merchant_id, LightMembership.id).in_(ending),
                               LightMembership.status.in_(("settling", "overdue")))
                        .values(status="ended", ended_at=now).execution_options(synchronize_session=False))


def due_count(db: Database, *, now: datetime) -> int:
    with db.unit_of_work(write=False) as session:
        closing = session.scalar(select(func.count()).select_from(LightMembership).where(
            LightMembership.status == "active", LightMembership.period_end <= now))
        charging = session.scalar(select(func.count()).select_from(LightSettlement).where(
            LightSettlement.status.in_(("pending", "retrying")), LightSettlement.next_attempt_at <= now))
        return closing + charging


def settle(db: Database, provider: AgreementProvider, *, now: datetime, chunk: int = 1000,
           on_chunk: Callable[[Progress], None] | None = None) -> Progress:
    """Close every due period, then charge every due settlement, chunk by chunk."""
    progress = Progress()
    while True:
        closed = close_due(db, now=now, chunk=chunk)
        progress.closed += closed
        with db.unit_of_work(write=False) as session:
            rows = due_settlements(session, now=now, chunk=chunk)
        if rows:
            charge(db, provider, rows, now=now, progress=progress)
        if on_chunk is not None:
            on_chunk(progress)
        if not closed and not rows:
            return progress


def charge_now(db: Database, provider: AgreementProvider, *, merchant_id: str, settlement_id: str,
               now: datetime) -> Progress:
    """Charge one settlement at once: a cancellation, or an overdue period the customer
    wants to pay now (after topping up)."""
    progress = Progress()
    with db.unit_of_work(write=False) as session:
        rows = due_settlements(session, now=now, chunk=1, ids=[(merchant_id, settlement_id)])
    if rows:  # an overdue period gets one more attempt; failing again keeps it overdue
        charge(db, provider, rows, now=now, progress=progress)
    return progress
