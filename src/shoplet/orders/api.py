"""Orders, merchant side: list, inspect, cancel unpaid, fulfil."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from shoplet.auth import AsOperatorOrClerk, Db, Now, Principal
from shoplet.errors import InvalidInput
from shoplet.orders import service
from shoplet.orders.models import Order
from shoplet.orders.schemas import OrderOut, PickupIn
from shoplet.orders.views import order_out, orders_out
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.tenancy.models import Role
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["orders"])


def clerk_store(p: Principal) -> str | None:
    """The store a clerk is limited to; None for roles that see every order."""
    return p.store_id if p.role == Role.CLERK else None


def visible_order(s: Session, p: Principal, order_id: str) -> Order:
    """An order this staff member may see: clerks only see orders their store chose or ships."""
    return service.staff_order(s, p.tenant, order_id, clerk_store_id=clerk_store(p))


@router.get("/orders", response_model=Page[OrderOut])
def list_orders(
    p: AsOperatorOrClerk,
    db: Db,
    page: PageQuery,
    status: str | None = Query(
        None,
        description="Only orders in this state.",
        pattern="^(pending_payment|paid|fulfilled|refunded|closed|cancelled)$",
    ),
    customer_id: str | None = Query(None, max_length=32),
    location_id: str | None = Query(None, max_length=32),
    guide_id: str | None = Query(
        None, max_length=32, description="Orders attributed to this shopping guide."
    ),
) -> Page[OrderOut]:
    with db.unit_of_work(write=False) as s:
        stmt = service.orders_where(
            p.tenant,
            clerk_store_id=clerk_store(p),
            status=status,
            customer_id=customer_id,
            location_id=location_id,
            guide_id=guide_id,
        )
        rows, cursor = paginate(s, stmt, Order.id, page)
        return Page(items=orders_out(s, list(rows)), next_cursor=cursor)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: str, p: AsOperatorOrClerk, db: Db) -> OrderOut:
    with db.unit_of_work(write=False) as s:
        return order_out(s, visible_order(s, p, order_id))


@router.post("/orders/{order_id}/fulfil", response_model=OrderOut)
def fulfil_order(
    order_id: str,
    p: AsOperatorOrClerk,
    db: Db,
    now: Now,
) -> OrderOut:
    """Hand over a paid order's deliveries and express shipments (a clerk: those of their
    store): reserved stock leaves the location. Pickups are handed over with their code."""
    with db.unit_of_work() as s:
        visible_order(s, p, order_id)
        order = service.fulfil(
            s,
            merchant_id=p.tenant,
            order_id=order_id,
            by=p.scope,
            now=now,
            store_id=p.store_id if p.role == Role.CLERK else None,
        )
        return order_out(s, order)


@router.post("/pickups/verify", response_model=OrderOut)
def verify_pickup(
    body: PickupIn,
    p: AsOperatorOrClerk,
    db: Db,
    now: Now,
) -> OrderOut:
    """A clerk verifies the pickup code the customer shows: the goods are handed over, once.
    A wrong code is ``pickup.code_wrong``; a used one ``pickup.code_used``."""
    store_id = p.store_id if p.role == Role.CLERK else body.store_id
    if not store_id:
        raise InvalidInput("pickup.store_required", "Say at which store the code is verified.")
    with db.unit_of_work() as s:
        order = service.verify_pickup(
            s, merchant_id=p.tenant, store_id=store_id, code=body.code, by=p.scope, now=now
        )
        return order_out(s, order)
