"""Members, tiers, points and light membership.

Every balance that can be spent concurrently moves by conditional updates and has a CHECK
as a backstop: a member's points never go below zero, a lot never below empty. Every
movement of points or growth is a ledger row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKeyConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.customers.models import Member as Member  # kept beside the customer; written here
from shoplet.db import Base, TenantMixin


class PointsKind(StrEnum):
    """Why points moved. Stored as these strings."""

    EARN = "earn"
    REVERSE_EARN = "reverse_earn"
    SPEND = "spend"
    RETURN_SPEND = "return_spend"
    EXCHANGE = "exchange"
    EXPIRE = "expire"
    ADJUST = "adjust"


class PlanStatus(StrEnum):
    """A light-membership plan's status. Stored as these strings."""

    ACTIVE = "active"
    CLOSED = "closed"


class LightStatus(StrEnum):
    """A light membership's status. Stored as these strings."""

    ACTIVE = "active"
    SETTLING = "settling"
    OVERDUE = "overdue"
    ENDED = "ended"


class SettlementStatus(StrEnum):
    """A light-membership settlement's status. Stored as these strings."""

    PENDING = "pending"
    RETRYING = "retrying"
    CHARGED = "charged"
    CLOSED = "closed"
    OVERDUE = "overdue"


class LoyaltySettings(Base):
    """A merchant's loyalty parameters (defaults apply until set)."""

    __tablename__ = "loyalty_settings"
    __table_args__ = (
        CheckConstraint("points_per_yuan >= 0 AND growth_per_yuan >= 0", name="rates"),
        CheckConstraint("value_per_point >= 1", name="value_per_point"),
        CheckConstraint("max_share_percent BETWEEN 0 AND 100", name="max_share"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    points_per_yuan: Mapped[int] = mapped_column(default=1)
    growth_per_yuan: Mapped[int] = mapped_column(default=1)
    value_per_point: Mapped[int] = mapped_column(default=1)  # fen one point pays at checkout
    max_share_percent: Mapped[int] = mapped_column(default=50)  # of the goods after coupons
    updated_at: Mapped[datetime | None] = mapped_column()


class Tier(TenantMixin, Base):
    """A member tier reached at ``threshold`` growth, with its benefits."""

    __tablename__ = "member_tiers"
    __table_args__ = (
        Index("uq_member_tiers_code", "merchant_id", "code", unique=True),
        CheckConstraint("threshold >= 0", name="threshold"),
        CheckConstraint("points_multiplier >= 0", name="points_multiplier"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[int] = mapped_column()
    member_price: Mapped[bool] = mapped_column(default=True)
    points_multiplier: Mapped[int] = mapped_column(default=100)  # percent: 150 = 1.5x points
    free_delivery: Mapped[bool] = mapped_column(default=False)
    coupon_template_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # the pack on reaching it
    created_at: Mapped[datetime] = mapped_column()


class TierChange(TenantMixin, Base):
    __tablename__ = "member_tier_changes"
    __table_args__ = (Index("ix_member_tier_changes_customer", "merchant_id", "customer_id"),)

    customer_id: Mapped[str] = mapped_column(String(32))
    from_tier: Mapped[str] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    growth: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()


class GrowthEntry(TenantMixin, Base):
    """One movement of growth value: earned on an order's payment, reversed on its refund."""

    __tablename__ = "growth_entries"
    __table_args__ = (
        Index("ix_growth_entries_order", "merchant_id", "order_id"),
        Index("ix_growth_entries_customer", "merchant_id", "customer_id"),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # earn | reverse
    delta: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column()


class PointsLot(TenantMixin, Base):
    """Points earned together, expiring together; spending takes the soonest-expiring first."""

    __tablename__ = "points_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining"),
        Index("ix_points_lots_customer", "merchant_id", "customer_id", "expires_at"),
        Index("ix_points_lots_expiry", "expires_at"),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(String(32))
    earned_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()


class PointsEntry(TenantMixin, Base):
    """One movement of points (the ledger). ``delta`` is signed; ``balance_after`` is the
    member's balance once it applied."""

    __tablename__ = "points_entries"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('earn','reverse_earn','spend','return_spend','exchange','expire','adjust')", name="kind"
        ),
        Index("ix_points_entries_customer", "merchant_id", "customer_id"),
        Index("ix_points_entries_order", "merchant_id", "order_id"),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    lot_id: Mapped[str | None] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column()


class LightPlan(TenantMixin, Base):
    """A light membership plan (轻会员): join free, enjoy, pay min(fee, enjoyed) at the end."""

    __tablename__ = "light_plans"
    __table_args__ = (
        CheckConstraint("fee > 0", name="fee"),
        CheckConstraint("period_days > 0", name="period_days"),
        CheckConstraint("percent_off BETWEEN 0 AND 100", name="percent_off"),
        CheckConstraint("status IN ('active','closed')", name="status"),
    )

    name: Mapped[str] = mapped_column(String(200))
    fee: Mapped[int] = mapped_column()
    period_days: Mapped[int] = mapped_column()
    light_member_prices: Mapped[bool] = mapped_column(default=True)  # the SKUs' light-member prices
    percent_off: Mapped[int] = mapped_column(default=0)  # off every list price, as an item-level price
    coupon_template_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # pack issued on joining
    min_credit_score: Mapped[int] = mapped_column(default=0)
    auto_renew_allowed: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column()


# A customer has at most one light membership that is not over: the partial unique index
# makes "one active per customer per merchant" a constraint, and overdue counts as not over.
CURRENT = "status IN ('active','settling','overdue')"


class LightMembership(TenantMixin, Base):
    """A customer's light membership. ``enjoyed`` is what its benefits saved in the current
    period; the period's charge is min(fee, enjoyed), made once by settlement."""

    __tablename__ = "light_memberships"
    __table_args__ = (
        CheckConstraint("status IN ('active','settling','overdue','ended')", name="status"),
        CheckConstraint("enjoyed >= 0", name="enjoyed"),
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        ForeignKeyConstraint(["merchant_id", "plan_id"], ["light_plans.merchant_id", "light_plans.id"]),
        Index(
            "uq_light_memberships_current",
            "merchant_id",
            "customer_id",
            unique=True,
            sqlite_where=text(CURRENT),
            postgresql_where=text(CURRENT),
        ),
        # Only the periods still running: what close_due looks for, in its order. Rows that
        # are settling or ended are not in it, so no plan can walk them through this index
        # however stale the statistics are (the planner once hash-joined over a status index).
        Index(
            "ix_light_memberships_due",
            "period_end",
            "id",
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_light_memberships_customer", "merchant_id", "customer_id"),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    plan_id: Mapped[str] = mapped_column(String(32))
    fee: Mapped[int] = mapped_column()  # the plan's fee when the period began
    period_days: Mapped[int] = mapped_column()
    period_no: Mapped[int] = mapped_column(default=1)
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    enjoyed: Mapped[int] = mapped_column(BigInteger, default=0)  # sums a whole period's orders
    auto_renew: Mapped[bool] = mapped_column(default=False)
    agreement_no: Mapped[str] = mapped_column(String(64))
    credit_score: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")
    end_reason: Mapped[str | None] = mapped_column(String(32))
    joined_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class LightBenefit(Base):
    """What one paid order enjoyed from a light membership period (once per order), and how
    much of it a refund has reversed."""

    __tablename__ = "light_benefits"
    __table_args__ = (
        CheckConstraint("reversed >= 0 AND reversed <= amount", name="reversed"),
        Index("ix_light_benefits_membership", "merchant_id", "membership_id", "period_no"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    membership_id: Mapped[str] = mapped_column(String(32))
    period_no: Mapped[int] = mapped_column()
    amount: Mapped[int] = mapped_column()
    reversed: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column()


class LightSettlement(TenantMixin, Base):
    """The charge for one period of one light membership. Its id is the idempotency key of
    the deduction (``out_request_no``): one row per period, so one charge per period."""

    __tablename__ = "light_settlements"
    __table_args__ = (
        Index("uq_light_settlements_period", "merchant_id", "membership_id", "period_no", unique=True),
        Index(  # only the settlements still to charge, in the order they are charged
            "ix_light_settlements_due",
            "next_attempt_at",
            "id",
            sqlite_where=text("status IN ('pending','retrying')"),
            postgresql_where=text("status IN ('pending','retrying')"),
        ),
        CheckConstraint("status IN ('pending','retrying','charged','closed','overdue')", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
    )

    membership_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    period_no: Mapped[int] = mapped_column()
    fee: Mapped[int] = mapped_column()
    enjoyed: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column()  # min(fee, enjoyed), fixed when the period closed
    reason: Mapped[str] = mapped_column(String(16))  # period_end | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()
    charged_at: Mapped[datetime | None] = mapped_column()
