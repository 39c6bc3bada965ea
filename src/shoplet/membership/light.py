"""Light membership (轻会员, "enjoy first, pay later").

A customer joins a plan without paying: the credit provider must admit them and a
deduction agreement is signed. During the period every paid order adds what the light
benefits saved it (the pricing engine's ``light_member_savings``) to ``enjoyed``; a refund
takes back its share. When the period ends (or the customer cancels) the period is closed
into a :class:`LightSettlement` charging min(fee, enjoyed) — see ``settlement.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.customers.models import Customer
from shoplet.db import Database, changed, new_id
from shoplet.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable, Unprocessable
from shoplet.events import EventKind
from shoplet.membership.agreements import AgreementProvider, CreditProvider
from shoplet.membership.models import (
    LightBenefit,
    LightMembership,
    LightPlan,
    LightSettlement,
    LightStatus,
    PlanStatus,
    SettlementStatus,
)
from shoplet.membership.schemas import LightFiguresOut
from shoplet.membership.service import check_pack, emit_pack
from shoplet.membership.settlement import charge_now, close_period
from shoplet.scoping import get_owned, owned

EDITABLE = (
    "name",
    "light_member_prices",
    "percent_off",
    "coupon_template_ids",
    "min_credit_score",
    "auto_renew_allowed",
)


def create_plan(session: Session, *, merchant_id: str, fields: dict[str, Any], now: datetime) -> LightPlan:
    check_pack(session, merchant_id, fields.get("coupon_template_ids"), "light_plan.unknown_coupon")
    plan = LightPlan(merchant_id=merchant_id, id=new_id("lpl"), status="active", created_at=now, **fields)
    session.add(plan)
    session.flush()
    return plan


def update_plan(session: Session, *, merchant_id: str, plan_id: str, changes: dict[str, Any]) -> LightPlan:
    """Edit a plan. Fee and period are fixed once created (members joined on them): a new
    price is a new plan. Benefits apply to current members from the next order on."""
    check_pack(session, merchant_id, changes.get("coupon_template_ids"), "light_plan.unknown_coupon")
    plan = get_owned(
        session, LightPlan, merchant_id, plan_id, what="Light membership plan", code="light_plan"
    )
    for field, value in changes.items():
        if field not in EDITABLE:
            raise InvalidInput("light_plan.not_editable", f"'{field}' cannot be changed; create a new plan.")
        setattr(plan, field, value)
    session.flush()
    return plan


def close_plan(session: Session, *, merchant_id: str, plan_id: str) -> LightPlan:
    """No new joins; current members keep their period (and are not renewed)."""
    plan = get_owned(
        session, LightPlan, merchant_id, plan_id, what="Light membership plan", code="light_plan"
    )
    plan.status = "closed"
    session.flush()
    return plan


# Built once: joining, coupons and the light-membership pages ask (see current_of).
_CURRENT = select(LightMembership).where(
    owned(LightMembership, bindparam("m")),
    LightMembership.customer_id == bindparam("c"),
    LightMembership.status.in_((LightStatus.ACTIVE, LightStatus.SETTLING, LightStatus.OVERDUE)),
)


def current_of(session: Session, merchant_id: str, customer_id: str) -> LightMembership | None:
    """The customer's light membership that is not over (active, settling or overdue)."""
    return session.scalar(_CURRENT, {"m": merchant_id, "c": customer_id})


def enjoying(
    session: Session, merchant_id: str, customer_id: str, now: datetime
) -> tuple[LightMembership, LightPlan] | None:
    """The membership whose benefits apply to an order placed now, with its plan (checkout
    reads the same in one statement with the rest of its terms: membership.loyalty.TERMS)."""
    membership = current_of(session, merchant_id, customer_id)
    if (
        membership is None
        or membership.status != LightStatus.ACTIVE
        or not (membership.period_start <= now < membership.period_end)
    ):
        return None
    return membership, session.get_one(LightPlan, (merchant_id, membership.plan_id))


