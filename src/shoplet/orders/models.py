"""Carts, orders and order lines (P2). Amounts are int fen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow

ORDER_STATUSES = ("pending_payment", "paid", "fulfilled", "cancelled")


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
            "status IN ('pending_payment','paid','fulfilled','cancelled')", name="status"
        ),
        CheckConstraint("total >= 0 AND subtotal >= 0 AND discount >= 0", name="amounts"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= paid_amount", name="refunds"),
        ForeignKeyConstraint(
            ["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]
        ),
        ForeignKeyConstraint(
            ["merchant_id", "location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
        Index("ix_orders_customer", "merchant_id", "customer_id"),
        Index("ix_orders_status_expiry", "status", "expires_at"),
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


class OrderLine(TenantMixin, Base):
    """One SKU of an order. ``total`` is the allocated payable amount refunds draw on."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_quantity"
        ),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= total", name="refunded_amount"
        ),
        CheckConstraint("total >= 0 AND discount >= 0", name="amounts"),
        ForeignKeyConstraint(["merchant_id", "order_id"], ["orders.merchant_id", "orders.id"]),
        Index("ix_order_lines_order", "merchant_id", "order_id"),
    )

    order_id: Mapped[str] = mapped_column(String(32))
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
