"""What an order's life does to membership: one entry point per moment (paid, refunded,
cancelled) so checkout and payments need not know the parts (tiers, points, light)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, literal, select
from sqlalchemy.orm import Session

from shoplet.db import written_in
from shoplet.membership import light, points, tiers
from shoplet.membership.models import LightMembership, LightPlan, LightStatus, Member, Tier
from shoplet.scoping import owned


@dataclass(frozen=True)
class LightTerms:
    """The light membership a customer enjoys now, as pricing needs it."""

    membership_id: str
    period_no: int
    prices: bool  # the plan grants the SKUs' light-member prices
    percent_off: int | None


@dataclass(frozen=True)
class PricingTerms:
    """The membership facts the pricing engine needs for one customer now."""

    member: bool  # member prices apply
    free_delivery: bool  # the tier waives delivery fees
    light: LightTerms | None
    points: dict[str, int] | None  # the engine's points input (balance, value, share), when spending


# The customer's membership facts in one statement, built once: the member and its tier,
# the light membership that is not over and its plan (each a LEFT JOIN on a key: none of
# them may exist). Checkout adds what else it reads per customer (see orders.basket).
TERMS = (
    select(
        Member.customer_id.label("member"),
        Member.tier,
        Member.points_balance,
        Tier.code.label("tier_code"),
        Tier.member_price,
        Tier.free_delivery,
        LightMembership.id.label("light_id"),
        LightMembership.status.label("light_status"),
        LightMembership.period_no,
        LightMembership.period_start,
        LightMembership.period_end,
        LightPlan.light_member_prices,
        LightPlan.percent_off,
    )
    .select_from(select(literal(1).label("one")).subquery("one"))  # a row whatever joins
    .outerjoin(Member, owned(Member, bindparam("m")) & (Member.customer_id == bindparam("c")))
    .outerjoin(Tier, owned(Tier, bindparam("m")) & (Tier.code == Member.tier))
    .outerjoin(
        LightMembership,
        owned(LightMembership, bindparam("m"))
        & (LightMembership.customer_id == bindparam("c"))
        # the statuses written into the statement (see db.written_in)
        & written_in(LightMembership.status, (LightStatus.ACTIVE, LightStatus.SETTLING, LightStatus.OVERDUE)),
    )  # one at most (uq_light_memberships_current)
    .outerjoin(LightPlan, owned(LightPlan, bindparam("m")) & (LightPlan.id == LightMembership.plan_id))
)


def terms_of(
    session: Session, found: Any, *, merchant_id: str, now: datetime, use_points: bool
) -> PricingTerms:
    """The membership facts the pricing engine needs for this customer now, from their row of
    :data:`TERMS` (or of a statement extending it, as checkout's does)."""
    member = found.member is not None
    # no tier row: the implicit base tier (member price, no free delivery)
    member_price = found.tier_code is None or bool(found.member_price)
    enjoyed = None
    if (
        found.light_id is not None
        and found.light_status == LightStatus.ACTIVE
        and found.period_start <= now < found.period_end
    ):
        enjoyed = LightTerms(
            membership_id=found.light_id,
            period_no=found.period_no,
            prices=bool(found.light_member_prices),
            percent_off=found.percent_off,
        )
    spendable = None
    if use_points and member and found.points_balance > 0:
        settings = points.settings_of(session, merchant_id)
        spendable = {
            "balance": found.points_balance,
            "value_per_point": settings.value_per_point,
            "max_share_percent": settings.max_share_percent,
        }
    return PricingTerms(
        member=member and member_price,
        free_delivery=bool(member and found.tier_code is not None and found.free_delivery),
        light=enjoyed,
        points=spendable,
    )


def on_paid(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    paid: int,
    light_savings: int,
    placed_at: datetime,
    now: datetime,
) -> None:
    member = session.get(Member, (merchant_id, customer_id), populate_existing=True)
    if member is None:
        return
    tier = tiers.benefits_of(session, merchant_id, member.tier)
    multiplier = tier.points_multiplier if tier else 100  # the tier the order was paid in
    tiers.earn_for_order(
        session, merchant_id=merchant_id, customer_id=customer_id, order_id=order_id, paid=paid, now=now
    )
    points.earn_for_order(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        order_id=order_id,
        paid=paid,
        multiplier=multiplier,
        now=now,
    )
    light.record_enjoyed(
        session,
        merchant_id=merchant_id,
        order_id=order_id,
        customer_id=customer_id,
        amount=light_savings,
        placed_at=placed_at,
        now=now,
    )


def on_refund(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    refunded: int,
    paid: int,
    full: bool,
    now: datetime,
) -> None:
    """``refunded`` is the order's refunded total after this refund (cumulative)."""
    kwargs: dict[str, Any] = dict(
        merchant_id=merchant_id,
        customer_id=customer_id,
        order_id=order_id,
        refunded=refunded,
        paid=paid,
        full=full,
        now=now,
    )
    tiers.on_refund(session, **kwargs)
    points.on_refund(session, **kwargs)
    light.reverse_enjoyed(
        session, merchant_id=merchant_id, order_id=order_id, refunded=paid if full else refunded, paid=paid
    )


def on_cancel(session: Session, *, merchant_id: str, customer_id: str, order_id: str, now: datetime) -> None:
    points.on_cancel(session, merchant_id=merchant_id, customer_id=customer_id, order_id=order_id, now=now)
