"""Stores and guides: each store's figures, opening hours and fulfilment settings; the guide
leaderboard with commission; the commission rules (the same calls as ``/stores``,
``/reports/stores``, ``/reports/guides`` and ``/commission-rules``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.web import PageError, Viewer, attempt, check_csrf, redirect, render, require
from shoplet.errors import ShopletError
from shoplet.guides import commissions
from shoplet.guides import service as guide_service
from shoplet.inventory import service as inventory
from shoplet.inventory.hours import DAYS
from shoplet.inventory.models import StockLocation
from shoplet.inventory.schemas import StorePatch
from shoplet.reports import service as reports
from shoplet.scoping import owned
from shoplet.tenancy.models import Role, Staff
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

REPORT_DAYS = 30
NUMBERS = (
    "prep_minutes",
    "pickup_hours",
    "delivery_radius_m",
    "slot_minutes",
    "slot_capacity",
    "lead_minutes",
    "days_ahead",
)


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    until = rt.clock()
    since = until - timedelta(days=REPORT_DAYS)
    with rt.db.unit_of_work(write=False) as s:
        locations = list(
            s.scalars(
                select(StockLocation).where(owned(StockLocation, viewer.tenant)).order_by(StockLocation.code)
            )
        )
        figures = {
            f.store_id: f for f in reports.by_store(s, merchant_id=viewer.tenant, since=since, until=until)
        }
        sold = {
            g.guide_id: g for g in reports.by_guide(s, merchant_id=viewer.tenant, since=since, until=until)
        }
        rules = commissions.rules(s, viewer.tenant)
        bound = guide_service.bound_counts(s, viewer.tenant)
        names = {
            x.id: x.name
            for x in s.scalars(select(Staff).where(owned(Staff, viewer.tenant), Staff.role == Role.GUIDE))
        }
    # Every guide, with what was sold through them (nothing yet: zeros), most net revenue first.
    guides = sorted(
        ((gid, name, sold.get(gid)) for gid, name in names.items()),
        key=lambda x: (-(x[2].net_revenue if x[2] else 0), x[1]),
    )
    extra.setdefault("errors", {})
    return render(
        request,
        viewer,
        "stores.html",
        status=status,
        locations=locations,
        figures=figures,
        guides=guides,
        rules=rules,
        bound=bound,
        names={**names, **{x.id: x.name for x in locations}},
        days=DAYS,
        report_days=REPORT_DAYS,
        **extra,
    )


@router.get("/stores")
def stores(request: Request) -> Response:
    return _page(request, require(request, "stores"))


def store_changes(form: Any) -> dict[str, Any]:
    """The store's hours and fulfilment settings from the form (checked by ``StorePatch``)."""
    hours = {}
    for day in DAYS:
        opens, closes = form.get(f"{day}-open", "").strip(), form.get(f"{day}-close", "").strip()
        if opens or closes:
            hours[day] = [opens, closes]
    fulfilment: dict[str, Any] = {"pickup": form.get("pickup") == "on"}
    for field in NUMBERS:
        text = form.get(field, "").strip()
        fulfilment[field] = int(text) if text.isdigit() else text
    fee = form.get("delivery_fee_yuan", "").strip() or "0"
    fulfilment["delivery_fee"] = round(float(fee) * 100) if fee.replace(".", "", 1).isdigit() else fee
    return {"opening_hours": hours, "fulfilment": fulfilment}


@router.post("/stores/{store_id}")
async def update_store(request: Request, store_id: str) -> Response:
    viewer = require(request, "stores")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    try:
        patch = StorePatch.model_validate(store_changes(form))
        with rt.db.unit_of_work() as s:
            inventory.update_location(
                s,
                merchant_id=viewer.tenant,
                location_id=store_id,
                changes=patch.model_dump(exclude_unset=True),
            )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _page(request, viewer, status=422, errors={store_id: f"{where}: {first.get('msg')}"})
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, errors={store_id: error.detail})
    return redirect(f"/console/stores#store-{store_id}", request)


@router.post("/commission-rules")
async def set_rule(request: Request) -> Response:
    viewer = require(request, "stores")
    form = await check_csrf(request, viewer)
    if viewer.role != Role.ADMIN:
        raise PageError(403, "Your role cannot open this screen.")
    scope = form.get("scope", "")
    target = form.get("target_id") or None
    rate = form.get("rate_percent", "").strip()
    try:
        rate_bp = round(float(rate) * 100)
    except ValueError:
        return _page(
            request, viewer, status=422, errors={"rule": "Give the rate as a percent, like 3 or 2.5."}
        )
    if scope not in ("merchant", "store", "guide") or not 0 <= rate_bp <= 10_000:
        return _page(
            request, viewer, status=422, errors={"rule": "Give the rate as a percent, like 3 or 2.5."}
        )
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            commissions.set_rule(
                s,
                merchant_id=viewer.tenant,
                scope=scope,
                target_id=None if scope == "merchant" else target,
                rate_bp=rate_bp,
                now=rt.clock(),
            )
    except ShopletError as error:
        if error.status == 404 and error.code != "commission.target_not_found":
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=422, errors={"rule": error.detail})
    return redirect("/console/stores#rules", request)


@router.post("/commission-rules/delete")
async def delete_rule(request: Request) -> Response:
    """Remove a store's or a guide's rate (the next more general one applies again)."""
    viewer = require(request, "stores")
    form = await check_csrf(request, viewer)
    if viewer.role != Role.ADMIN:
        raise PageError(403, "Your role cannot open this screen.")
    scope, target = form.get("scope", ""), form.get("target_id") or None
    if scope not in ("merchant", "store", "guide"):
        raise PageError(404, "Page not found")
    refused = attempt(
        request,
        lambda s, now: commissions.delete_rule(s, merchant_id=viewer.tenant, scope=scope, target_id=target),
    )
    if refused is not None:
        return _page(request, viewer, status=refused.status, errors={"rule": refused.detail})
    return redirect("/console/stores#rules", request)
