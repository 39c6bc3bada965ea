"""Orders after checkout: reading them, cancellation, fulfilment, pickups, the unpaid-order
sweep, and the cart. Checkout itself is :mod:`shoplet.orders.checkout`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from shoplet import events, order_hooks
from shoplet.catalog.models import Sku
from shoplet.coupons import redemption as coupons
from shoplet.db import changed
from shoplet.errors import Conflict, InvalidInput, NotFound
from shoplet.events import EventKind
from shoplet.guides import commissions
from shoplet.membership import loyalty
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import pickups
from shoplet.orders.models import CartItem, Order, OrderLine, OrderStatus
from shoplet.schemas import MAX_MONEY
from shoplet.scoping import get_owned, owned, scoped

MAX_LINES = 100
MAX_QUANTITY = 999
MAX_ORDER_AMOUNT = MAX_MONEY  # every stored amount fits the databases' 32-bit integer columns


def record_order_event(
    session: Session, order: Order, kind: str, occurred_at: datetime, **columns: Any
) -> None:
    """A business event about an order: its customer, host app, scene, store and guide, and
    the order as its subject unless ``columns`` say otherwise."""
    events.record(
        session,
        order.merchant_id,
        kind,
        occurred_at,
        **{
            "customer_id": order.customer_id,
            "host_app": order.host_app,
            "scene": order.scene,
            "store_id": order.location_id,
            "guide_id": order.guide_id,
            "subject_id": order.id,
            **columns,
        },
    )


def cart_items(session: Session, merchant_id: str, customer_id: str) -> list[tuple[str, int]]:
    """What checking out the cart orders: its items, or ``order.empty``."""
    items = [(item.sku_id, item.quantity) for item in cart_of(session, merchant_id, customer_id)]
    if not items:
        raise InvalidInput("order.empty", "The cart is empty.")
    return items


def empty_cart(session: Session, merchant_id: str, customer_id: str, sku_ids: list[str]) -> None:
    """Take what was just ordered out of the cart."""
    session.execute(
        delete(CartItem).where(
            owned(CartItem, merchant_id), CartItem.customer_id == customer_id, CartItem.sku_id.in_(sku_ids)
        )
    )


def lines_of(session: Session, merchant_id: str, order_id: str) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine)
            .where(owned(OrderLine, merchant_id), OrderLine.order_id == order_id)
            .order_by(OrderLine.line_no)
        )
    )


def get_order(
    session: Session,
    merchant_id: str,
    order_id: str,
    *,
    customer_id: str | None = None,
    for_update: bool = False,
) -> Order:
    """An order of this merchant (and of this customer, when given) or 404."""
    order = get_owned(session, Order, merchant_id, order_id, what="Order", for_update=for_update)
    if customer_id is not None and order.customer_id != customer_id:
        raise NotFound.of("Order")
    return order


def staff_order(session: Session, merchant_id: str, order_id: str, *, clerk_store_id: str | None) -> Order:
    """An order a staff member may see: a clerk (``clerk_store_id`` given) only the orders
    their store took or ships; everyone else any order of the merchant. Others are 404."""
    order = get_order(session, merchant_id, order_id)
    if (
        clerk_store_id is not None
        and order.location_id != clerk_store_id
        and not any(
            f.location_id == clerk_store_id for f in fulfilments.of_order(session, merchant_id, order_id)
        )
    ):
        raise NotFound.of("Order")
    return order


def cancel(
    session: Session,
    *,
    merchant_id: str,
    order_id: str,
    reason: str,
    now: datetime,
    customer_id: str | None = None,
) -> tuple[Order, bool]:
    """Cancel an unpaid order and release its stock; returns the order and whether this call
    cancelled it. Cancelling a cancelled order is a no-op."""
    order = get_order(session, merchant_id, order_id, customer_id=customer_id)
    cancelled = changed(
        session.execute(
            update(Order)
            .where(
                owned(Order, merchant_id), Order.id == order_id, Order.status == OrderStatus.PENDING_PAYMENT
            )
            .values(status="cancelled", cancelled_at=now, cancel_reason=reason)
        )
    )
    session.refresh(order)
    if not cancelled:
        if order.status == OrderStatus.CANCELLED:
            return order, False
        raise Conflict(
            "order.not_cancellable", "Only unpaid orders can be cancelled; ask for a refund instead."
        )
    record_order_event(session, order, EventKind.ORDER_CANCELLED, now, ref=reason[:64], amount=order.total)
    fulfilments.on_cancel(session, order=order, reason=reason, now=now)
    order_hooks.cancelled(session, order, now)
    coupons.release_for_order(session, merchant_id=merchant_id, order_id=order_id)
    loyalty.on_cancel(
        session, merchant_id=merchant_id, customer_id=order.customer_id, order_id=order_id, now=now
    )
    session.flush()
    return order, True


def fulfil(
    session: Session, *, merchant_id: str, order_id: str, by: str, now: datetime, store_id: str | None = None
) -> Order:
    """Hand over a paid order's deliveries and shipments (a clerk: those of their store); its
    outstanding reserved units leave the location. The order is fulfilled when every part is."""
    order = get_order(session, merchant_id, order_id)
    if store_id is not None and not any(
        f.location_id == store_id for f in fulfilments.of_order(session, merchant_id, order_id)
    ):
        raise NotFound.of("Order")  # a clerk sees only their store's orders
    if order.status != OrderStatus.PAID:
        raise Conflict(
            "order.not_fulfillable", f"An order that is {order.status.replace('_', ' ')} cannot be fulfilled."
        )
    fulfilments.hand_over(session, order=order, store_id=store_id, by=by, now=now)
    finish(session, order=order, now=now)
    return order


def orders_where(
    merchant_id: str,
    *,
    clerk_store_id: str | None = None,
    status: str | None = None,
    customer_id: str | None = None,
    location_id: str | None = None,
    guide_id: str | None = None,
    host_app: str | None = None,
    placed_since: datetime | None = None,
    placed_until: datetime | None = None,
) -> Select[tuple[Order]]:
    """The staff's order list: a clerk sees their store's orders only; the other filters narrow it."""
    stmt = scoped(Order, merchant_id)
    for column, value in (
        (Order.location_id, clerk_store_id),
        (Order.status, status),
        (Order.customer_id, customer_id),
        (Order.location_id, location_id),
        (Order.guide_id, guide_id),
        (Order.host_app, host_app),
    ):
        if value:
            stmt = stmt.where(column == value)
    if placed_since is not None:
        stmt = stmt.where(Order.created_at >= placed_since)
    if placed_until is not None:
        stmt = stmt.where(Order.created_at < placed_until)
    return stmt


def verify_pickup(
    session: Session, *, merchant_id: str, store_id: str, code: str, by: str, now: datetime
) -> Order:
    """A clerk verifies a pickup code at their store (once); returns the order."""
    picked = pickups.verify_pickup(
        session, merchant_id=merchant_id, store_id=store_id, code=code, by=by, now=now
    )
    order = get_order(session, merchant_id, picked.order_id)
    finish(session, order=order, now=now)
    return order


def finish(session: Session, *, order: Order, now: datetime) -> None:
    """After a fulfilment changed: close the order when every part is done, which opens the
    after-sale window of its guide's commission."""
    if fulfilments.close_when_done(session, order=order, now=now):
        commissions.start_after_sale(session, merchant_id=order.merchant_id, order_id=order.id, now=now)
    session.flush()


