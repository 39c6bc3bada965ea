"""Shopping guides (导购): exclusive customer bindings, their history, the merchant's binding
policy, and the coupon quotas guides may give out to their own customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin


class GuidePolicy(Base):
    """How bindings behave for one merchant: the first binding is protected for
    ``protection_days``; after that, ``first_touch`` keeps it for good and ``last_touch``
    lets a new guide's code take the customer over (with a fresh protection period)."""

    __tablename__ = "guide_policies"
    __table_args__ = (
        CheckConstraint("after_protection IN ('first_touch','last_touch')", name="after_protection"),
        CheckConstraint("protection_days >= 0", name="protection_days"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    protection_days: Mapped[int] = mapped_column(default=30)
    after_protection: Mapped[str] = mapped_column(String(16), default="last_touch")
    updated_at: Mapped[datetime] = mapped_column()


class GuideBinding(Base):
    """A customer's one exclusive guide at a merchant (the key makes "one" a constraint)."""

    __tablename__ = "guide_bindings"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        ForeignKeyConstraint(["merchant_id", "guide_id"], ["staff.merchant_id", "staff.id"]),
        CheckConstraint("source IN ('scan','store','admin')", name="source"),
        Index("ix_guide_bindings_guide", "merchant_id", "guide_id"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    guide_id: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    bound_at: Mapped[datetime] = mapped_column()
    protected_until: Mapped[datetime] = mapped_column()
    first_bound_at: Mapped[datetime] = mapped_column()


class GuideBindingChange(TenantMixin, Base):
    """Every binding and re-binding, for disputes between guides and for attribution audits."""

    __tablename__ = "guide_binding_changes"
    __table_args__ = (Index("ix_guide_binding_changes_customer", "merchant_id", "customer_id"),)

    customer_id: Mapped[str] = mapped_column(String(32))
    from_guide_id: Mapped[str | None] = mapped_column(String(32))
    to_guide_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()


class GuideCouponQuota(Base):
    """How many coupons of a template one guide may issue to their own customers."""

    __tablename__ = "guide_coupon_quotas"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]),
        ForeignKeyConstraint(["merchant_id", "guide_id"], ["staff.merchant_id", "staff.id"]),
        CheckConstraint("issued >= 0 AND issued <= quota", name="within_quota"),
        Index("ix_guide_coupon_quotas_guide", "merchant_id", "guide_id"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    guide_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    quota: Mapped[int] = mapped_column()
    issued: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column()
