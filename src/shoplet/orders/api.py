"""Orders, merchant side: list, inspect, cancel unpaid, fulfil."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query

from shoplet.auth import Principal, get_db, get_now, require_staff
from shoplet.db import Database
from shoplet.errors import NotFound
from shoplet.orders import service
from shoplet.orders.models import Order
from shoplet.orders.schemas import OrderOut
from shoplet.orders.views import order_out
from shoplet.pagination import Page, PageParams, page_params, paginate
from shoplet.scoping import scoped

router = APIRouter(tags=["orders"])
reader = require_staff("operator", "clerk")
fulfiller = require_staff("clerk")


def visible_order(s, p: Principal, order_id: str) -> Order:
    """An order this staff member may see: clerks only see their own store's orders."""
    order = service.get_order(s, p.tenant, order_id)
    if p.role == "clerk" and order.location_id != p.store_id:
        raise NotFound.of("Order")
    return order


@router.get("/orders", response_model=Page[OrderOut])
def list_orders(p: Principal = Depends(reader), db: Database = Depends(get_db),
                page: PageParams = Depends(page_params),
                status: str | None = Query(None, pattern="^(pending_payment|paid|fulfilled|cancelled)$"),
                customer_id: str | None = Query(None, max_length=32),
                location_id: str | None = Query(None, max_length=32)) -> Page[OrderOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Order, p.tenant)
        if p.role == "clerk":
            stmt = stmt.where(Order.location_id == p.store_id)
        if status:
            stmt = stmt.where(Order.status == status)
        if customer_id:
            stmt = stmt.where(Order.customer_id == customer_id)
        if location_id:
            stmt = stmt.where(Order.location_id == location_id)
        rows, cursor = paginate(s, stmt, Order.id, page)
        return Page(items=[order_out(s, r) for r in rows], next_cursor=cursor)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: str, p: Principal = Depends(reader), db: Database = Depends(get_db)) -> OrderOut:
    with db.unit_of_work(write=False) as s:
        return order_out(s, visible_order(s, p, order_id))


@router.post("/orders/{order_id}/fulfil", response_model=OrderOut)
def fulfil_order(order_id: str, p: Principal = Depends(fulfiller), db: Database = Depends(get_db),
                 now: datetime = Depends(get_now)) -> OrderOut:
    """Hand a paid order over: reserved stock leaves the location."""
    with db.unit_of_work() as s:
        visible_order(s, p, order_id)
        order = service.fulfil(s, merchant_id=p.tenant, order_id=order_id, now=now)
        return order_out(s, order)
