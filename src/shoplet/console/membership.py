"""Membership: tiers (adding one), the points settings (admins change them), light-membership
plans with their figures (joins, enjoyed against fees, charged, overdue; adding and closing
one), and a customer's page — orders, coupons, points ledger, tier and light membership
(the same calls as ``/member-tiers``, ``/loyalty-settings``, ``/light-plans``, ``/customers``
and ``/members``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.forms import yuan_to_fen
from shoplet.console.web import PageError, Viewer, attempt, check_csrf, redirect, render, require
from shoplet.coupons.models import Coupon, CouponTemplate
from shoplet.coupons.views import coupon_out
from shoplet.customers.models import Customer
from shoplet.customers.views import customer_out, customers_out
from shoplet.errors import ShopletError
from shoplet.guides import service as guides
from shoplet.guides.models import GuideBindingChange
from shoplet.membership import light, points, tiers
from shoplet.membership.models import LightMembership, LightPlan, Member, PointsEntry
from shoplet.membership.schemas import LightPlanIn, LightPlanPatch, LoyaltySettingsIn, TierIn, TierPatch
from shoplet.membership.views import member_out, memberships_out
from shoplet.orders import service as orders
from shoplet.orders.models import Order
from shoplet.orders.views import orders_out
from shoplet.scoping import owned, scoped
from shoplet.tenancy.models import Role, Staff
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

RECENT = 20


@router.get("/membership")
def membership(request: Request, q: str = "") -> Response:
    return _page(request, require(request, "membership"), q=q)


def _page(request: Request, viewer: Viewer, q: str = "", status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        ladder = tiers.tiers_of(s, viewer.tenant)
        settings = points.settings_of(s, viewer.tenant)
        plans = list(s.scalars(scoped(LightPlan, viewer.tenant).order_by(LightPlan.created_at)))
        templates = {
            t.id: t.name
            for t in s.scalars(
                scoped(CouponTemplate, viewer.tenant)
                .where(CouponTemplate.status != "stopped")
                .order_by(CouponTemplate.name)
            )
        }
        plan_figures = [
            (plan, light.figures(s, merchant_id=viewer.tenant, plan_id=plan.id)) for plan in plans
        ]
        found = []
        query = q.strip()[:64]
        if query:
            found = customers_out(
                s,
                list(
                    s.scalars(
                        scoped(Customer, viewer.tenant)
                        .where((Customer.id == query) | (Customer.phone == query) | (Customer.name == query))
                        .limit(20)
                    )
                ),
            )
    return render(
        request,
        viewer,
        "membership.html",
        status=status,
        tiers=ladder,
        templates=templates,
        settings=settings,
        plans=plan_figures,
        q=query,
        found=found,
        **extra,
    )


def _change(
    request: Request, viewer: Viewer, model: Any, fields: dict[str, Any], work, error_key: str
) -> Response:
    """Validate the form as the API's request model, run the change, back to the page."""
    rt = request.app.state.runtime
    try:
        body = model.model_validate(fields)
        with rt.db.unit_of_work() as s:
            work(s, body, rt.clock())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _page(request, viewer, status=422, **{error_key: f"{where}: {first.get('msg')}"})
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, **{error_key: error.detail})
    return redirect("/console/membership", request)


async def _packs(request: Request) -> list[str]:
    """The coupon templates chosen for a pack (a multiple select)."""
    return [x for x in (await request.form()).getlist("coupon_template_ids") if isinstance(x, str) and x]


def _number(form: Any, field: str) -> Any:
    text = form.get(field, "").strip()
    return int(text) if text.isdigit() else (text or None)


@router.post("/membership/settings")
async def save_settings(request: Request) -> Response:
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    if viewer.role != Role.ADMIN:
        raise PageError(403, "Your role cannot open this screen.")
    fields = {
        f: _number(form, f)
        for f in ("points_per_yuan", "growth_per_yuan", "value_per_point", "max_share_percent")
    }
    return _change(
        request,
        viewer,
        LoyaltySettingsIn,
        fields,
        lambda s, body, now: points.set_settings(
            s, merchant_id=viewer.tenant, values=body.model_dump(), now=now
        ),
        "settings_error",
    )


