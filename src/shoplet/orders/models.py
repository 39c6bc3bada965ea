"""Carts, orders and order lines. Amounts are int fen."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class OrderStatus(StrEnum):
    """An order's status. Stored as these strings."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    REFUNDED = "refunded"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class FulfilmentMode(StrEnum):
    """How a part of an order reaches the customer. Stored as these strings."""

    PICKUP = "pickup"
    DELIVERY = "delivery"
    EXPRESS = "express"
    PLAN = "plan"  # a periodic plan's upfront order: handed over by its delivery orders, no stock


class FulfilmentStatus(StrEnum):
    """A fulfilment's status. Stored as these strings."""

    PENDING = "pending"
    READY = "ready"
    DONE = "done"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class CartItem(Base):
    """A SKU and quantity in a customer's cart."""

    __tablename__ = "cart_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        ForeignKeyConstraint(["merchant_id", "sku_id"], ["skus.merchant_id", "skus.id"]),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    quantity: Mapped[int] = mapped_column()
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(TenantMixin, Base):
    """An order: priced lines, reserved stock at one location, and its money state.

    ``paid_amount`` and ``refunded_amount`` only move through conditional updates, and
    the CHECK keeps refunds within what was paid.
    """

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending_payment','paid','fulfilled','refunded','closed','cancelled')", name="status"
        ),
        CheckConstraint("total >= 0 AND subtotal >= 0 AND discount >= 0", name="amounts"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= paid_amount", name="refunds"),
        CheckConstraint("campaign_kind IN ('group','flash','plan','plan_delivery')", name="campaign_kind"),
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        ForeignKeyConstraint(
            ["merchant_id", "location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
        Index("ix_orders_customer", "merchant_id", "customer_id"),
        Index("ix_orders_status_expiry", "status", "expires_at"),
        Index("ix_orders_guide", "merchant_id", "guide_id"),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    location_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="pending_payment")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    subtotal: Mapped[int] = mapped_column()
    discount: Mapped[int] = mapped_column(default=0)
    delivery_fee: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column()
    paid_amount: Mapped[int] = mapped_column(default=0)
    refunded_amount: Mapped[int] = mapped_column(default=0)
    host_app: Mapped[str | None] = mapped_column(String(16))
    scene: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    pricing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column()
    fulfilled_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    # The customer's shopping guide when the order was placed, and the guide's store.
    guide_id: Mapped[str | None] = mapped_column(String(32))
    guide_store_id: Mapped[str | None] = mapped_column(String(32))
    # Bought in a campaign (shoplet.campaigns: group, flash, plan, plan_delivery) and what of
    # it (the group seat's group, the flash item, the plan subscription); see order_hooks.
    campaign_kind: Mapped[str | None] = mapped_column(String(16))
    campaign_ref: Mapped[str | None] = mapped_column(String(32))


class OrderLine(TenantMixin, Base):
    """One SKU of an order. ``total`` is the allocated payable amount refunds draw on."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_quantity"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= total", name="refunded_amount"),
        CheckConstraint("total >= 0 AND discount >= 0", name="amounts"),
        ForeignKeyConstraint(["merchant_id", "order_id"], ["orders.merchant_id", "orders.id"]),
        ForeignKeyConstraint(["merchant_id", "fulfilment_id"], ["fulfilments.merchant_id", "fulfilments.id"]),
        Index("ix_order_lines_order", "merchant_id", "order_id"),
    )

    order_id: Mapped[str] = mapped_column(String(32))
    fulfilment_id: Mapped[str] = mapped_column(String(32))
    line_no: Mapped[int] = mapped_column()
    sku_id: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(400))
    quantity: Mapped[int] = mapped_column()
    unit_price: Mapped[int] = mapped_column()
    subtotal: Mapped[int] = mapped_column()
    discount: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column()
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    refunded_amount: Mapped[int] = mapped_column(default=0)


class Fulfilment(TenantMixin, Base):
    """How one location hands over some lines of an order: picked up at a store with a
    code, delivered from a store in a time slot, or shipped from the warehouse. An order
    routed to the warehouse for its missing lines has two.

    ``pending`` until the order is paid, then ``ready`` (waiting for pickup, scheduled, or to
    ship), then ``done``; ``expired`` when a pickup was never collected (stock released and
    refunded); ``cancelled`` with its order or when every unit was refunded beforehand.
    """

    __tablename__ = "fulfilments"
    __table_args__ = (
        CheckConstraint("mode IN ('pickup','delivery','express','plan')", name="mode"),
        CheckConstraint("status IN ('pending','ready','done','expired','cancelled')", name="status"),
        CheckConstraint("fee >= 0", name="fee"),
        CheckConstraint("delivery_paid >= 0 AND delivery_paid <= fee", name="delivery_paid"),
        ForeignKeyConstraint(["merchant_id", "order_id"], ["orders.merchant_id", "orders.id"]),
        ForeignKeyConstraint(
            ["merchant_id", "location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
        Index("ix_fulfilments_order", "merchant_id", "order_id"),
        Index("ix_fulfilments_due", "status", "mode", "expires_at"),
        # A pickup code names one open pickup at its store; a finished one frees it.
        Index(
            "uq_fulfilments_open_code",
            "merchant_id",
            "location_id",
            "pickup_code",
            unique=True,
            sqlite_where=text("status IN ('pending','ready')"),
            postgresql_where=text("status IN ('pending','ready')"),
        ),
    )

    order_id: Mapped[str] = mapped_column(String(32))
    location_id: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    fee: Mapped[int] = mapped_column(default=0)
    # This part's share of the delivery fee the order paid (after waivers): its location's revenue.
    delivery_paid: Mapped[int] = mapped_column(default=0)
    pickup_code: Mapped[str | None] = mapped_column(String(12))
    ready_at: Mapped[datetime | None] = mapped_column()  # pickup: ready from; express: ships by
    slot_start: Mapped[datetime | None] = mapped_column()
    slot_end: Mapped[datetime | None] = mapped_column()
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    distance_m: Mapped[int | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()  # pickup: collect by
    done_at: Mapped[datetime | None] = mapped_column()
    done_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliverySlot(Base):
    """Deliveries booked in one time slot of one store; the store's slot capacity is the
    bound every booking checks in its conditional UPDATE."""

    __tablename__ = "delivery_slots"
    __table_args__ = (
        CheckConstraint("booked >= 0", name="booked"),
        ForeignKeyConstraint(
            ["merchant_id", "location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(primary_key=True)
    booked: Mapped[int] = mapped_column(default=0)
