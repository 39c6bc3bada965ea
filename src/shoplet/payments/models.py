"""Payments, provider notifications and refunds, and the sandbox provider's ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class PaymentStatus(StrEnum):
    """A payment's status. Stored as these strings."""

    PENDING = "pending"
    PAID = "paid"
    CLOSED = "closed"


class RefundStatus(StrEnum):
    """A refund's status. Stored as these strings."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(TenantMixin, Base):
    """One attempt to collect an order's total through a provider. Its id is the
    ``out_trade_no`` the provider knows it by."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("status IN ('pending','paid','closed')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        ForeignKeyConstraint(["merchant_id", "order_id"], ["orders.merchant_id", "orders.id"]),
        Index("ix_payments_order", "merchant_id", "order_id"),
    )

    order_id: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    provider_trade_no: Mapped[str | None] = mapped_column(String(64))
    pay_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class PaymentNotification(Base):
    """A verified provider notification, recorded once by its id: duplicates are no-ops."""

    __tablename__ = "payment_notifications"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    notify_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Refund(TenantMixin, Base):
    """Money returned for some or all of an order, through the provider that took it."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        ForeignKeyConstraint(["merchant_id", "order_id"], ["orders.merchant_id", "orders.id"]),
        Index("ix_refunds_order", "merchant_id", "order_id"),
    )

    order_id: Mapped[str] = mapped_column(String(32))
    payment_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column()
    delivery_fee: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(String(200), default="")
    restock: Mapped[bool] = mapped_column(default=False)
    provider_refund_no: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


class RefundLine(Base):
    __tablename__ = "refund_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0 AND amount >= 0", name="amounts"),
        ForeignKeyConstraint(["merchant_id", "refund_id"], ["refunds.merchant_id", "refunds.id"]),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_line_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    quantity: Mapped[int] = mapped_column()
    amount: Mapped[int] = mapped_column()


class SandboxTrade(Base):
    """The sandbox provider's own book of trades: what a real provider would hold."""

    __tablename__ = "sandbox_trades"
    __table_args__ = (
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunds"),
        Index("uq_sandbox_trades_out_trade_no", "merchant_id", "out_trade_no", unique=True),
        # The wallet looks trades up by its own number alone, as a provider does.
        Index("uq_sandbox_trades_trade_no", "trade_no", unique=True),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trade_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column()
    subject: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(24), default="WAIT_BUYER_PAY")
    notify_url: Mapped[str] = mapped_column(String(500))
    refunded_amount: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column()


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    trade_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SandboxAgreement(Base):
    """The sandbox provider's deduction agreements (代扣协议)."""

    __tablename__ = "sandbox_agreements"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agreement_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    plan_id: Mapped[str] = mapped_column(String(32))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SandboxAgreementCharge(Base):
    """The provider's ledger of agreement charges: one row per ``out_request_no``; a failed
    request may be attempted again, a succeeded one is never charged again."""

    __tablename__ = "sandbox_agreement_charges"
    __table_args__ = (CheckConstraint("status IN ('succeeded','failed')", name="status"),)

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    out_request_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    agreement_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=1)
    charged_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstallationSecret(Base):
    """A secret generated once per installation (the sandbox's signing key when none is
    configured): never a constant from the docs, and the same for every process."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
