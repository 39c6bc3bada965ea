"""Coupons (卡券): templates, issued coupons, and the counters that stop oversell."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shoplet import references
from shoplet.db import Base, TenantMixin, utcnow
from shoplet.scoping import owned


class CouponStatus(StrEnum):
    """A customer's coupon's status. Stored as these strings."""

    AVAILABLE = "available"
    LOCKED = "locked"
    USED = "used"
    EXPIRED = "expired"


class IssueJobStatus(StrEnum):
    """An issue-to-a-segment job's status. Stored as these strings."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


class CouponTemplate(TenantMixin, Base):
    """What a merchant designs: kind and value, scope, validity, stock, limits, audience.

    ``issued_count`` only moves by a conditional UPDATE (``issued_count < total_stock``),
    with a CHECK as the backstop, so concurrent claims can never oversell. ``version``
    counts edits; an issued coupon keeps the version it was issued with.
    """

    __tablename__ = "coupon_templates"
    __table_args__ = (
        CheckConstraint("status IN ('active','paused','stopped')", name="status"),
        CheckConstraint("total_stock IS NULL OR issued_count <= total_stock", name="no_oversell"),
        CheckConstraint("budget IS NULL OR budget_committed <= budget", name="budget"),
        CheckConstraint("validity IN ('fixed','relative')", name="validity"),
        Index("uq_coupon_templates_public_code", "merchant_id", "public_code", unique=True),
    )

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    store_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    host_apps: Mapped[list[str]] = mapped_column(JSON, default=list)
    stackable: Mapped[bool] = mapped_column(default=False)
    exclusive_with_promotions: Mapped[bool] = mapped_column(default=False)
    # usable on group-buy, flash-sale and plan orders (where the campaign allows coupons)
    campaigns: Mapped[bool] = mapped_column(default=False)
    validity: Mapped[str] = mapped_column(String(16), default="fixed")
    valid_from: Mapped[datetime | None] = mapped_column()
    valid_until: Mapped[datetime | None] = mapped_column()
    valid_days: Mapped[int | None] = mapped_column()
    delay_days: Mapped[int] = mapped_column(default=0)
    total_stock: Mapped[int | None] = mapped_column()
    issued_count: Mapped[int] = mapped_column(default=0)
    per_customer_limit: Mapped[int | None] = mapped_column()
    per_day_limit: Mapped[int | None] = mapped_column()
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    claim_starts_at: Mapped[datetime | None] = mapped_column()
    claim_ends_at: Mapped[datetime | None] = mapped_column()
    budget: Mapped[int | None] = mapped_column()
    budget_committed: Mapped[int] = mapped_column(default=0)
    public_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Coupon(TenantMixin, Base):
    """One coupon a customer holds. ``rule`` is the template as it was when issued.

    Status moves only by conditional updates: available → locked (order created) → used
    (paid) or back to available (cancelled, fully refunded); available → used (verified
    in store, 核销), → expired.
    """

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("status IN ('available','locked','used','expired')", name="status"),
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]
        ),
        Index("uq_coupons_code", "merchant_id", "code", unique=True),
        Index("ix_coupons_customer", "merchant_id", "customer_id", "status"),
        Index("ix_coupons_template", "merchant_id", "template_id", "status"),
        Index("ix_coupons_expiry", "status", "valid_until"),
    )

    template_id: Mapped[str] = mapped_column(String(32))
    template_version: Mapped[int] = mapped_column()
    customer_id: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(20))
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="claim")
    status: Mapped[str] = mapped_column(String(16), default="available")
    valid_from: Mapped[datetime] = mapped_column()
    valid_until: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    order_id: Mapped[str | None] = mapped_column(String(32))
    used_at: Mapped[datetime | None] = mapped_column()
    verified_store_id: Mapped[str | None] = mapped_column(String(32))
    verified_by: Mapped[str | None] = mapped_column(String(32))
    discount: Mapped[int] = mapped_column(default=0)
    order_amount: Mapped[int] = mapped_column(default=0)
    reminded_at: Mapped[datetime | None] = mapped_column()


class CouponClaimCount(Base):
    """How many coupons of a template a customer holds, in all (``period`` "all") and per
    day (``period`` = the merchant-local date). Limits are conditional updates on these rows."""

    __tablename__ = "coupon_claim_counts"
    __table_args__ = (CheckConstraint("claimed >= 0", name="claimed"),)

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    claimed: Mapped[int] = mapped_column(default=0)


class CouponCode(Base):
    """One of a batch of unique codes: redeemable once, for one coupon of its template."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]
        ),
        Index("ix_coupon_codes_template", "merchant_id", "template_id", "batch_id"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    redeemed_by: Mapped[str | None] = mapped_column(String(32))
    redeemed_at: Mapped[datetime | None] = mapped_column()
    coupon_id: Mapped[str | None] = mapped_column(String(32))


class CouponEventRule(TenantMixin, Base):
    """Issue a coupon when something happens to a customer: they join, pay their first
    order, pay an order of at least ``min_order_amount``, or have their birthday."""

    __tablename__ = "coupon_event_rules"
    __table_args__ = (
        CheckConstraint("event IN ('joined','first_order','order_at_least','birthday')", name="event"),
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]
        ),
    )

    event: Mapped[str] = mapped_column(String(32))
    template_id: Mapped[str] = mapped_column(String(32))
    min_order_amount: Mapped[int | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponEventGrant(Base):
    """That a rule fired for one event (a customer, an order): the key that makes it once."""

    __tablename__ = "coupon_event_grants"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    coupon_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponPackGrant(Base):
    """One coupon of a pack (a tier reached, a light membership period) given for one key:
    the key makes a pack delivered twice issue once."""

    __tablename__ = "coupon_pack_grants"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pack_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    coupon_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponIssueJob(TenantMixin, Base):
    """Issuing a template to a segment of customers, in chunks. ``cursor`` is the last
    customer handled and moves in the same transaction as that chunk's coupons, so a job
    stopped anywhere resumes without issuing twice or skipping anyone."""

    __tablename__ = "coupon_issue_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('pending','running','done')", name="status"),
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]
        ),
    )

    template_id: Mapped[str] = mapped_column(String(32))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    issued: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    cursor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class PointsMallItem(TenantMixin, Base):
    """A coupon offered in the points mall (积分商城) for a number of points."""

    __tablename__ = "points_mall_items"
    __table_args__ = (
        CheckConstraint("points > 0", name="points"),
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]
        ),
    )

    template_id: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _existing_coupon_templates(session: Session, merchant_id: str, ids: Collection[str]) -> set[str]:
    return set(
        session.scalars(
            select(CouponTemplate.id).where(
                owned(CouponTemplate, merchant_id), CouponTemplate.id.in_(list(ids))
            )
        )
    )


references.register("coupon_template", _existing_coupon_templates)
