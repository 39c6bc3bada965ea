"""What the console's forms and pages share: amounts typed in yuan, whole numbers, and the
shop's stores and catalogue for pickers."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import bindparam, select

from shoplet.catalog.models import Category, Product, ProductStatus, Sku
from shoplet.inventory.models import LocationKind, StockLocation
from shoplet.scoping import owned, same_tenant

_YUAN = re.compile(r"^\d{1,9}(\.\d{1,2})?$")


def yuan_to_fen(text: str, field: str, errors: dict[str, str]) -> int | None:
    """'12.3' → 1230; blank → None; anything else is an error on that field."""
    text = text.strip().replace("¥", "").replace(",", "")
    if not text:
        return None
    if not _YUAN.match(text):
        errors[field] = "Give an amount in yuan, like 12.50."
        return None
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def whole_number(text: str, field: str, errors: dict[str, str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        errors[field] = "Give a whole number."
        return None
    return int(text)


def stores_of(session: Any, merchant_id: str) -> list[StockLocation]:
    return list(
        session.scalars(
            select(StockLocation)
            .where(owned(StockLocation, merchant_id), StockLocation.kind == LocationKind.STORE)
            .order_by(StockLocation.code)
        )
    )


def catalogue_of(session: Any, merchant_id: str) -> tuple[list[tuple[Sku, Product]], list[Category]]:
    skus = [
        (row[0], row[1])
        for row in session.execute(
            select(Sku, Product)
            .join(Product, same_tenant(Product, Sku) & (Product.id == Sku.product_id))
            .where(
                owned(Sku, merchant_id),
                Product.status == ProductStatus.ACTIVE,
                Sku.status == ProductStatus.ACTIVE,
            )
            .order_by(Sku.code)
            .limit(200)
        )
    ]
    categories = list(
        session.scalars(select(Category).where(owned(Category, merchant_id)).order_by(Category.code))
    )
    return skus, categories


# The exchange coupon's item list: three columns of the active SKUs, built once (the coupons
# page shows it on every visit, and needs neither the ORM's objects nor the categories).
_SKU_CHOICES = (
    select(Sku.id, Product.title, Sku.name)
    .join(Product, same_tenant(Product, Sku) & (Product.id == Sku.product_id))
    .where(
        owned(Sku, bindparam("m")),
        Product.status == ProductStatus.ACTIVE,
        Sku.status == ProductStatus.ACTIVE,
    )
    .order_by(Sku.code)
    .limit(200)
)


def sku_choices(session: Any, merchant_id: str) -> list[Any]:
    """Active SKUs as rows of ``id``, ``title`` (the product's) and ``name``, by code."""
    return list(session.execute(_SKU_CHOICES, {"m": merchant_id}))
