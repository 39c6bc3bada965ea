"""Webhook endpoints, the messages sent to them, one delivery per (endpoint, message) and
one attempt row per try."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class EndpointStatus(StrEnum):
    """A webhook endpoint's status. Stored as these strings."""

    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    """A webhook delivery's status. Stored as these strings."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookEndpoint(TenantMixin, Base):
    """Where a merchant's system hears events: a URL, the event types it wants (empty: all),
    and a ``whsec_`` secret. After a rotation the previous secret also signs until
    ``previous_until``. Disabled by a 410, by failing for days, or by the merchant."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (CheckConstraint("status IN ('enabled','disabled')", name="status"),)

    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(80))
    previous_secret: Mapped[str | None] = mapped_column(String(80))
    previous_until: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column()
    failing_since: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookMessage(TenantMixin, Base):
    """One event as sent: its type and the JSON body every endpoint receives. ``event_id``
    names the business event it came from, so an event fans out once."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("uq_webhook_messages_event", "merchant_id", "event_id", unique=True),)

    event_type: Mapped[str] = mapped_column(String(48))
    event_id: Mapped[str | None] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(TenantMixin, Base):
    """A message to one endpoint: pending until an attempt succeeds, or failed (a 4xx other
    than 408/429, a 410, the schedule exhausted, the endpoint disabled)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        ForeignKeyConstraint(
            ["merchant_id", "endpoint_id"], ["webhook_endpoints.merchant_id", "webhook_endpoints.id"]
        ),
        ForeignKeyConstraint(
            ["merchant_id", "message_id"], ["webhook_messages.merchant_id", "webhook_messages.id"]
        ),
        Index(
            "uq_webhook_deliveries_endpoint_message", "merchant_id", "endpoint_id", "message_id", unique=True
        ),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    endpoint_id: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # How far along the retry schedule the next attempt is (a replay starts it again).
    step: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


class WebhookAttempt(TenantMixin, Base):
    """One try of a delivery: the HTTP status (none on a timeout or a refused connection),
    how long it took, and the start of the response."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "merchant_id", "delivery_id"),)

    delivery_id: Mapped[str] = mapped_column(String(32))
    endpoint_id: Mapped[str] = mapped_column(String(32))
    attempted_at: Mapped[datetime] = mapped_column()
    status_code: Mapped[int | None] = mapped_column()
    duration_ms: Mapped[int] = mapped_column(default=0)
    response: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str | None] = mapped_column(String(300))
