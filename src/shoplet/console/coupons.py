"""Coupon templates: the list with issued / claimed / used / use rate / GMV / cost, creating
one, pausing, resuming and stopping (the same service calls as ``/coupon-templates``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.web import PageError, attempt, check_csrf, redirect, render, require
from shoplet.coupons import redemption
from shoplet.coupons import service as coupons
from shoplet.coupons.models import CouponTemplate
from shoplet.coupons.schemas import CouponTemplateIn
from shoplet.errors import ShopletError
from shoplet.scoping import owned

router = APIRouter(prefix="/console")

KINDS = ("cash", "threshold", "percent")
ACTIONS = ("pause", "resume", "stop")
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


def _int(text: str, field: str, errors: dict[str, str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        errors[field] = "Give a whole number."
        return None
    return int(text)


def template_request(form: dict[str, str]) -> tuple[CouponTemplateIn | None, dict[str, str]]:
    """The API's request model from the form; errors by field name."""
    errors: dict[str, str] = {}
    kind = form.get("kind", "")
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "kind": kind,
        "off": yuan_to_fen(form.get("off", ""), "off", errors),
        "threshold": yuan_to_fen(form.get("threshold", ""), "threshold", errors),
        "percent_off": _int(form.get("percent_off", ""), "percent_off", errors),
        "max_off": yuan_to_fen(form.get("max_off", ""), "max_off", errors),
        "total_stock": _int(form.get("total_stock", ""), "total_stock", errors),
        "per_customer_limit": _int(form.get("per_customer_limit", ""), "per_customer_limit", errors),
        "validity": "relative",
        "valid_days": _int(form.get("valid_days", ""), "valid_days", errors) or 30,
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
    rows = list(zip(templates, figures, strict=True))
    return render(request, viewer, "coupons.html", status=status, rows=rows, kinds=KINDS, **extra)


@router.get("/coupons")
def coupon_list(request: Request, notice: str = "") -> Response:
    viewer = require(request, "coupons")
    return _page(request, viewer, notice=notice, form={}, errors={})


@router.post("/coupons")
async def coupon_create(request: Request) -> Response:
    viewer = require(request, "coupons")
    form = await check_csrf(request, viewer)
    body, errors = template_request(form)
    if body is not None:
        rt = request.app.state.runtime
        try:
            with rt.db.unit_of_work() as s:
                coupons.create_from_request(s, merchant_id=viewer.tenant, body=body, now=rt.clock())
        except ShopletError as error:
            errors = {"form": error.detail}
    if errors:
        return _page(request, viewer, status=422, form=form, errors=errors, notice="")
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
