"""Group buying (拼团), flash sales (秒杀) and periodic purchase (周期购): their campaigns,
the groups and seats, the flash items, the plans and subscriptions, and the per-customer
counters every limit is taken from.

Every scarce thing is a counter with a CHECK behind it, moved by a conditional UPDATE: a
campaign's ``sold`` (≤ ``stock``), a group's ``taken`` seats (≤ ``size``), a flash item's
``sold`` (≤ ``stock``), a customer's ``taken`` units in a campaign (the limit is in the
UPDATE's WHERE), a subscription's ``delivered`` (≤ ``deliveries``). Nothing is decided by
reading a count and then writing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKeyConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class CampaignKind(StrEnum):
    """What an order was bought in (``orders.campaign_kind``). Stored as these strings."""

    GROUP = "group"
    FLASH = "flash"
    PLAN = "plan"  # the upfront payment of a periodic plan
    PLAN_DELIVERY = "plan_delivery"  # one period's delivery, paid by the plan


class GroupStatus(StrEnum):
    """A buying group's status. Stored as these strings.

    ``pending`` until the leader pays (then ``open`` with its time limit running);
    ``cancelled`` when the leader never paid; ``succeeded`` when every seat is paid (or
    filled with virtual seats at the time limit, where the campaign allows); ``failed`` when
    the time limit passed first (every member's order refunded once)."""

    PENDING = "pending"
    OPEN = "open"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SeatStatus(StrEnum):
    """A seat in a group. Stored as these strings. ``held`` from the order's creation to its
    payment (``paid``) or its cancellation (``released``); ``released`` too when the member
    refunded before the group succeeded; ``refunded`` when the group failed."""

    HELD = "held"
    PAID = "paid"
    RELEASED = "released"
    REFUNDED = "refunded"


class PlanInterval(StrEnum):
    """How often a periodic plan delivers. Stored as these strings."""

    WEEK = "week"
    MONTH = "month"


class PlanMode(StrEnum):
    """How a plan's deliveries reach the customer. Stored as these strings."""

    DELIVERY = "delivery"  # from a store, in its delivery radius
    EXPRESS = "express"  # shipped from the warehouse


class SubscriptionStatus(StrEnum):
    """A customer's subscription to a plan. Stored as these strings."""

    PENDING_PAYMENT = "pending_payment"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # by the customer, the undelivered periods refunded
    EXPIRED = "expired"  # never paid


LIFECYCLE = "status IN ('active','paused','stopped')"


class GroupCampaign(TenantMixin, Base):
    """A group-buy campaign on one SKU: its group price, group size and time limit."""

    __tablename__ = "group_campaigns"
    __table_args__ = (
        CheckConstraint(LIFECYCLE, name="status"),
        CheckConstraint("group_size >= 2 AND group_size <= 50", name="group_size"),
        CheckConstraint("sold >= 0 AND sold <= stock", name="sold"),
        CheckConstraint("price >= 0 AND per_customer_limit >= 1", name="amounts"),
        ForeignKeyConstraint(["merchant_id", "sku_id"], ["skus.merchant_id", "skus.id"]),
    )

    name: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(32))
    price: Mapped[int] = mapped_column()  # per unit, fen
    group_size: Mapped[int] = mapped_column()
    time_limit_minutes: Mapped[int] = mapped_column()
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    stock: Mapped[int] = mapped_column()  # units for the whole campaign
    sold: Mapped[int] = mapped_column(default=0)  # units in held or paid seats
    per_customer_limit: Mapped[int] = mapped_column()  # units per customer in the campaign
    virtual_seats: Mapped[bool] = mapped_column(Boolean, default=False)
    coupons: Mapped[bool] = mapped_column(Boolean, default=False)
    pay_minutes: Mapped[int] = mapped_column(default=15)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BuyingGroup(TenantMixin, Base):
    """One group of a campaign: ``taken`` seats are held or paid, ``paid`` of them paid."""

    __tablename__ = "buying_groups"
    __table_args__ = (
        CheckConstraint("status IN ('pending','open','succeeded','failed','cancelled')", name="status"),
        CheckConstraint("taken >= 0 AND taken <= size", name="taken"),
        CheckConstraint("paid >= 0 AND paid <= taken", name="paid"),
        ForeignKeyConstraint(
            ["merchant_id", "campaign_id"], ["group_campaigns.merchant_id", "group_campaigns.id"]
        ),
        Index("ix_buying_groups_campaign", "merchant_id", "campaign_id", "status"),
        Index("ix_buying_groups_due", "status", "expires_at"),
        # A customer leads at most one unfinished group per campaign.
        Index(
            "uq_buying_groups_leader",
            "merchant_id",
            "campaign_id",
            "leader_id",
            unique=True,
            sqlite_where=text("status IN ('pending','open')"),
            postgresql_where=text("status IN ('pending','open')"),
        ),
    )

    campaign_id: Mapped[str] = mapped_column(String(32))
    leader_id: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column()
    taken: Mapped[int] = mapped_column(default=0)
    paid: Mapped[int] = mapped_column(default=0)
    virtual: Mapped[int] = mapped_column(default=0)  # seats filled at the time limit
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class GroupSeat(TenantMixin, Base):
    """A customer's seat in a group, bought by one order."""

    __tablename__ = "group_seats"
    __table_args__ = (
        CheckConstraint("status IN ('held','paid','released','refunded')", name="status"),
        CheckConstraint("quantity >= 1", name="quantity"),
        ForeignKeyConstraint(["merchant_id", "group_id"], ["buying_groups.merchant_id", "buying_groups.id"]),
        Index("ix_group_seats_group", "merchant_id", "group_id"),
        Index("uq_group_seats_order", "merchant_id", "order_id", unique=True),
        # A customer is in a group once (a seat released by a timeout or a refund frees it).
        Index(
            "uq_group_seats_member",
            "merchant_id",
            "group_id",
            "customer_id",
            unique=True,
            sqlite_where=text("status IN ('held','paid')"),
            postgresql_where=text("status IN ('held','paid')"),
        ),
    )

    group_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column()
    leader: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="held")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column()


