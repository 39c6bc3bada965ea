"""Group buying, flash sales and periodic plans: one screen with the three lists and their
figures (groups opened / succeeded / failed and the conversion; flash units sold and the
sell-out time; plans active, delivered and cancelled), pause / resume / stop, a form to
create each, and a page per group-buy campaign listing its groups. The same service calls
as ``/group-campaigns``, ``/flash-sales`` and ``/periodic-plans``."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from shoplet.campaigns import flash, groups, plans, views
from shoplet.campaigns.models import BuyingGroup, FlashSale, GroupCampaign, Plan
from shoplet.campaigns.schemas import FlashSaleIn, GroupCampaignIn, PlanIn
from shoplet.campaigns.service import act
from shoplet.console.forms import catalogue_of, whole_number, yuan_to_fen
from shoplet.console.web import PageError, Viewer, attempt, check_csrf, redirect, render, require
from shoplet.errors import ShopletError
from shoplet.inventory.models import StockLocation
from shoplet.scoping import get_owned, owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

ACTIONS = ("pause", "resume", "stop")
KINDS = {
    "group": (GroupCampaign, "Group-buy campaign"),
    "flash": (FlashSale, "Flash sale"),
    "plan": (Plan, "Plan"),
}


def _moment(text: str, viewer: Viewer, field: str, errors: dict[str, str]) -> datetime | None:
    """A 'YYYY-MM-DDTHH:MM' form value in the shop's zone."""
    text = text.strip()
    if not text:
        errors[field] = "Give a date and time."
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        errors[field] = "Give a date and time."
        return None
    return value.replace(tzinfo=viewer.zone) if value.tzinfo is None else value


def _validated(model: type[BaseModel], body: dict[str, Any], errors: dict[str, str]) -> Any:
    if errors:
        return None
    try:
        return model.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        for err in exc.errors():
            where = str(err["loc"][0]) if err.get("loc") else "form"
            errors.setdefault(where, str(err.get("msg", "is invalid")))
        return None


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    now = rt.clock()
    m = viewer.tenant
    with rt.db.unit_of_work(write=False) as s:
        group_rows = list(
            s.scalars(
                select(GroupCampaign)
                .where(owned(GroupCampaign, m))
                .order_by(GroupCampaign.created_at.desc(), GroupCampaign.id)
                .limit(50)
            )
        )
        group_list = [(c, views.group_figures(s, m, c.id)) for c in group_rows]
        sales = list(
            s.scalars(
                select(FlashSale)
                .where(owned(FlashSale, m))
                .order_by(FlashSale.created_at.desc(), FlashSale.id)
                .limit(50)
            )
        )
        sale_list = [(x, views.flash_figures(s, m, x), flash.is_running(x, now, viewer.zone)) for x in sales]
        plan_rows = list(
            s.scalars(select(Plan).where(owned(Plan, m)).order_by(Plan.created_at.desc(), Plan.id).limit(50))
        )
        plan_list = [(p, views.plan_figures(s, m, p.id)) for p in plan_rows]
        skus, _ = catalogue_of(s, m)
        locations = list(
            s.scalars(
                select(StockLocation)
                .where(owned(StockLocation, m), StockLocation.active.is_(True))
                .order_by(StockLocation.code)
            )
        )
    local_now = now.astimezone(viewer.zone).replace(second=0, microsecond=0, tzinfo=None)
    extra.setdefault("errors", {})
    extra.setdefault("form", {})
    extra.setdefault("which", "")
    return render(
        request,
        viewer,
        "campaigns.html",
        status=status,
        group_campaigns=group_list,
        sales=sale_list,
        plans=plan_list,
        skus=skus,
        locations=locations,
        default_start=local_now.isoformat(timespec="minutes"),
        default_end=(local_now + timedelta(days=7)).isoformat(timespec="minutes"),
        **extra,
    )


@router.get("/campaigns")
def campaigns(request: Request, notice: str = "") -> Response:
    return _page(request, require(request, "campaigns"), notice=notice)


def _create(request: Request, viewer: Viewer, form: Any, which: str, build: Any, save: Any) -> Response:
    errors: dict[str, str] = {}
    body = build(form, viewer, errors)
    if body is not None:
        rt = request.app.state.runtime
        try:
            with rt.db.unit_of_work() as s:
                save(s, body, rt.clock())
        except ShopletError as error:
            errors = {"form": error.detail}
    if errors or body is None:
        return _page(request, viewer, status=422, form=dict(form), errors=errors, which=which)
    return redirect(f"/console/campaigns?notice={which}", request)


def _group_body(form: Any, viewer: Viewer, errors: dict[str, str]) -> Any:
    body: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "sku_id": form.get("sku_id", ""),
        "price": yuan_to_fen(str(form.get("price", "")), "price", errors),
        "group_size": whole_number(str(form.get("group_size", "")), "group_size", errors),
        "time_limit_minutes": (whole_number(str(form.get("hours", "")), "hours", errors) or 0) * 60 or None,
        "stock": whole_number(str(form.get("stock", "")), "stock", errors),
        "per_customer_limit": whole_number(str(form.get("limit", "")), "limit", errors),
        "starts_at": _moment(str(form.get("starts", "")), viewer, "starts", errors),
        "ends_at": _moment(str(form.get("ends", "")), viewer, "ends", errors),
        "virtual_seats": form.get("virtual_seats") == "on",
        "coupons": form.get("coupons") == "on",
    }
    return _validated(GroupCampaignIn, body, errors)


