"""Stock locations (stores and warehouses) and stock per SKU per location."""

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


class LocationKind(StrEnum):
    """A stock location: a store (which can be a front warehouse) or a warehouse. Stored as these strings."""

    STORE = "store"
    WAREHOUSE = "warehouse"


class StockLocation(TenantMixin, Base):
    """A store (direct or franchise) or the flagship's warehouse: anywhere stock is held."""

    __tablename__ = "stock_locations"
    __table_args__ = (
        CheckConstraint("kind IN ('store','warehouse')", name="kind"),
        CheckConstraint("operation IN ('direct','franchise')", name="operation"),
        Index("uq_stock_locations_code", "merchant_id", "code", unique=True),
    )

    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(16), default="direct")
    address: Mapped[str] = mapped_column(String(400), default="")
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fulfilment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # FulfilmentSettings
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockLevel(Base):
    """On hand and reserved units of one SKU at one location; available = on_hand − reserved.

    The CHECKs are the backstop; every change goes through a conditional UPDATE.
    """

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        ForeignKeyConstraint(
            ["merchant_id", "location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
        ForeignKeyConstraint(["merchant_id", "sku_id"], ["skus.merchant_id", "skus.id"]),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StockMovement(TenantMixin, Base):
    """One change to a stock level, for the audit trail: who or what moved how many and why."""

    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_level", "merchant_id", "location_id", "sku_id"),)

    location_id: Mapped[str] = mapped_column(String(32))
    sku_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    reserved_delta: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    order_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockTransfer(TenantMixin, Base):
    """Goods moved between two locations (a store restocked from the warehouse, say): one
    transaction takes them off the source and puts them on the destination."""

    __tablename__ = "stock_transfers"
    __table_args__ = (
        CheckConstraint("from_location_id <> to_location_id", name="two_places"),
        ForeignKeyConstraint(
            ["merchant_id", "from_location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
        ForeignKeyConstraint(
            ["merchant_id", "to_location_id"], ["stock_locations.merchant_id", "stock_locations.id"]
        ),
    )

    from_location_id: Mapped[str] = mapped_column(String(32))
    to_location_id: Mapped[str] = mapped_column(String(32))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"sku_id", "quantity"}]
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _existing_stores(session: Session, merchant_id: str, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` are this merchant's stores (not warehouses)."""
    stores = select(StockLocation.id).where(
        owned(StockLocation, merchant_id),
        StockLocation.id.in_(list(ids)),
        StockLocation.kind == LocationKind.STORE,
    )
    return set(session.scalars(stores))


references.register("store", _existing_stores)