@router.post("/membership/tiers")
async def add_tier(request: Request) -> Response:
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    fields = {
        "code": form.get("code", "").strip(),
        "name": form.get("name", "").strip(),
        "threshold": _number(form, "threshold"),
        "member_price": form.get("member_price") == "on",
        "points_multiplier": _number(form, "points_multiplier") or 100,
        "free_delivery": form.get("free_delivery") == "on",
    }
    return _change(
        request,
        viewer,
        TierIn,
        fields,
        lambda s, body, now: tiers.create_tier(
            s, merchant_id=viewer.tenant, fields=body.model_dump(), now=now
        ),
        "tier_error",
    )


@router.post("/membership/plans")
async def add_plan(request: Request) -> Response:
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    errors: dict[str, str] = {}
    fields = {
        "name": form.get("name", "").strip(),
        "fee": yuan_to_fen(form.get("fee", ""), "fee", errors),
        "period_days": _number(form, "period_days"),
        "percent_off": _number(form, "percent_off") or 0,
        "light_member_prices": form.get("light_member_prices") == "on",
        "min_credit_score": _number(form, "min_credit_score") or 0,
        "auto_renew_allowed": form.get("auto_renew_allowed") == "on",
    }
    if errors:
        return _page(request, viewer, status=422, plan_error=next(iter(errors.values())))
    return _change(
        request,
        viewer,
        LightPlanIn,
        fields,
        lambda s, body, now: light.create_plan(
            s, merchant_id=viewer.tenant, fields=body.model_dump(), now=now
        ),
        "plan_error",
    )


@router.post("/membership/plans/{plan_id}/close")
async def close_plan(request: Request, plan_id: str) -> Response:
    viewer = require(request, "membership")
    await check_csrf(request, viewer)
    refused = attempt(request, lambda s, now: light.close_plan(s, merchant_id=viewer.tenant, plan_id=plan_id))
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect("/console/membership", request)


@router.get("/customers/{customer_id}")
def customer_page(request: Request, customer_id: str) -> Response:
    return _customer_page(request, require(request, "membership"), customer_id)


def _customer_page(
    request: Request, viewer: Viewer, customer_id: str, status: int = 200, **extra: Any
) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        customer = s.get(Customer, (viewer.tenant, customer_id))
        if customer is None:
            raise PageError(404, "No such customer.")
        member = s.get(Member, (viewer.tenant, customer_id))
        context: dict[str, Any] = {
            "customer": customer_out(s, customer),
            "member": member_out(s, member) if member else None,
            "orders": orders_out(
                s,
                list(
                    s.scalars(
                        orders.orders_where(viewer.tenant, customer_id=customer_id)
                        .order_by(Order.id.desc())
                        .limit(RECENT)
                    )
                ),
            ),
            "coupons": [
                coupon_out(c)
                for c in s.scalars(
                    select(Coupon)
                    .where(owned(Coupon, viewer.tenant), Coupon.customer_id == customer_id)
                    .order_by(Coupon.claimed_at.desc(), Coupon.id)
                    .limit(RECENT)
                )
            ],
            "ledger": list(
                s.scalars(
                    scoped(PointsEntry, viewer.tenant)
                    .where(PointsEntry.customer_id == customer_id)
                    .order_by(PointsEntry.id.desc())
                    .limit(RECENT)
                )
            ),
            "binding": guides.binding_of(s, viewer.tenant, customer_id),
            "binding_history": list(
                s.scalars(
                    scoped(GuideBindingChange, viewer.tenant)
                    .where(GuideBindingChange.customer_id == customer_id)
                    .order_by(GuideBindingChange.at, GuideBindingChange.id)
                )
            ),
            "guide_names": {
                x.id: x.name for x in s.scalars(scoped(Staff, viewer.tenant).where(Staff.role == Role.GUIDE))
            },
            "memberships": memberships_out(
                s,
                list(
                    s.scalars(
                        scoped(LightMembership, viewer.tenant)
                        .where(LightMembership.customer_id == customer_id)
                        .order_by(LightMembership.joined_at.desc())
                    )
                ),
            ),
        }
    return render(request, viewer, "customer.html", status=status, **context, **extra)