class CampaignQuota(Base):
    """Units a customer holds in a campaign (a group campaign or a flash item): the limit is
    the WHERE of the upsert that raises it, never a count of earlier orders."""

    __tablename__ = "campaign_quotas"
    __table_args__ = (CheckConstraint("taken >= 0", name="taken"),)

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    taken: Mapped[int] = mapped_column(default=0)


class FlashSale(TenantMixin, Base):
    """A flash sale: its window, optional daily time slots, per-customer limit and the short
    payment deadline after which an unpaid order's flash stock comes back."""

    __tablename__ = "flash_sales"
    __table_args__ = (
        CheckConstraint(LIFECYCLE, name="status"),
        CheckConstraint("per_customer_limit >= 1 AND pay_minutes >= 1", name="limits"),
    )

    name: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    # [["10:00", "12:00"], ...] in the merchant's time zone; empty: the whole window
    daily_slots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    per_customer_limit: Mapped[int] = mapped_column()  # units per customer per item
    pay_minutes: Mapped[int] = mapped_column(default=5)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlashItem(TenantMixin, Base):
    """A SKU in a flash sale: its flash price and flash stock (apart from normal stock)."""

    __tablename__ = "flash_items"
    __table_args__ = (
        CheckConstraint("sold >= 0 AND sold <= stock", name="sold"),
        CheckConstraint("price >= 0", name="price"),
        ForeignKeyConstraint(["merchant_id", "sale_id"], ["flash_sales.merchant_id", "flash_sales.id"]),
        ForeignKeyConstraint(["merchant_id", "sku_id"], ["skus.merchant_id", "skus.id"]),
        Index("uq_flash_items_sku", "merchant_id", "sale_id", "sku_id", unique=True),
    )

    sale_id: Mapped[str] = mapped_column(String(32))
    sku_id: Mapped[str] = mapped_column(String(32))
    price: Mapped[int] = mapped_column()
    stock: Mapped[int] = mapped_column()
    sold: Mapped[int] = mapped_column(default=0)  # units in unpaid or paid orders
    sold_out_at: Mapped[datetime | None] = mapped_column()


class Plan(TenantMixin, Base):
    """A periodic plan: ``quantity`` of a SKU every week or month, ``deliveries`` times, for
    ``price`` paid upfront, delivered from ``location_id`` on ``delivery_day``."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(LIFECYCLE, name="status"),
        CheckConstraint("interval IN ('week','month')", name="interval"),
        CheckConstraint("mode IN ('delivery','express')", name="mode"),
        CheckConstraint("deliveries >= 2 AND quantity >= 1 AND price >= 0", name="amounts"),
        ForeignKeyConstraint(["merchant_id", "sku_id"], ["skus.merchant_id", "skus.id"]),
        ForeignKeyConstraint(
            ["merchant_id", "location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
    )

    name: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column()
    interval: Mapped[str] = mapped_column(String(8))
    deliveries: Mapped[int] = mapped_column()
    price: Mapped[int] = mapped_column()  # the whole plan, fen
    mode: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[str] = mapped_column(String(32))
    delivery_day: Mapped[int] = mapped_column()  # ISO weekday 1–7, or day of the month 1–28
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanSubscription(TenantMixin, Base):
    """A customer's plan: paid once (``order_id``), then one delivery order per period."""

    __tablename__ = "plan_subscriptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending_payment','active','paused','completed','cancelled','expired')", name="status"
        ),
        CheckConstraint("delivered >= 0 AND delivered <= deliveries AND skipped >= 0", name="delivered"),
        ForeignKeyConstraint(["merchant_id", "plan_id"], ["plans.merchant_id", "plans.id"]),
        Index("ix_plan_subscriptions_plan", "merchant_id", "plan_id", "status"),
        Index("ix_plan_subscriptions_customer", "merchant_id", "customer_id"),
        Index("ix_plan_subscriptions_due", "status", "next_at"),
        Index("uq_plan_subscriptions_order", "merchant_id", "order_id", unique=True),
    )

    plan_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending_payment")
    deliveries: Mapped[int] = mapped_column()
    delivered: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime | None] = mapped_column()
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    refund_id: Mapped[str | None] = mapped_column(String(32))


class PlanDelivery(TenantMixin, Base):
    """One period's delivery of a subscription: the order that carries it."""

    __tablename__ = "plan_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "subscription_id"], ["plan_subscriptions.merchant_id", "plan_subscriptions.id"]
        ),
        Index("uq_plan_deliveries_period", "merchant_id", "subscription_id", "period", unique=True),
    )

    subscription_id: Mapped[str] = mapped_column(String(32))
    period: Mapped[int] = mapped_column()
    order_id: Mapped[str] = mapped_column(String(32))
    scheduled_for: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
