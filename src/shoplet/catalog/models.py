"""Catalogue: categories, products and their SKUs with list and member prices."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class ProductStatus(StrEnum):
    """A product's or SKU's status. Stored as these strings."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class Category(TenantMixin, Base):
    __tablename__ = "categories"
    __table_args__ = (Index("uq_categories_code", "merchant_id", "code", unique=True),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(TenantMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("status IN ('active','archived')", name="status"),
        ForeignKeyConstraint(["merchant_id", "category_id"], ["categories.merchant_id", "categories.id"]),
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Sku(TenantMixin, Base):
    """A sellable variant. Prices are int fen; the member price is optional."""

    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("list_price >= 0", name="list_price"),
        CheckConstraint("member_price IS NULL OR member_price >= 0", name="member_price"),
        ForeignKeyConstraint(["merchant_id", "product_id"], ["products.merchant_id", "products.id"]),
        Index("uq_skus_code", "merchant_id", "code", unique=True),
        Index("ix_skus_product", "merchant_id", "product_id"),
    )

    product_id: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    list_price: Mapped[int] = mapped_column()
    member_price: Mapped[int | None] = mapped_column()
    light_member_price: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
