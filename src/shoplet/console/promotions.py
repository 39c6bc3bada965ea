"""Promotions: the list with pause / resume / stop, creating one of every kind with its
scope, stack group and window, and "try a cart": a basket priced through the engine with
the promotions running now, with and without the one being set up, showing each applied
rule and its allocation to the lines (the same calls as ``/promotions`` and checkout)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.forms import catalogue_of, stores_of, whole_number, yuan_to_fen
from shoplet.console.web import PageError, Viewer, attempt, check_csrf, redirect, render, require
from shoplet.customers.models import HOST_APPS
from shoplet.errors import ShopletError
from shoplet.orders import basket
from shoplet.promotions import service as promotions
from shoplet.promotions.models import Promotion
from shoplet.promotions.schemas import PromotionIn, PromotionPatch
from shoplet.scoping import get_owned, owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

KINDS = promotions.KINDS
ACTIONS = ("pause", "resume", "stop")
MONEY = ("price", "every", "off", "cap", "threshold")
COUNTS = ("percent_off", "count", "buy", "get")


def _form_fields(form: Any, viewer: Viewer, errors: dict[str, str]) -> dict[str, Any]:
    """The request fields the promotion form holds (amounts in yuan → fen; dates → the shop's midnight)."""
    body: dict[str, Any] = {"name": form.get("name", "").strip()}
    for field in MONEY:
        body[field] = yuan_to_fen(form.get(field, ""), field, errors)
    for field in COUNTS:
        body[field] = whole_number(form.get(field, ""), field, errors)
    categories = [c for c in form.getlist("categories") if c]
    body["scope"] = {"categories": categories} if categories else {}
    body["store_ids"] = [x for x in form.getlist("store_ids") if x]
    body["host_apps"] = [x for x in form.getlist("host_apps") if x]
    body["group"] = form.get("group", "").strip() or None
    body["exclusive"] = form.get("exclusive") == "on"
    for field in ("starts", "ends"):
        text = form.get(field, "").strip()
        body[f"{field}_at"] = None
        if text:
            try:
                body[f"{field}_at"] = datetime.combine(
                    datetime.fromisoformat(text).date(), time(), tzinfo=viewer.zone
                )
            except ValueError:
                errors[field] = "Dates are YYYY-MM-DD."
    return body


def _validated(model: Any, body: dict[str, Any], errors: dict[str, str]) -> Any:
    if errors:
        return None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            where = str(err["loc"][0]) if err.get("loc") else "form"
            errors.setdefault(where, str(err.get("msg", "is invalid")))
        return None


def proposal_request(form: Any, viewer: Viewer) -> tuple[PromotionIn | None, dict[str, str]]:
    """The API's create request from the form; errors by field name."""
    errors: dict[str, str] = {}
    body = _form_fields(form, viewer, errors)
    body["kind"] = form.get("kind", "")
    return _validated(PromotionIn, {k: v for k, v in body.items() if v is not None}, errors), errors


def patch_request(form: Any, viewer: Viewer) -> tuple[PromotionPatch | None, dict[str, str]]:
    """The API's edit request from the form: every rule field, scope, group and window as shown."""
    errors: dict[str, str] = {}
    body = _form_fields(form, viewer, errors)
    if not body["name"]:
        errors["name"] = "Give the promotion a name."
    return _validated(PromotionPatch, body, errors), errors


def form_of(promotion: Promotion, viewer: Viewer) -> dict[str, Any]:
    """A promotion as the form shows it (fen → yuan, moments → the shop's dates)."""
    values: dict[str, Any] = {
        "name": promotion.name,
        "kind": promotion.kind,
        "group": promotion.stack_group or "",
    }
    for field in MONEY:
        if field in promotion.params:
            values[field] = f"{promotion.params[field] / 100:.2f}"
    for field in COUNTS:
        if field in promotion.params:
            values[field] = str(promotion.params[field])
    for field in ("starts", "ends"):
        moment = getattr(promotion, f"{field}_at")
        values[field] = moment.astimezone(viewer.zone).date().isoformat() if moment else ""
    values["categories"] = list(promotion.scope.get("categories", []))
    values["store_ids"] = list(promotion.store_ids)
    values["host_apps"] = list(promotion.host_apps)
    values["exclusive"] = promotion.exclusive
    return values


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    now = rt.clock()
    with rt.db.unit_of_work(write=False) as s:
        rows = list(
            s.scalars(
                select(Promotion)
                .where(owned(Promotion, viewer.tenant))
                .order_by(Promotion.created_at.desc(), Promotion.id)
                .limit(200)
            )
        )
        listed = [(p, promotions.state(p, now)) for p in rows]
        skus, categories = catalogue_of(s, viewer.tenant)
        stores = stores_of(s, viewer.tenant)
    extra.setdefault("form", {})
    extra.setdefault("errors", {})
    return render(
        request,
        viewer,
        "promotions.html",
        status=status,
        promotions=listed,
        kinds=KINDS,
        skus=skus,
        categories=categories,
        stores=stores,
        hosts=HOST_APPS,
        **extra,
    )


@router.get("/promotions")
def promotion_list(request: Request, notice: str = "") -> Response:
    return _page(request, require(request, "promotions"), notice=notice)


@router.post("/promotions")
async def promotion_create(request: Request) -> Response:
    viewer = require(request, "promotions")
    await check_csrf(request, viewer)
    form = await request.form()
    body, errors = proposal_request(form, viewer)
    if body is not None:
        rt = request.app.state.runtime
        try:
            with rt.db.unit_of_work() as s:
                promotions.create_from_request(s, merchant_id=viewer.tenant, body=body, now=rt.clock())
        except ShopletError as error:
            errors = {"form": error.detail}
    if errors:
        return _page(request, viewer, status=422, form=dict(form), errors=errors)
    return redirect("/console/promotions?notice=created", request)


def _cart(form: Any) -> list[tuple[str, int]]:
    items = []
    for field, value in form.items():
        if field.startswith("cart-") and isinstance(value, str) and value.strip() not in ("", "0"):
            if not value.strip().isdigit():
                raise PageError(422, "Quantities are whole numbers.")
            items.append((field.removeprefix("cart-"), int(value)))
    return items


@router.post("/promotions/try")
async def try_cart(request: Request) -> Response:
    """Price the basket twice — the promotions running now, then with the proposal too."""
    viewer = require(request, "promotions")
    await check_csrf(request, viewer)
    form = await request.form()
    rt = request.app.state.runtime
    body, errors = proposal_request(form, viewer)
    items = _cart(form)
    if not items:
        return render(request, viewer, "promotion_try.html", status=422, error="Add something to the cart.")
    try:
        with rt.db.unit_of_work(write=False) as s:
            store = str(form.get("store") or "")
            member = form.get("member") == "on"
            host = str(form.get("try_host") or "") or None
            args = dict(
                merchant_id=viewer.tenant,
                location_id=store,
                items=items,
                pricer=rt.pricer,
                member=member,
                host_app=host,
            )
            _lines, before, _ = basket.try_cart(s, proposal=None, now=rt.clock(), **args)
            proposal = (
                promotions.proposed(s, merchant_id=viewer.tenant, body=body) if body is not None else None
            )
            lines, after, names = basket.try_cart(s, proposal=proposal, now=rt.clock(), **args)
    except ShopletError as error:
        return render(request, viewer, "promotion_try.html", status=error.status, error=error.detail)
    names["proposed"] = str(form.get("name") or "") or "(proposed)"
    return render(
        request,
        viewer,
        "promotion_try.html",
        lines=lines,
        before=before,
        after=after,
        names=names,
        proposal_errors=errors if body is None and form.get("kind") else {},
    )


@router.get("/promotions/{promotion_id}")
def promotion_page(request: Request, promotion_id: str) -> Response:
    viewer = require(request, "promotions")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        try:
            promotion = get_owned(s, Promotion, viewer.tenant, promotion_id, what="Promotion")
        except ShopletError as error:
            raise PageError(404, error.detail) from None
        _skus, categories = catalogue_of(s, viewer.tenant)
        stores = stores_of(s, viewer.tenant)
    return render(
        request,
        viewer,
        "promotion.html",
        promotion=promotion,
        form=form_of(promotion, viewer),
        errors={},
        categories=categories,
        stores=stores,
        hosts=HOST_APPS,
    )


@router.post("/promotions/{promotion_id}/edit")
async def promotion_edit(request: Request, promotion_id: str) -> Response:
    """Edit a promotion: a new version; orders already placed keep the one they were priced with."""
    viewer = require(request, "promotions")
    await check_csrf(request, viewer)
    form = await request.form()
    body, errors = patch_request(form, viewer)
    rt = request.app.state.runtime
    if body is not None:
        try:
            with rt.db.unit_of_work() as s:
                promotions.update_from_request(
                    s, merchant_id=viewer.tenant, promotion_id=promotion_id, body=body, now=rt.clock()
                )
        except ShopletError as error:
            if error.status == 404:
                raise PageError(404, error.detail) from None
            errors = {"form": error.detail}
    if errors:
        with rt.db.unit_of_work(write=False) as s:
            try:
                promotion = get_owned(s, Promotion, viewer.tenant, promotion_id, what="Promotion")
            except ShopletError as error:
                raise PageError(404, error.detail) from None
            _skus, categories = catalogue_of(s, viewer.tenant)
            stores = stores_of(s, viewer.tenant)
        shown = {
            **dict(form),
            "kind": promotion.kind,
            **{k: form.getlist(k) for k in ("categories", "store_ids", "host_apps")},
        }
        return render(
            request,
            viewer,
            "promotion.html",
            status=422,
            promotion=promotion,
            form=shown,
            errors=errors,
            categories=categories,
            stores=stores,
            hosts=HOST_APPS,
        )
    return redirect("/console/promotions?notice=saved", request)


@router.post("/promotions/{promotion_id}/{action}")
async def promotion_transition(request: Request, promotion_id: str, action: str) -> Response:
    viewer = require(request, "promotions")
    await check_csrf(request, viewer)
    if action not in ACTIONS:
        raise PageError(404, "Page not found")
    refused = attempt(
        request,
        lambda s, now: promotions.transition(
            s, merchant_id=viewer.tenant, promotion_id=promotion_id, action=action, now=now
        ),
    )
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect("/console/promotions", request)
