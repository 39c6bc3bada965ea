"""The clerk's screen: type or scan a coupon code or a pickup code, see what it is and for
whom, confirm — exactly once (the same service calls as ``/coupons/verify`` and
``/pickups/verify``; a second verification shows why it is refused)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shoplet.console.forms import stores_of
from shoplet.console.web import PageError, Viewer, check_csrf, render, require
from shoplet.coupons import redemption
from shoplet.customers.models import Customer
from shoplet.errors import ShopletError
from shoplet.inventory.models import StockLocation
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import service as orders
from shoplet.orders.views import order_out

router = APIRouter(prefix="/console")

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
        pickup = fulfilments.find_pickup(session, merchant_id=viewer.tenant, store_id=store.id, code=code)
        if pickup is None:
            return {"kind": "pickup", "code": code, "refusal": "No order at this store has that pickup code."}
        order = order_out(session, orders.get_order(session, viewer.tenant, pickup.order_id))
        blocked = fulfilments.pickup_refusal(pickup)
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
    viewer = require(request, "clerk")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        stores = stores_of(s, viewer.tenant)
    return render(request, viewer, "clerk.html", stores=stores)


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
