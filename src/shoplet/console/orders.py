"""Orders: the list with filters (status, store, host app, date), an order's page (applied
rules, line allocations, fulfilments, payments, refunds) and a refund by line and quantity
(the same calls as ``/orders`` and ``/orders/{id}/refunds``)."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shoplet.console.forms import stores_of
from shoplet.console.web import PageError, Viewer, check_csrf, redirect, render, require
from shoplet.errors import ShopletError
from shoplet.orders import service as orders
from shoplet.orders.models import Order, OrderStatus
from shoplet.orders.views import order_out, orders_out
from shoplet.payments import refunds
from shoplet.payments.views import payments_of, refunds_of
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

PAGE = 30


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise PageError(422, "Dates are YYYY-MM-DD.") from None


def _start_of(day: date | None, viewer: Viewer) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=viewer.zone)


@router.get("/orders")
def order_list(
    request: Request,
    status: str = "",
    store: str = "",
    host_app: str = "",
    since: str = "",
    until: str = "",
    cursor: str = "",
) -> Response:
    viewer = require(request, "orders")
    if status and status not in set(OrderStatus):
        raise PageError(422, "Unknown order status.")
    first, last = _day(since), _day(until)
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        stmt = orders.orders_where(
            viewer.tenant,
            clerk_store_id=viewer.store_id if viewer.role == "clerk" else None,
            status=status or None,
            location_id=store or None,
            host_app=host_app or None,
            placed_since=_start_of(first, viewer),
            placed_until=_start_of(last + timedelta(days=1) if last else None, viewer),
        )
        if cursor:  # newest first: the next page holds the orders older than the last one shown
            stmt = stmt.where(Order.id < cursor[:40])
        rows = list(s.scalars(stmt.order_by(Order.id.desc()).limit(PAGE + 1)))
        next_cursor = rows[PAGE - 1].id if len(rows) > PAGE else None
        items = orders_out(s, rows[:PAGE])
        stores = {x.id: x.name for x in stores_of(s, viewer.tenant)}
    filters = {"status": status, "store": store, "host_app": host_app, "since": since, "until": until}
    return render(
        request,
        viewer,
        "orders.html",
        orders=items,
        stores=stores,
        statuses=list(OrderStatus),
        filters=filters,
        next_cursor=next_cursor,
    )


def _order_page(request: Request, viewer: Viewer, order_id: str, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        try:
            order = orders.staff_order(
                s, viewer.tenant, order_id, clerk_store_id=viewer.store_id if viewer.role == "clerk" else None
            )
        except ShopletError as error:
            raise PageError(error.status, error.detail) from None
        out = order_out(s, order)
        money = {
            "payments": payments_of(s, viewer.tenant, order_id),
            "refunds": refunds_of(s, viewer.tenant, order_id),
        }
        stores = {x.id: x.name for x in stores_of(s, viewer.tenant)}
    names = {p["id"]: p["name"] for p in out.pricing.get("promotions", [])}
    return render(
        request,
        viewer,
        "order.html",
        status=status,
        order=out,
        applied=out.pricing.get("applied", []),
        rule_names=names,
        stores=stores,
        refund_key=secrets.token_urlsafe(16),
        **money,
        **extra,
    )


@router.get("/orders/{order_id}")
def order_page(request: Request, order_id: str) -> Response:
    return _order_page(request, require(request, "orders"), order_id)


@router.post("/orders/{order_id}/refund")
async def order_refund(request: Request, order_id: str) -> Response:
    """Refund the quantities typed per line; the form's one-time key makes a double submit
    return the same refund instead of a second one."""
    viewer = require(request, "orders")
    form = await check_csrf(request, viewer)
    items = []
    for field, value in form.items():
        if field.startswith("qty-") and value.strip() not in ("", "0"):
            if not value.strip().isdigit():
                return _order_page(
                    request, viewer, order_id, status=422, refund_error="Quantities are whole numbers."
                )
            items.append(refunds.RefundItem(field.removeprefix("qty-"), int(value)))
    if not items:
        return _order_page(
            request, viewer, order_id, status=422, refund_error="Type how many of a line to refund."
        )
    rt = request.app.state.runtime
    reason = form.get("reason", "").strip()[:200] or "refunded in the console"
    try:
        refunds.refund_order(
            rt.db,
            rt.providers,
            merchant_id=viewer.tenant,
            scope=f"console:{viewer.staff_id}",
            order_id=order_id,
            items=items,
            restock=form.get("restock") == "on",
            reason=reason,
            clerk_store_id=viewer.store_id if viewer.role == "clerk" else None,
            idempotency_key=form.get("key") or None,
            payload={"lines": [[x.line_id, x.quantity] for x in items], "reason": reason},
            now=rt.clock(),
        )
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _order_page(request, viewer, order_id, status=error.status, refund_error=error.detail)
    return redirect(f"/console/orders/{order_id}", request)