@router.post("/campaigns/groups")
async def create_group_campaign(request: Request) -> Response:
    viewer = require(request, "campaigns")
    await check_csrf(request, viewer)
    form = await request.form()
    return _create(
        request,
        viewer,
        form,
        "group",
        _group_body,
        lambda s, body, now: groups.create_campaign(
            s, merchant_id=viewer.tenant, fields=body.model_dump(), now=now
        ),
    )


def _slots(text: str, errors: dict[str, str]) -> list[list[str]]:
    slots = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        start, _, end = part.partition("-")
        try:
            slots.append(
                [
                    time.fromisoformat(start.strip()).strftime("%H:%M"),
                    time.fromisoformat(end.strip()).strftime("%H:%M"),
                ]
            )
        except ValueError:
            errors["slots"] = "Time slots are like 10:00-12:00, 20:00-21:00."
    return slots


def _flash_body(form: Any, viewer: Viewer, errors: dict[str, str]) -> Any:
    body: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "starts_at": _moment(str(form.get("starts", "")), viewer, "starts", errors),
        "ends_at": _moment(str(form.get("ends", "")), viewer, "ends", errors),
        "daily_slots": _slots(str(form.get("slots", "")), errors),
        "per_customer_limit": whole_number(str(form.get("limit", "")), "limit", errors),
        "pay_minutes": whole_number(str(form.get("pay_minutes", "")), "pay_minutes", errors),
        "items": [
            {
                "sku_id": form.get("sku_id", ""),
                "price": yuan_to_fen(str(form.get("price", "")), "price", errors),
                "stock": whole_number(str(form.get("stock", "")), "stock", errors),
            }
        ],
    }
    return _validated(FlashSaleIn, body, errors)


@router.post("/campaigns/flash")
async def create_flash_sale(request: Request) -> Response:
    viewer = require(request, "campaigns")
    await check_csrf(request, viewer)
    form = await request.form()

    def save(s: Any, body: FlashSaleIn, now: datetime) -> None:
        fields = body.model_dump(exclude={"items"})
        flash.create_sale(
            s, merchant_id=viewer.tenant, fields=fields, items=[i.model_dump() for i in body.items], now=now
        )

    return _create(request, viewer, form, "flash", _flash_body, save)


def _plan_body(form: Any, viewer: Viewer, errors: dict[str, str]) -> Any:
    body: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "sku_id": form.get("sku_id", ""),
        "quantity": whole_number(str(form.get("quantity", "")), "quantity", errors),
        "interval": form.get("interval", ""),
        "deliveries": whole_number(str(form.get("deliveries", "")), "deliveries", errors),
        "price": yuan_to_fen(str(form.get("price", "")), "price", errors),
        "mode": form.get("mode", ""),
        "location_id": form.get("location_id", ""),
        "delivery_day": whole_number(str(form.get("delivery_day", "")), "delivery_day", errors),
    }
    return _validated(PlanIn, body, errors)


@router.post("/campaigns/plans")
async def create_plan(request: Request) -> Response:
    viewer = require(request, "campaigns")
    await check_csrf(request, viewer)
    form = await request.form()
    return _create(
        request,
        viewer,
        form,
        "plan",
        _plan_body,
        lambda s, body, now: plans.create_plan(
            s, merchant_id=viewer.tenant, fields=body.model_dump(), now=now
        ),
    )


@router.get("/campaigns/group/{campaign_id}")
def group_campaign_page(request: Request, campaign_id: str) -> Response:
    """A group-buy campaign's figures and its groups, newest first."""
    viewer = require(request, "campaigns")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        try:
            campaign = groups.get_campaign(s, viewer.tenant, campaign_id)
        except ShopletError as error:
            raise PageError(404, error.detail) from None
        rows = list(
            s.scalars(
                select(BuyingGroup)
                .where(owned(BuyingGroup, viewer.tenant), BuyingGroup.campaign_id == campaign.id)
                .order_by(BuyingGroup.created_at.desc(), BuyingGroup.id)
                .limit(200)
            )
        )
        shown = views.groups_view(s, viewer.tenant, rows, rt.clock())
        figures = views.group_figures(s, viewer.tenant, campaign.id)
    return render(request, viewer, "campaign_groups.html", campaign=campaign, groups=shown, figures=figures)


@router.post("/campaigns/{kind}/{campaign_id}/{action}")
async def transition(request: Request, kind: str, campaign_id: str, action: str) -> Response:
    """Pause, resume or stop a group-buy campaign, a flash sale or a plan."""
    viewer = require(request, "campaigns")
    await check_csrf(request, viewer)
    if action not in ACTIONS or kind not in KINDS:
        raise PageError(404, "Page not found")
    model, what = KINDS[kind]

    def work(s: Any, now: datetime) -> None:
        code = {"group": "group_campaign", "flash": "flash_sale", "plan": "plan"}[kind]
        act(get_owned(s, model, viewer.tenant, campaign_id, what=what, code=code), action, now)

    refused = attempt(request, work)
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect("/console/campaigns", request)
