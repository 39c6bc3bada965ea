"""Promotions as merchant data: item-level, quantity and amount rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class Promotion(TenantMixin, Base):
    """One promotion rule in the shape of ``contracts/pricing.md``.

    ``status`` is what the merchant decided (active, paused, stopped); whether it runs
    now also depends on its window. ``version`` counts edits: orders keep a snapshot of
    the version they were priced with, so editing never changes a placed order.
    """

    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("status IN ('active','paused','stopped')", name="status"),
        Index("ix_promotions_status", "merchant_id", "status"),
    )

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stack_group: Mapped[str | None] = mapped_column(String(64))
    exclusive: Mapped[bool] = mapped_column(default=False)
    host_apps: Mapped[list[str]] = mapped_column(JSON, default=list)
    store_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
