"""Shopping guides (导购): exclusive customer bindings, their history, the merchant's binding
policy, and the coupon quotas guides may give out to their own customers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin


class BindingSource(StrEnum):
    """How a customer came to be bound to a guide. Stored as these strings."""

    SCAN = "scan"
    STORE = "store"
    ADMIN = "admin"


class CommissionStatus(StrEnum):
    """A commission's status. Stored as these strings."""

    FROZEN = "frozen"
    SETTLED = "settled"
    REVERSED = "reversed"


class GuidePolicy(Base):
    """How bindings behave for one merchant: the first binding is protected for
    ``protection_days``; after that, ``first_touch`` keeps it for good and ``last_touch``
    lets a new guide's code take the customer over (with a fresh protection period)."""

    __tablename__ = "guide_policies"
    __table_args__ = (
        CheckConstraint("after_protection IN ('first_touch','last_touch')", name="after_protection"),
        CheckConstraint("protection_days >= 0", name="protection_days"),
        CheckConstraint("after_sale_days >= 0 AND revisit_days >= 1", name="windows"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    protection_days: Mapped[int] = mapped_column(default=30)
    after_protection: Mapped[str] = mapped_column(String(16), default="last_touch")
    # Commissions stay frozen this many days after the order is handed over (after-sale window).
    after_sale_days: Mapped[int] = mapped_column(default=7)
    # A guide is reminded of a customer not seen (no paid order, no visit) for this many days.
    revisit_days: Mapped[int] = mapped_column(default=30)
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
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["coupon_templates.merchant_id", "coupon_templates.id"]
        ),
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


class CommissionRule(Base):
    """A commission rate in basis points: the merchant's default, a store's (for the guides
    of that store), or one guide's. The most specific rule wins: guide, store, merchant."""

    __tablename__ = "commission_rules"
    __table_args__ = (
        CheckConstraint("scope IN ('merchant','store','guide')", name="scope"),
        CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="rate_bp"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # '' for the merchant's default
    rate_bp: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class Commission(TenantMixin, Base):
    """A guide's commission on one attributed order: created at payment on the goods paid,
    frozen until the after-sale window closes, reduced by refunds, then settled. Every paid
    order of a bound customer has one (amount 0 without a rate), so it is also the guide's
    sales ledger."""

    __tablename__ = "commissions"
    __table_args__ = (
        CheckConstraint("status IN ('frozen','settled','reversed')", name="status"),
        CheckConstraint("amount >= 0 AND reversed_amount >= 0 AND reversed_amount <= amount", name="amounts"),
        CheckConstraint("refunded >= 0 AND refunded <= base", name="refunded"),
        ForeignKeyConstraint(["merchant_id", "order_id"], ["orders.merchant_id", "orders.id"]),
        ForeignKeyConstraint(["merchant_id", "guide_id"], ["staff.merchant_id", "staff.id"]),
        Index("uq_commissions_order", "merchant_id", "order_id", unique=True),
        Index("ix_commissions_guide", "merchant_id", "guide_id"),
        Index("ix_commissions_due", "status", "frozen_until"),
    )

    order_id: Mapped[str] = mapped_column(String(32))
    guide_id: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    base: Mapped[int] = mapped_column()  # goods paid (without delivery), fen
    refunded: Mapped[int] = mapped_column(default=0)  # of which refunded since
    rate_bp: Mapped[int] = mapped_column()
    amount: Mapped[int] = mapped_column()
    reversed_amount: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="frozen")
    created_at: Mapped[datetime] = mapped_column()
    frozen_until: Mapped[datetime | None] = mapped_column()  # set when the order is handed over
    settled_at: Mapped[datetime | None] = mapped_column()


class GuideVisit(TenantMixin, Base):
    """A guide's contact with one of their customers (a call, a message, a store visit):
    it silences the revisit reminder for another ``revisit_days``."""

    __tablename__ = "guide_visits"
    __table_args__ = (Index("ix_guide_visits_customer", "merchant_id", "customer_id"),)

    guide_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column()


class GuideGroup(TenantMixin, Base):
    """A guide's own group of their customers ("new parents", "weekend regulars"), for
    follow-ups and group coupons. Other guides never see it; names are unique per guide."""

    __tablename__ = "guide_groups"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "guide_id"], ["staff.merchant_id", "staff.id"]),
        Index("uq_guide_groups_name", "merchant_id", "guide_id", "name", unique=True),
    )

    guide_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()


class GuideGroupMember(Base):
    """One customer in one guide group; a customer who moves to another guide leaves the
    old guide's groups."""

    __tablename__ = "guide_group_members"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "group_id"], ["guide_groups.merchant_id", "guide_groups.id"]),
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        Index("ix_guide_group_members_customer", "merchant_id", "customer_id"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    added_at: Mapped[datetime] = mapped_column()