@router.post("/customers/{customer_id}/guide")
async def assign_guide(request: Request, customer_id: str) -> Response:
    """Assign the customer to a guide (a protected binding moves only when an admin forces it)."""
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    force = form.get("force") == "on"
    if force and viewer.role != Role.ADMIN:
        raise PageError(403, "Your role cannot open this screen.")
    refused = attempt(
        request,
        lambda s, now: guides.bind(
            s,
            merchant_id=viewer.tenant,
            customer_id=customer_id,
            guide_id=form.get("guide_id", ""),
            source="admin" if force else "store",
            by=f"console:{viewer.staff_id}",
            now=now,
            force=force,
        ),
    )
    if refused is not None:
        return _customer_page(request, viewer, customer_id, status=refused.status, guide_error=refused.detail)
    return redirect(f"/console/customers/{customer_id}", request)


@router.post("/customers/{customer_id}/points")
async def adjust_points(request: Request, customer_id: str) -> Response:
    """An admin adds or takes points with a reason (never below zero)."""
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    if viewer.role != Role.ADMIN:
        raise PageError(403, "Your role cannot open this screen.")
    delta, note = form.get("delta", "").strip(), form.get("note", "").strip()[:200]
    if not delta.lstrip("-").isdigit() or abs(int(delta)) > 1_000_000 or not note:
        return _customer_page(
            request,
            viewer,
            customer_id,
            status=422,
            points_error="Give a whole number of points and a reason.",
        )
    refused = attempt(
        request,
        lambda s, now: points.adjust(
            s,
            merchant_id=viewer.tenant,
            customer_id=customer_id,
            delta=int(delta),
            note=f"{note} (by console:{viewer.staff_id})",
            now=now,
        ),
    )
    if refused is not None:
        return _customer_page(
            request, viewer, customer_id, status=refused.status, points_error=refused.detail
        )
    return redirect(f"/console/customers/{customer_id}", request)


@router.post("/membership/tiers/{tier_id}")
async def edit_tier(request: Request, tier_id: str) -> Response:
    """A tier's name and benefits (its code and threshold are its identity)."""
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    fields = {
        "name": form.get("name", "").strip(),
        "member_price": form.get("member_price") == "on",
        "points_multiplier": _number(form, "points_multiplier"),
        "free_delivery": form.get("free_delivery") == "on",
        "coupon_template_ids": await _packs(request),
    }
    return _change(
        request,
        viewer,
        TierPatch,
        fields,
        lambda s, body, now: tiers.update_tier(
            s, merchant_id=viewer.tenant, tier_id=tier_id, changes=body.model_dump(exclude_unset=True)
        ),
        "tier_error",
    )


@router.post("/membership/plans/{plan_id}")
async def edit_plan(request: Request, plan_id: str) -> Response:
    """A plan's name and benefits (fee and period are fixed: a new price is a new plan)."""
    viewer = require(request, "membership")
    form = await check_csrf(request, viewer)
    fields = {
        "name": form.get("name", "").strip(),
        "percent_off": _number(form, "percent_off"),
        "light_member_prices": form.get("light_member_prices") == "on",
        "min_credit_score": _number(form, "min_credit_score"),
        "auto_renew_allowed": form.get("auto_renew_allowed") == "on",
        "coupon_template_ids": await _packs(request),
    }
    return _change(
        request,
        viewer,
        LightPlanPatch,
        fields,
        lambda s, body, now: light.update_plan(
            s, merchant_id=viewer.tenant, plan_id=plan_id, changes=body.model_dump(exclude_unset=True)
        ),
        "plan_error",
    )
