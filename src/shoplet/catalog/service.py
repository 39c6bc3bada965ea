"""Catalogue operations: categories, products, SKUs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet.catalog.models import Category, Product, Sku
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput
from shoplet.scoping import get_owned, owned


def create_category(
    session: Session, *, merchant_id: str, code: str, name: str, parent_id: str | None, now: datetime
) -> Category:
    if parent_id is not None:
        get_owned(session, Category, merchant_id, parent_id, what="Category")
    if session.scalar(select(Category.id).where(owned(Category, merchant_id), Category.code == code)):
        raise Conflict("category.code_taken", f"A category with code '{code}' already exists.")
    category = Category(
        merchant_id=merchant_id, id=new_id("cat"), code=code, name=name, parent_id=parent_id, created_at=now
    )
    session.add(category)
    session.flush()
    return category


def _check_prices(list_price: int, member_price: int | None, light_member_price: int | None = None) -> None:
    if member_price is not None and member_price > list_price:
        raise InvalidInput(
            "sku.member_price_above_list", "The member price cannot be higher than the list price."
        )
    if light_member_price is not None and light_member_price > list_price:
        raise InvalidInput(
            "sku.light_member_price_above_list",
            "The light-member price cannot be higher than the list price.",
        )


def create_product(
    session: Session,
    *,
    merchant_id: str,
    title: str,
    description: str,
    category_id: str | None,
    tags: list[str],
    skus: list[dict[str, Any]],
    now: datetime,
) -> tuple[Product, list[Sku]]:
    if category_id is not None:
        get_owned(session, Category, merchant_id, category_id, what="Category")
    product = Product(
        merchant_id=merchant_id,
        id=new_id("prd"),
        title=title,
        description=description,
        category_id=category_id,
        tags=tags,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    session.flush()
    created = [add_sku(session, merchant_id=merchant_id, product=product, now=now, **sku) for sku in skus]
    return product, created


def add_sku(
    session: Session,
    *,
    merchant_id: str,
    product: Product,
    code: str,
    name: str,
    list_price: int,
    member_price: int | None = None,
    light_member_price: int | None = None,
    attributes: dict[str, Any] | None = None,
    now: datetime,
) -> Sku:
    _check_prices(list_price, member_price, light_member_price)
    if session.scalar(select(Sku.id).where(owned(Sku, merchant_id), Sku.code == code)):
        raise Conflict("sku.code_taken", f"A SKU with code '{code}' already exists.")
    sku = Sku(
        merchant_id=merchant_id,
        id=new_id("sku"),
        product_id=product.id,
        code=code,
        name=name,
        list_price=list_price,
        member_price=member_price,
        light_member_price=light_member_price,
        attributes=attributes or {},
        created_at=now,
        updated_at=now,
    )
    session.add(sku)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same code
        raise Conflict("sku.code_taken", f"A SKU with code '{code}' already exists.") from exc
    return sku


def update_product(
    session: Session, *, merchant_id: str, product_id: str, changes: dict[str, Any]
) -> Product:
    product = get_owned(session, Product, merchant_id, product_id, what="Product")
    _refuse_nulls(changes, nullable={"category_id"})
    if changes.get("category_id"):
        get_owned(session, Category, merchant_id, changes["category_id"], what="Category")
    for field, value in changes.items():
        setattr(product, field, value)
    session.flush()
    return product


def update_sku(session: Session, *, merchant_id: str, sku_id: str, changes: dict[str, Any]) -> Sku:
    sku = get_owned(session, Sku, merchant_id, sku_id, what="SKU")
    _refuse_nulls(changes, nullable={"member_price", "light_member_price"})
    list_price = changes.get("list_price", sku.list_price)
    member_price = changes["member_price"] if "member_price" in changes else sku.member_price
    light = changes["light_member_price"] if "light_member_price" in changes else sku.light_member_price
    _check_prices(list_price, member_price, light)
    for field, value in changes.items():
        setattr(sku, field, value)
    session.flush()
    return sku


def _refuse_nulls(changes: dict[str, Any], *, nullable: set[str]) -> None:
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise InvalidInput("request.null_field", f"'{field}' cannot be cleared; give it a value.")


def skus_of(session: Session, merchant_id: str, product_ids: list[str]) -> dict[str, list[Sku]]:
    result: dict[str, list[Sku]] = {pid: [] for pid in product_ids}
    if product_ids:
        rows = session.scalars(
            select(Sku).where(owned(Sku, merchant_id), Sku.product_id.in_(product_ids)).order_by(Sku.id)
        )
        for sku in rows:
            result[sku.product_id].append(sku)
    return result