def check_join(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    plan_id: str,
    auto_renew: bool,
    credit: CreditProvider,
) -> int:
    """Whether the customer may join the plan now; the credit score when they may."""
    plan = _open_plan(session, merchant_id, plan_id)
    if auto_renew and not plan.auto_renew_allowed:
        raise InvalidInput("light_plan.no_auto_renew", "This plan does not renew automatically.")
    _refuse_current(session, merchant_id, customer_id)
    customer = get_owned(session, Customer, merchant_id, customer_id, what="Customer")
    decision = credit.assess(
        merchant_id=merchant_id,
        customer_id=customer_id,
        tags=list(customer.tags),
        min_score=plan.min_credit_score,
    )
    if not decision.admitted:
        raise Forbidden(
            "light_membership.not_eligible", decision.reason or "You are not eligible for this plan."
        )
    return decision.score


def _open_plan(session: Session, merchant_id: str, plan_id: str) -> LightPlan:
    plan = get_owned(
        session, LightPlan, merchant_id, plan_id, what="Light membership plan", code="light_plan"
    )
    if plan.status != PlanStatus.ACTIVE:
        raise Conflict("light_plan.closed", "This light membership plan is no longer open.")
    return plan


def _refuse_current(session: Session, merchant_id: str, customer_id: str) -> None:
    current = current_of(session, merchant_id, customer_id)
    if current is not None:
        if current.status == LightStatus.OVERDUE:
            raise Conflict(
                "light_membership.overdue",
                "A previous light membership is unpaid; pay it before joining again.",
            )
        raise Conflict("light_membership.already_member", "You already have a light membership here.")


def enrol(
    db: Database,
    *,
    credit: CreditProvider,
    agreements: AgreementProvider | None,
    merchant_id: str,
    customer_id: str,
    plan_id: str,
    auto_renew: bool,
    now: datetime,
) -> LightMembership:
    """The whole join, in the order that keeps money and the provider consistent: check the
    plan and the customer's credit (a read), sign the deduction agreement with the provider
    (outside any transaction: it is another system), then record the membership. A join lost
    to a concurrent one leaves the signed agreement unused (the provider's record shows it)."""
    with db.unit_of_work(write=False) as session:
        score = check_join(
            session,
            merchant_id=merchant_id,
            customer_id=customer_id,
            plan_id=plan_id,
            auto_renew=auto_renew,
            credit=credit,
        )
    if agreements is None:
        raise Unavailable("light_membership.unavailable", "Deduction agreements are not configured.")
    agreement_no = agreements.sign_agreement(
        merchant_id=merchant_id, customer_id=customer_id, plan_id=plan_id
    )
    with db.unit_of_work() as session:
        return join(
            session,
            merchant_id=merchant_id,
            customer_id=customer_id,
            plan_id=plan_id,
            auto_renew=auto_renew,
            agreement_no=agreement_no,
            credit_score=score,
            now=now,
        )


def join(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    plan_id: str,
    auto_renew: bool,
    agreement_no: str,
    credit_score: int,
    now: datetime,
) -> LightMembership:
    """Record the membership once credit admitted the customer and the deduction agreement
    was signed (both outside this transaction: they are calls to other systems). No money moves."""
    plan = _open_plan(session, merchant_id, plan_id)
    _refuse_current(session, merchant_id, customer_id)
    membership = LightMembership(
        merchant_id=merchant_id,
        id=new_id("lms"),
        customer_id=customer_id,
        plan_id=plan.id,
        fee=plan.fee,
        period_days=plan.period_days,
        period_no=1,
        period_start=now,
        period_end=now + timedelta(days=plan.period_days),
        enjoyed=0,
        auto_renew=auto_renew,
        agreement_no=agreement_no,
        credit_score=credit_score,
        status="active",
        joined_at=now,
    )
    try:
        with session.begin_nested():
            session.add(membership)
            session.flush()
    except IntegrityError as exc:  # a concurrent join won the partial unique index
        raise Conflict(
            "light_membership.already_member", "You already have a light membership here."
        ) from exc
    emit_pack(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        template_ids=plan.coupon_template_ids,
        key=f"light:{membership.id}:{membership.period_no}",
        now=now,
    )
    events.record(
        session,
        merchant_id,
        EventKind.LIGHT_JOINED,
        now,
        customer_id=customer_id,
        subject_id=membership.id,
        ref=plan.id,
        amount=plan.fee,
    )
    return membership


