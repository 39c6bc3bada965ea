"""What an order's life does to membership: one entry point per moment (paid, refunded,
cancelled) so checkout and payments need not know the parts (tiers, points, light)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shoplet.db import row_by_key
from shoplet.membership import light, points, tiers
from shoplet.membership.models import Member


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


def pricing_terms(
    session: Session, *, merchant_id: str, customer_id: str, now: datetime, use_points: bool
) -> PricingTerms:
    """The membership facts the pricing engine needs for this customer now."""
    member = row_by_key(session, Member, (merchant_id, customer_id))  # read only: a row
    tier = tiers.benefits_of(session, merchant_id, member.tier) if member else None
    enjoyed = None
    current = light.enjoying(session, merchant_id, customer_id, now)
    if current is not None:
        membership, plan = current
        enjoyed = LightTerms(
            membership_id=membership.id,
            period_no=membership.period_no,
            prices=bool(plan.light_member_prices),
            percent_off=plan.percent_off,
        )
    spendable = None
    if use_points and member is not None and member.points_balance > 0:
        settings = points.settings_of(session, merchant_id)
        spendable = {
            "balance": member.points_balance,
            "value_per_point": settings.value_per_point,
            "max_share_percent": settings.max_share_percent,
        }
    return PricingTerms(
        member=member is not None and (tier is None or tier.member_price),
        free_delivery=bool(tier and tier.free_delivery),
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