def end_refunded(session: Session, *, order: Order) -> None:
    """Every unit of a paid order came back: it ends ``closed`` when nothing was handed over
    because its pickup expired uncollected, ``refunded`` otherwise."""
    states = {f.status for f in fulfilments.of_order(session, order.merchant_id, order.id)}
    expired_only = "expired" in states and not states & {"done", *fulfilments.OPEN}
    session.execute(
        update(Order)
        .where(
            owned(Order, order.merchant_id),
            Order.id == order.id,
            Order.status.in_((OrderStatus.PAID, OrderStatus.FULFILLED)),
        )
        .values(status="closed" if expired_only else "refunded")
    )
    session.refresh(order)


def expired_unpaid(session: Session, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(merchant_id, order_id) of unpaid orders past their payment deadline."""
    return [
        (row[0], row[1])
        for row in session.execute(
            select(Order.merchant_id, Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.expires_at <= now)
            .order_by(Order.expires_at)
            .limit(limit)
        )
    ]


def set_cart_item(
    session: Session, *, merchant_id: str, customer_id: str, sku_id: str, quantity: int, now: datetime
) -> None:
    """Put a quantity of a SKU in the cart; quantity 0 removes it."""
    if quantity < 0 or quantity > MAX_QUANTITY:
        raise InvalidInput("cart.bad_quantity", f"The quantity must be between 0 and {MAX_QUANTITY}.")
    sku = session.get(Sku, (merchant_id, sku_id))
    if sku is None:
        raise NotFound.of("SKU")
    item = session.get(CartItem, (merchant_id, customer_id, sku_id))
    if quantity == 0:
        if item is not None:
            session.delete(item)
    elif item is None:
        session.add(
            CartItem(
                merchant_id=merchant_id,
                customer_id=customer_id,
                sku_id=sku_id,
                quantity=quantity,
                added_at=now,
            )
        )
    else:
        item.quantity = quantity
    session.flush()


def cart_of(session: Session, merchant_id: str, customer_id: str) -> list[CartItem]:
    return list(
        session.scalars(
            select(CartItem)
            .where(owned(CartItem, merchant_id), CartItem.customer_id == customer_id)
            .order_by(CartItem.added_at, CartItem.sku_id)
        )
    )
