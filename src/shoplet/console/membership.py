"""Membership: tiers, the points settings, light-membership plans with their figures (joins,
enjoyed against fees, charged, overdue), and a customer's page — orders, coupons, points
ledger, tier and light membership (the same calls as ``/member-tiers``, ``/light-plans``,
``/customers`` and ``/members``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from shoplet.console.web import PageError, render, require
from shoplet.coupons.models import Coupon
from shoplet.coupons.views import coupon_out
from shoplet.customers.models import Customer
from shoplet.customers.views import customer_out, customers_out
from shoplet.membership import light, points, tiers
from shoplet.membership.models import LightMembership, LightPlan, Member, PointsEntry
from shoplet.membership.views import member_out, memberships_out
from shoplet.orders import service as orders
from shoplet.orders.models import Order
from shoplet.orders.views import orders_out
from shoplet.scoping import owned, scoped

router = APIRouter(prefix="/console")

RECENT = 20


@router.get("/membership")
def membership(request: Request, q: str = "") -> Response:
    viewer = require(request, "membership")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        ladder = tiers.tiers_of(s, viewer.tenant)
        settings = points.settings_of(s, viewer.tenant)
        plans = list(s.scalars(scoped(LightPlan, viewer.tenant).order_by(LightPlan.created_at)))
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
        tiers=ladder,
        settings=settings,
        plans=plan_figures,
        q=query,
        found=found,
    )


@router.get("/customers/{customer_id}")
def customer_page(request: Request, customer_id: str) -> Response:
    viewer = require(request, "membership")
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
    return render(request, viewer, "customer.html", **context)
