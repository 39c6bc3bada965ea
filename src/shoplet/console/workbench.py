"""The shopping guide's workbench: my sales and commission, my customers, who is due a
revisit, my groups (create, put a customer in), and giving a customer or a whole group a
coupon from my quota (the same calls as ``/workbench/*``; a double submit gives once)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.console.web import PageError, Viewer, attempt, check_csrf, redirect, render, require
from shoplet.coupons.models import CouponTemplate
from shoplet.customers.models import Customer
from shoplet.errors import ShopletError
from shoplet.guides import commissions, groups, revisits
from shoplet.guides import service as guides
from shoplet.guides.models import GuideCouponQuota
from shoplet.guides.views import my_customers_out
from shoplet.scoping import owned, same_tenant
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

SHOWN = 50


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    guide = str(viewer.staff_id)
    with rt.db.unit_of_work(write=False) as s:
        figures = commissions.guide_figures(
            s, merchant_id=viewer.tenant, guide_id=guide, since=None, until=None
        )
        my_groups = groups.groups(s, merchant_id=viewer.tenant, guide_id=guide)
        reminders = revisits.reminders(
            s, merchant_id=viewer.tenant, guide_id=guide, now=rt.clock(), limit=SHOWN
        )
        rows = list(
            s.scalars(
                guides.customers_of(merchant_id=viewer.tenant, guide_id=guide)
                .order_by(Customer.id)
                .limit(SHOWN)
            )
        )
        customers = my_customers_out(s, viewer.tenant, rows)
        quotas = [
            (row[0], row[1])
            for row in s.execute(
                select(GuideCouponQuota, CouponTemplate.name)
                .join(
                    CouponTemplate,
                    same_tenant(CouponTemplate, GuideCouponQuota)
                    & (CouponTemplate.id == GuideCouponQuota.template_id),
                )
                .where(owned(GuideCouponQuota, viewer.tenant), GuideCouponQuota.guide_id == guide)
                .order_by(CouponTemplate.name)
            )
        ]
    return render(
        request,
        viewer,
        "workbench.html",
        status=status,
        figures=figures,
        groups=my_groups,
        reminders=reminders,
        customers=customers,
        quotas=quotas,
        give_key=secrets.token_urlsafe(16),
        **extra,
    )


@router.get("/workbench")
def workbench(request: Request) -> Response:
    return _page(request, require(request, "workbench"))


@router.post("/workbench/coupons")
async def give_coupon(request: Request) -> Response:
    viewer = require(request, "workbench")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    template_id, customer_id = form.get("template_id", ""), form.get("customer_id", "")
    now = rt.clock()

    def work(s: Session) -> tuple[int, dict]:
        coupon = guides.issue_coupon(
            s,
            merchant_id=viewer.tenant,
            guide_id=str(viewer.staff_id),
            template_id=template_id,
            customer_id=customer_id,
            now=now,
        )
        return 201, {"coupon_id": coupon.id}

    try:
        idempotency.run(
            rt.db,
            merchant_id=viewer.tenant,
            scope=f"console:{viewer.staff_id}",
            key=form.get("key") or None,
            operation="guide-coupon",
            payload={"template_id": template_id, "customer_id": customer_id},
            work=work,
        )
    except ShopletError as error:
        return _page(request, viewer, status=error.status, give_error=error.detail)
    return _page(request, viewer, status=201, given=True)


@router.post("/workbench/groups")
async def create_group(request: Request) -> Response:
    viewer = require(request, "workbench")
    form = await check_csrf(request, viewer)
    name = form.get("name", "").strip()
    if not name or len(name) > 100:
        return _page(request, viewer, status=422, group_error="A group's name has 1 to 100 characters.")
    refused = attempt(
        request,
        lambda s, now: groups.create(
            s, merchant_id=viewer.tenant, guide_id=str(viewer.staff_id), name=name, now=now
        ),
    )
    if refused is not None:
        return _page(request, viewer, status=refused.status, group_error=refused.detail)
    return redirect("/console/workbench#groups", request)


@router.post("/workbench/groups/{group_id}/customers")
async def add_to_group(request: Request, group_id: str) -> Response:
    viewer = require(request, "workbench")
    form = await check_csrf(request, viewer)
    customer_id = form.get("customer_id", "")
    refused = attempt(
        request,
        lambda s, now: groups.add_member(
            s,
            merchant_id=viewer.tenant,
            guide_id=str(viewer.staff_id),
            group_id=group_id,
            customer_id=customer_id,
            now=now,
        ),
    )
    if refused is not None:
        return _page(request, viewer, status=refused.status, group_error=refused.detail)
    return redirect("/console/workbench#groups", request)


@router.post("/workbench/groups/{group_id}/coupons")
async def give_group_coupons(request: Request, group_id: str) -> Response:
    """Every customer in the group gets one coupon from my quota (refused whole when the quota
    left cannot cover the group); once per submit."""
    viewer = require(request, "workbench")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    template_id, now = form.get("template_id", ""), rt.clock()

    def work(s: Session) -> tuple[int, dict]:
        return 201, groups.issue_coupons(
            s,
            merchant_id=viewer.tenant,
            guide_id=str(viewer.staff_id),
            group_id=group_id,
            template_id=template_id,
            now=now,
        )

    try:
        _, result = idempotency.run(
            rt.db,
            merchant_id=viewer.tenant,
            scope=f"console:{viewer.staff_id}",
            key=form.get("key") or None,
            operation="guide-group-coupons",
            payload={"group_id": group_id, "template_id": template_id},
            work=work,
        )
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, group_error=error.detail)
    return _page(request, viewer, status=201, group_result=result)


@router.post("/workbench/groups/{group_id}/{action}")
async def change_group(request: Request, group_id: str, action: str) -> Response:
    """rename (to the name given) or delete (the customers stay mine)."""
    viewer = require(request, "workbench")
    form = await check_csrf(request, viewer)
    guide, name = str(viewer.staff_id), form.get("name", "").strip()
    if action == "rename":
        if not name or len(name) > 100:
            return _page(request, viewer, status=422, group_error="A group's name has 1 to 100 characters.")
        refused = attempt(
            request,
            lambda s, now: groups.rename(
                s, merchant_id=viewer.tenant, guide_id=guide, group_id=group_id, name=name
            ),
        )
    elif action == "delete":
        refused = attempt(
            request,
            lambda s, now: groups.remove(s, merchant_id=viewer.tenant, guide_id=guide, group_id=group_id),
        )
    else:
        raise PageError(404, "Page not found")
    if refused is not None:
        return _page(request, viewer, status=refused.status, group_error=refused.detail)
    return redirect("/console/workbench#groups", request)
