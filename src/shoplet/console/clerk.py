"""The clerk's screen: type or scan a coupon code or a pickup code, see what it is and for
whom, confirm — exactly once (the same service calls as ``/coupons/verify`` and
``/pickups/verify``; a second verification shows why it is refused). And binding the
customer at the till to one of the store's guides (``PUT /customers/{id}/guide``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from shoplet.console.forms import stores_of
from shoplet.console.web import PageError, Viewer, attempt, check_csrf, render, require
from shoplet.coupons import redemption
from shoplet.customers.models import Customer
from shoplet.errors import ShopletError
from shoplet.guides import service as guides
from shoplet.inventory.models import StockLocation
from shoplet.orders import pickups
from shoplet.orders import service as orders
from shoplet.orders.views import order_out
from shoplet.scoping import owned, scoped
from shoplet.tenancy.models import Role, Staff
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

PICKUP_CODE = re.compile(r"^\d{6}$")


def _store_of(viewer: Viewer, form: dict[str, str], stores: list[StockLocation]) -> StockLocation:
    """A clerk verifies at their own store; an admin picks one."""
    wanted = viewer.store_id or form.get("store_id", "")
    for store in stores:
        if store.id == wanted:
            return store
    raise PageError(422, "Choose the store where the code is verified.")


def _customer(session: Any, merchant_id: str, customer_id: str) -> Customer | None:
    return session.get(Customer, (merchant_id, customer_id))


def _lookup(session: Any, viewer: Viewer, store: StockLocation, code: str, now: Any) -> dict[str, Any]:
    """What a code is, for whom, and whether it can be verified here now."""
    code = code.strip()
    if PICKUP_CODE.match(code):
        pickup = pickups.find_pickup(session, merchant_id=viewer.tenant, store_id=store.id, code=code)
        if pickup is None:
            return {"kind": "pickup", "code": code, "refusal": "No order at this store has that pickup code."}
        order = order_out(session, orders.get_order(session, viewer.tenant, pickup.order_id))
        blocked = pickups.pickup_refusal(pickup)
        return {
            "kind": "pickup",
            "code": code,
            "order": order,
            "customer": _customer(session, viewer.tenant, order.customer_id),
            "refusal": blocked.detail if blocked else None,
        }
    try:
        coupon = redemption.find_by_code(session, viewer.tenant, code)
    except ShopletError as error:
        return {"kind": "coupon", "code": code, "refusal": error.detail}
    refused = redemption.refusal(coupon, store.id, now)
    return {
        "kind": "coupon",
        "code": code,
        "coupon": coupon,
        "customer": _customer(session, viewer.tenant, coupon.customer_id),
        "refusal": refused.detail if refused else None,
    }


@router.get("/clerk")
def clerk(request: Request) -> Response:
    return _clerk_page(request, require(request, "clerk"))


def _clerk_page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        stores = stores_of(s, viewer.tenant)
        guides = list(
            s.scalars(
                select(Staff)
                .where(owned(Staff, viewer.tenant), Staff.role == Role.GUIDE, Staff.active.is_(True))
                .where(Staff.store_id == viewer.store_id if viewer.store_id else Staff.store_id.is_not(None))
                .order_by(Staff.name)
            )
        )
    return render(request, viewer, "clerk.html", status=status, stores=stores, guides=guides, **extra)


@router.post("/clerk/bind")
async def bind_to_guide(request: Request) -> Response:
    """In store, the clerk binds the customer in front of them (found by phone or id) to a guide
    (the guide policy's protection holds: only an admin may force a move, on the customer's page)."""
    viewer = require(request, "clerk")
    form = await check_csrf(request, viewer)
    who = form.get("customer", "").strip()[:64]
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        customer = (
            s.scalar(
                scoped(Customer, viewer.tenant).where((Customer.id == who) | (Customer.phone == who)).limit(1)
            )
            if who
            else None
        )
    if customer is None:
        return _clerk_page(
            request, viewer, status=422, bind_error="No customer of this shop has that phone number or id."
        )
    customer_id = customer.id
    refused = attempt(
        request,
        lambda s, now: guides.bind(
            s,
            merchant_id=viewer.tenant,
            customer_id=customer_id,
            guide_id=form.get("guide_id", ""),
            source="store",
            by=f"console:{viewer.staff_id}",
            now=now,
            force=False,
        ),
    )
    if refused is not None:
        return _clerk_page(request, viewer, status=refused.status, bind_error=refused.detail)
    return _clerk_page(request, viewer, bound=customer.name or customer.phone or customer_id)


@router.post("/clerk/lookup")
async def lookup(request: Request) -> Response:
    viewer = require(request, "clerk")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        store = _store_of(viewer, form, stores_of(s, viewer.tenant))
        found = _lookup(s, viewer, store, form.get("code", ""), rt.clock())
    return render(request, viewer, "clerk_result.html", store=store, **found)


@router.post("/clerk/verify")
async def verify(request: Request) -> Response:
    viewer = require(request, "clerk")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    code = form.get("code", "").strip()
    now = rt.clock()
    try:
        with rt.db.unit_of_work() as s:
            store = _store_of(viewer, form, stores_of(s, viewer.tenant))
            if PICKUP_CODE.match(code):
                order = orders.verify_pickup(
                    s,
                    merchant_id=viewer.tenant,
                    store_id=store.id,
                    code=code,
                    by=f"staff:{viewer.staff_id}",
                    now=now,
                )
                done: dict[str, Any] = {"kind": "pickup", "order": order_out(s, order)}
            else:
                coupon = redemption.verify(
                    s,
                    merchant_id=viewer.tenant,
                    code=code,
                    store_id=store.id,
                    staff_id=viewer.staff_id,
                    now=now,
                )
                done = {"kind": "coupon", "coupon": coupon}
    except ShopletError as error:
        return render(
            request,
            viewer,
            "clerk_done.html",
            status=error.status,
            code=code,
            error=error.detail,
            error_code=error.code,
        )
    return render(request, viewer, "clerk_done.html", code=code, **done)
