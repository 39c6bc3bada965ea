"""The catalogue: products and their SKUs with list and member prices, stock by location
(on hand, reserved, free) with adjustments and transfers between locations, and adding a
product (the same calls as ``/products``, ``/skus/{id}``, ``/stores/{id}/stock/{sku}/adjustments``
and ``/stock-transfers``)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet import idempotency
from shoplet.catalog import service as catalog
from shoplet.catalog.models import Category, Product
from shoplet.catalog.schemas import ProductIn, SkuPatch
from shoplet.console.forms import yuan_to_fen
from shoplet.console.web import PageError, Viewer, check_csrf, redirect, render, require
from shoplet.errors import ShopletError
from shoplet.inventory import service as inventory
from shoplet.inventory.models import StockLevel, StockLocation
from shoplet.inventory.schemas import StockAdjustment
from shoplet.scoping import owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        products = list(
            s.scalars(select(Product).where(owned(Product, viewer.tenant)).order_by(Product.title).limit(300))
        )
        skus = catalog.skus_of(s, viewer.tenant, [p.id for p in products])
        locations = list(
            s.scalars(
                select(StockLocation)
                .where(owned(StockLocation, viewer.tenant), StockLocation.active.is_(True))
                .order_by(StockLocation.code)
            )
        )
        levels = {
            (lvl.sku_id, lvl.location_id): lvl
            for lvl in s.scalars(select(StockLevel).where(owned(StockLevel, viewer.tenant)))
        }
        categories = list(
            s.scalars(select(Category).where(owned(Category, viewer.tenant)).order_by(Category.code))
        )
    extra.setdefault("errors", {})
    extra.setdefault("form", {})
    extra.setdefault("transfer_key", secrets.token_urlsafe(16))
    return render(
        request,
        viewer,
        "catalogue.html",
        status=status,
        products=products,
        skus=skus,
        locations=locations,
        levels=levels,
        categories=categories,
        **extra,
    )


@router.get("/catalogue")
def catalogue(request: Request, notice: str = "") -> Response:
    return _page(request, require(request, "catalogue"), notice=notice)


@router.post("/catalogue/products")
async def add_product(request: Request) -> Response:
    viewer = require(request, "catalogue")
    form = await check_csrf(request, viewer)
    errors: dict[str, str] = {}
    list_price = yuan_to_fen(form.get("list_price", ""), "list_price", errors)
    member_price = yuan_to_fen(form.get("member_price", ""), "member_price", errors)
    body = None
    if not errors:
        sku = {
            "code": form.get("code", "").strip(),
            "name": form.get("sku_name", "").strip(),
            "list_price": list_price,
        }
        if member_price is not None:
            sku["member_price"] = member_price
        try:
            body = ProductIn.model_validate(
                {
                    "title": form.get("title", "").strip(),
                    "category_id": form.get("category_id") or None,
                    "skus": [sku],
                }
            )
        except ValidationError as exc:
            for err in exc.errors():
                loc = [str(x) for x in err.get("loc", ())]
                errors.setdefault(loc[-1] if loc else "form", str(err.get("msg")))
    if body is not None:
        rt = request.app.state.runtime
        try:
            with rt.db.unit_of_work() as s:
                catalog.create_product(
                    s,
                    merchant_id=viewer.tenant,
                    title=body.title,
                    description="",
                    category_id=body.category_id,
                    tags=[],
                    skus=[x.model_dump() for x in body.skus],
                    now=rt.clock(),
                )
        except ShopletError as error:
            errors = {"form": error.detail}
    if errors:
        return _page(request, viewer, status=422, errors=errors, form=form)
    return redirect("/console/catalogue?notice=product", request)


@router.post("/catalogue/skus/{sku_id}/prices")
async def set_prices(request: Request, sku_id: str) -> Response:
    viewer = require(request, "catalogue")
    form = await check_csrf(request, viewer)
    errors: dict[str, str] = {}
    changes = {
        "list_price": yuan_to_fen(form.get("list_price", ""), "list_price", errors),
        "member_price": yuan_to_fen(form.get("member_price", ""), "member_price", errors),
    }
    if changes["list_price"] is None:
        errors.setdefault("list_price", "Give the list price.")
    if errors:
        return _page(request, viewer, status=422, errors={"form": next(iter(errors.values())), "sku": sku_id})
    rt = request.app.state.runtime
    try:
        patch = SkuPatch.model_validate(changes)
        with rt.db.unit_of_work() as s:
            catalog.update_sku(
                s,
                merchant_id=viewer.tenant,
                sku_id=sku_id,
                changes=patch.model_dump(include={"list_price", "member_price"}),
            )
    except ValidationError:
        return _page(
            request, viewer, status=422, errors={"form": "Prices are amounts in yuan.", "sku": sku_id}
        )
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, errors={"form": error.detail, "sku": sku_id})
    return redirect(f"/console/catalogue#sku-{sku_id}", request)


@router.post("/catalogue/stock/{location_id}/{sku_id}")
async def adjust_stock(request: Request, location_id: str, sku_id: str) -> Response:
    viewer = require(request, "catalogue")
    form = await check_csrf(request, viewer)
    delta = form.get("delta", "").strip()
    rt = request.app.state.runtime
    try:
        body = StockAdjustment.model_validate(
            {
                "delta": int(delta) if delta.lstrip("-").isdigit() else None,
                "reason": form.get("reason", "").strip(),
            }
        )
        with rt.db.unit_of_work() as s:
            inventory.adjust(
                s,
                merchant_id=viewer.tenant,
                location_id=location_id,
                sku_id=sku_id,
                delta=body.delta,
                reason=body.reason,
                now=rt.clock(),
            )
    except ValidationError:
        return _page(
            request,
            viewer,
            status=422,
            errors={"form": "Give a whole number of units and a reason.", "sku": sku_id},
        )
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, errors={"form": error.detail, "sku": sku_id})
    return redirect(f"/console/catalogue#sku-{sku_id}", request)


@router.post("/catalogue/transfers")
async def transfer_stock(request: Request) -> Response:
    """Move units of one SKU between two locations (all or nothing; once per submit)."""
    viewer = require(request, "catalogue")
    form = await check_csrf(request, viewer)
    quantity = form.get("quantity", "").strip()
    if not quantity.isdigit() or not 0 < int(quantity) <= 1_000_000 or not form.get("reason", "").strip():
        return _page(request, viewer, status=422, transfer_error="Give a whole number of units and a reason.")
    fields: dict[str, Any] = {
        "from_location_id": form.get("from", ""),
        "to_location_id": form.get("to", ""),
        "sku_id": form.get("sku", ""),
        "quantity": int(quantity),
        "reason": form.get("reason", "").strip()[:200],
    }
    rt = request.app.state.runtime
    now = rt.clock()

    def work(s: Any) -> tuple[int, dict]:
        record = inventory.transfer(
            s,
            merchant_id=viewer.tenant,
            from_location_id=fields["from_location_id"],
            to_location_id=fields["to_location_id"],
            items={fields["sku_id"]: fields["quantity"]},
            reason=fields["reason"],
            by=f"console:{viewer.staff_id}",
            now=now,
        )
        return 201, {"transfer_id": record.id}

    try:
        idempotency.run(
            rt.db,
            merchant_id=viewer.tenant,
            scope=f"console:{viewer.staff_id}",
            key=form.get("key") or None,
            operation="stock-transfer",
            payload=fields,
            work=work,
        )
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, transfer_error=error.detail)
    return redirect("/console/catalogue?notice=transfer", request)