def record_enjoyed(
    session: Session,
    *,
    merchant_id: str,
    order_id: str,
    customer_id: str,
    amount: int,
    placed_at: datetime,
    now: datetime,
) -> int:
    """A paid order adds what light membership saved it to the period it was placed in, once."""
    if amount <= 0:
        return 0
    membership = current_of(session, merchant_id, customer_id)
    if (
        membership is None
        or membership.status != LightStatus.ACTIVE
        or not (membership.period_start <= placed_at < membership.period_end)
    ):
        return 0  # the period closed between checkout and payment: its settlement is fixed
    try:
        with session.begin_nested():
            session.add(
                LightBenefit(
                    merchant_id=merchant_id,
                    order_id=order_id,
                    membership_id=membership.id,
                    period_no=membership.period_no,
                    amount=amount,
                    reversed=0,
                    at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return 0  # already recorded for this order
    added = changed(
        session.execute(
            update(LightMembership)
            .where(
                owned(LightMembership, merchant_id),
                LightMembership.id == membership.id,
                LightMembership.period_no == membership.period_no,
                LightMembership.status == LightStatus.ACTIVE,
            )
            .values(enjoyed=LightMembership.enjoyed + amount)
            .execution_options(synchronize_session=False)
        )
    )
    if not added:  # the period was closed concurrently: this order's saving is not in it
        session.execute(
            update(LightBenefit)
            .where(owned(LightBenefit, merchant_id), LightBenefit.order_id == order_id)
            .values(amount=0)
        )
        return 0
    return amount


def reverse_enjoyed(session: Session, *, merchant_id: str, order_id: str, refunded: int, paid: int) -> int:
    """A refund takes back its share of what the order enjoyed (cumulative, so partial
    refunds add up exactly), while the period is still open."""
    benefit = session.get(LightBenefit, (merchant_id, order_id))
    if benefit is None or benefit.amount == 0 or paid <= 0:
        return 0
    target = benefit.amount * min(refunded, paid) // paid
    delta = target - benefit.reversed
    if delta <= 0:
        return 0
    taken = changed(
        session.execute(
            update(LightMembership)
            .where(
                owned(LightMembership, merchant_id),
                LightMembership.id == benefit.membership_id,
                LightMembership.period_no == benefit.period_no,
                LightMembership.status == LightStatus.ACTIVE,
                LightMembership.enjoyed >= delta,
            )
            .values(enjoyed=LightMembership.enjoyed - delta)
            .execution_options(synchronize_session=False)
        )
    )
    if not taken:
        return 0  # the period is settled: its charge stands
    session.execute(
        update(LightBenefit)
        .where(
            owned(LightBenefit, merchant_id),
            LightBenefit.order_id == order_id,
            LightBenefit.reversed == benefit.reversed,
        )
        .values(reversed=target)
    )
    return delta


def cancel(session: Session, *, merchant_id: str, membership_id: str, now: datetime) -> LightMembership:
    """Cancel early: the benefits end now and the period settles at once by the same rule."""
    membership = get_owned(
        session, LightMembership, merchant_id, membership_id, what="Light membership", code="light_membership"
    )
    if membership.status != LightStatus.ACTIVE:
        raise Conflict("light_membership.not_active", "This light membership is not active.")
    if not close_period(session, membership, reason="cancelled", now=now):
        raise Conflict("light_membership.not_active", "This light membership is not active.")
    session.refresh(membership)
    return membership


def to_charge(membership: LightMembership) -> int:
    """What this period would be charged if it ended now: min(fee, enjoyed)."""
    return min(membership.fee, membership.enjoyed)


def figures(session: Session, *, merchant_id: str, plan_id: str | None = None) -> LightFiguresOut:
    """For the merchant: joins, enjoyed against fees, charged, overdue."""
    memberships = select(LightMembership).where(owned(LightMembership, merchant_id))
    settlements = select(LightSettlement).where(owned(LightSettlement, merchant_id))
    if plan_id:
        memberships = memberships.where(LightMembership.plan_id == plan_id)
        settlements = settlements.where(
            LightSettlement.membership_id.in_(
                select(LightMembership.id).where(
                    owned(LightMembership, merchant_id), LightMembership.plan_id == plan_id
                )
            )
        )
    m, st = memberships.subquery(), settlements.subquery()
    by_status: dict[str, int] = dict(
        session.execute(select(m.c.status, func.count()).group_by(m.c.status)).all()
    )
    open_enjoyed, open_fees = session.execute(
        select(func.coalesce(func.sum(m.c.enjoyed), 0), func.coalesce(func.sum(m.c.fee), 0)).where(
            m.c.status == LightStatus.ACTIVE
        )
    ).one()
    rows = session.execute(
        select(
            st.c.status,
            func.count(),
            func.coalesce(func.sum(st.c.amount), 0),
            func.coalesce(func.sum(st.c.enjoyed), 0),
            func.coalesce(func.sum(st.c.fee), 0),
        ).group_by(st.c.status)
    ).all()
    settled = {
        status: {"count": n, "amount": amount, "enjoyed": enjoyed, "fees": fees}
        for status, n, amount, enjoyed, fees in rows
    }
    return LightFiguresOut(
        joins=sum(by_status.values()),
        active=by_status.get("active", 0),
        overdue=by_status.get("overdue", 0),
        ended=by_status.get("ended", 0),
        open_enjoyed=open_enjoyed,
        open_fees=open_fees,
        periods_settled=sum(v["count"] for k, v in settled.items() if k in ("charged", "closed")),
        enjoyed_settled=sum(v["enjoyed"] for v in settled.values()),
        fees_settled=sum(v["fees"] for v in settled.values()),
        charged=settled.get("charged", {}).get("amount", 0),
        overdue_amount=settled.get("overdue", {}).get("amount", 0),
        pending_amount=sum(settled.get(k, {}).get("amount", 0) for k in ("pending", "retrying")),
    )


def settlement_of(session: Session, membership: LightMembership) -> LightSettlement | None:
    return session.scalar(
        select(LightSettlement).where(
            owned(LightSettlement, membership.merchant_id),
            LightSettlement.membership_id == membership.id,
            LightSettlement.period_no == membership.period_no,
        )
    )


def ensure_payable(settlement: LightSettlement | None) -> LightSettlement:
    if settlement is None or settlement.status not in (SettlementStatus.OVERDUE, SettlementStatus.RETRYING):
        raise Unprocessable("light_membership.nothing_due", "Nothing is owed on this light membership.")
    return settlement


def set_auto_renew(session: Session, membership: LightMembership, *, auto_renew: bool) -> LightMembership:
    """Turn renewal on or off for the current period's end (only where the plan allows it)."""
    plan = session.get_one(LightPlan, (membership.merchant_id, membership.plan_id))
    if auto_renew and not plan.auto_renew_allowed:
        raise InvalidInput("light_plan.no_auto_renew", "This plan does not renew automatically.")
    membership.auto_renew = auto_renew
    session.flush()
    return membership


def cancel_and_settle(
    db: Database,
    agreements: AgreementProvider | None,
    *,
    merchant_id: str,
    membership_id: str,
    now: datetime,
    customer_id: str | None = None,
) -> LightMembership:
    """End a membership now (a customer only their own: ``customer_id``) and settle its period
    at once: the books first, then the charge through the agreement outside the transaction.
    Without an agreement provider the settlement sweep charges it when it can."""
    with db.unit_of_work() as session:
        membership = get_owned(
            session,
            LightMembership,
            merchant_id,
            membership_id,
            what="Light membership",
            code="light_membership",
        )
        if customer_id is not None and membership.customer_id != customer_id:
            raise NotFound("light_membership.not_found", "No such light membership.")
        cancel(session, merchant_id=merchant_id, membership_id=membership_id, now=now)
        final = settlement_of(session, membership)
        assert final is not None  # cancelling closes the period with a settlement
        settlement_id = final.id
    if agreements is not None:
        charge_now(db, agreements, merchant_id=merchant_id, settlement_id=settlement_id, now=now)
    with db.unit_of_work(write=False) as session:
        return session.get_one(LightMembership, (merchant_id, membership_id))


def pay_overdue(
    db: Database, agreements: AgreementProvider | None, *, merchant_id: str, customer_id: str, now: datetime
) -> LightMembership:
    """The customer pays an overdue (or retrying) period now through the agreement."""
    with db.unit_of_work(write=False) as session:
        membership = current_of(session, merchant_id, customer_id)
        if membership is None:
            raise NotFound("light_membership.not_found", "You have no light membership.")
        due = ensure_payable(settlement_of(session, membership))
        membership_id, settlement_id = membership.id, due.id
    if agreements is None:
        raise Unavailable("light_membership.unavailable", "Deduction agreements are not configured.")
    charge_now(db, agreements, merchant_id=merchant_id, settlement_id=settlement_id, now=now)
    with db.unit_of_work(write=False) as session:
        return session.get_one(LightMembership, (merchant_id, membership_id))
