"""Catalogue: categories, products, SKUs."""

from __future__ import annotations

from fastapi import APIRouter, Query

from shoplet.auth import AsOperator, AsStaff, Db, Now
from shoplet.catalog import service
from shoplet.catalog.models import Category, Product, Sku
from shoplet.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    SkuIn,
    SkuOut,
    SkuPatch,
)
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, scoped
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["catalogue"])


def product_out(product: Product, skus: list[Sku]) -> ProductOut:
    fields = {c.name: getattr(product, c.name) for c in Product.__table__.columns}
    return ProductOut(**fields, skus=[SkuOut.model_validate(s) for s in skus])


@router.post("/categories", response_model=CategoryOut, status_code=201)
def create_category(
    body: CategoryIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> CategoryOut:
    with db.unit_of_work() as s:
        return CategoryOut.model_validate(
            service.create_category(
                s, merchant_id=p.tenant, code=body.code, name=body.name, parent_id=body.parent_id, now=now
            )
        )


@router.get("/categories", response_model=Page[CategoryOut])
def list_categories(p: AsStaff, db: Db, page: PageQuery) -> Page[CategoryOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(Category, p.tenant), Category.id, page)
        return Page(items=[CategoryOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(
    body: ProductIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> ProductOut:
    """A product with its SKUs (prices in fen)."""
    with db.unit_of_work() as s:
        product, skus = service.create_product(
            s,
            merchant_id=p.tenant,
            title=body.title,
            description=body.description,
            category_id=body.category_id,
            tags=body.tags,
            skus=[k.model_dump() for k in body.skus],
            now=now,
        )
        return product_out(product, skus)


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    category_id: str | None = Query(None, max_length=32),
    status: str | None = Query(None, pattern="^(active|archived)$"),
) -> Page[ProductOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Product, p.tenant)
        if category_id:
            stmt = stmt.where(Product.category_id == category_id)
        if status:
            stmt = stmt.where(Product.status == status)
        rows, cursor = paginate(s, stmt, Product.id, page)
        skus = service.skus_of(s, p.tenant, [r.id for r in rows])
        return Page(items=[product_out(r, skus[r.id]) for r in rows], next_cursor=cursor)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, p: AsStaff, db: Db) -> ProductOut:
    with db.unit_of_work(write=False) as s:
        product = get_owned(s, Product, p.tenant, product_id, what="Product")
        return product_out(product, service.skus_of(s, p.tenant, [product.id])[product.id])


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: str, body: ProductPatch, p: AsOperator, db: Db) -> ProductOut:
    with db.unit_of_work() as s:
        product = service.update_product(
            s, merchant_id=p.tenant, product_id=product_id, changes=body.model_dump(exclude_unset=True)
        )
        return product_out(product, service.skus_of(s, p.tenant, [product.id])[product.id])


@router.post("/products/{product_id}/skus", response_model=SkuOut, status_code=201)
def add_sku(
    product_id: str,
    body: SkuIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> SkuOut:
    with db.unit_of_work() as s:
        product = get_owned(s, Product, p.tenant, product_id, what="Product")
        return SkuOut.model_validate(
            service.add_sku(s, merchant_id=p.tenant, product=product, now=now, **body.model_dump())
        )


@router.get("/skus/{sku_id}", response_model=SkuOut)
def get_sku(sku_id: str, p: AsStaff, db: Db) -> SkuOut:
    with db.unit_of_work(write=False) as s:
        return SkuOut.model_validate(get_owned(s, Sku, p.tenant, sku_id, what="SKU"))


@router.patch("/skus/{sku_id}", response_model=SkuOut)
def update_sku(sku_id: str, body: SkuPatch, p: AsOperator, db: Db) -> SkuOut:
    with db.unit_of_work() as s:
        return SkuOut.model_validate(
            service.update_sku(
                s, merchant_id=p.tenant, sku_id=sku_id, changes=body.model_dump(exclude_unset=True)
            )
        )
