"""Coupon templates: the list with issued / claimed / used / use rate / GMV / cost, creating
one, pausing, resuming and stopping (the same service calls as ``/coupon-templates``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.forms import sku_choices, stores_of, whole_number, yuan_to_fen
from shoplet.console.web import PageError, attempt, check_csrf, redirect, render, require
from shoplet.coupons import redemption
from shoplet.coupons import service as coupons
from shoplet.coupons.models import CouponTemplate
from shoplet.coupons.schemas import CouponTemplateIn
from shoplet.customers.models import HOST_APPS
from shoplet.errors import ShopletError
from shoplet.scoping import owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

KINDS = ("cash", "threshold", "percent", "exchange", "free_delivery")
AUDIENCES = ("everyone", "new_customers", "members", "light_members", "followers", "tags")
ACTIONS = ("pause", "resume", "stop")


def template_request(form: Any) -> tuple[CouponTemplateIn | None, dict[str, str]]:
    """The API's request model from the form (every kind, its audience, stores and host apps);
    errors by field name."""
    errors: dict[str, str] = {}
    kind = form.get("kind", "")
    audience = form.get("audience", "everyone")
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "kind": kind,
        "off": yuan_to_fen(form.get("off", ""), "off", errors),
        "threshold": yuan_to_fen(form.get("threshold", ""), "threshold", errors),
        "percent_off": whole_number(form.get("percent_off", ""), "percent_off", errors),
        "max_off": yuan_to_fen(form.get("max_off", ""), "max_off", errors),
        "sku": (form.get("sku") or None) if kind == "exchange" else None,
        "price": yuan_to_fen(form.get("price", ""), "price", errors),
        "total_stock": whole_number(form.get("total_stock", ""), "total_stock", errors),
        "per_customer_limit": whole_number(form.get("per_customer_limit", ""), "per_customer_limit", errors),
        "validity": "relative",
        "valid_days": whole_number(form.get("valid_days", ""), "valid_days", errors) or 30,
        "audience": {
            "kind": audience,
            "tags": [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
            if audience == "tags"
            else [],
        },
        "store_ids": [x for x in form.getlist("store_ids") if x] if hasattr(form, "getlist") else [],
        "host_apps": [x for x in form.getlist("host_apps") if x] if hasattr(form, "getlist") else [],
        "stackable": form.get("stackable") == "on",
        "exclusive_with_promotions": form.get("exclusive_with_promotions") == "on",
    }
    if kind not in KINDS:
        errors["kind"] = "Choose a kind."
    if errors:
        return None, errors
    try:
        return CouponTemplateIn.model_validate({k: v for k, v in body.items() if v is not None}), {}
    except ValidationError as exc:
        for err in exc.errors():
            where = str(err["loc"][0]) if err.get("loc") else "form"
            errors.setdefault(where, str(err.get("msg", "is invalid")))
        return None, errors


def _page(request: Request, viewer: Any, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        templates = list(
            s.scalars(
                select(CouponTemplate)
                .where(owned(CouponTemplate, viewer.tenant))
                .order_by(CouponTemplate.created_at.desc(), CouponTemplate.id)
                .limit(200)
            )
        )
        figures = redemption.figures_of(s, merchant_id=viewer.tenant, templates=templates)
        skus = sku_choices(s, viewer.tenant)
        stores = stores_of(s, viewer.tenant)
    rows = list(zip(templates, figures, strict=True))
    return render(
        request,
        viewer,
        "coupons.html",
        status=status,
        rows=rows,
        kinds=KINDS,
        audiences=AUDIENCES,
        skus=skus,
        stores=stores,
        hosts=HOST_APPS,
        **extra,
    )


@router.get("/coupons")
def coupon_list(request: Request, notice: str = "") -> Response:
    viewer = require(request, "coupons")
    return _page(request, viewer, notice=notice, form={}, errors={})


@router.post("/coupons")
async def coupon_create(request: Request) -> Response:
    viewer = require(request, "coupons")
    await check_csrf(request, viewer)
    form = await request.form()
    body, errors = template_request(form)
    if body is not None:
        rt = request.app.state.runtime
        try:
            with rt.db.unit_of_work() as s:
                coupons.create_from_request(s, merchant_id=viewer.tenant, body=body, now=rt.clock())
        except ShopletError as error:
            errors = {"form": error.detail}
    if errors:
        return _page(request, viewer, status=422, form=dict(form), errors=errors, notice="")
    return redirect("/console/coupons?notice=created", request)


@router.post("/coupons/{template_id}/{action}")
async def coupon_transition(request: Request, template_id: str, action: str) -> Response:
    viewer = require(request, "coupons")
    await check_csrf(request, viewer)
    if action not in ACTIONS:
        raise PageError(404, "Page not found")
    refused = attempt(
        request,
        lambda s, now: coupons.transition(
            s, merchant_id=viewer.tenant, template_id=template_id, action=action, now=now
        ),
    )
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect("/console/coupons", request)
