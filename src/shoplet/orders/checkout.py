"""Checkout: a basket priced and routed (:mod:`shoplet.orders.basket`), then placed.

The price and the route are decided reading only (:func:`price_checkout`); the order is
then written by :func:`place`, whose writes are all conditional (stock reserved, a
delivery slot booked, coupons locked: the whole order or nothing). :func:`place_order` is
the storefront's checkout, and the campaigns' buys: the two in units of work of their own
(on SQLite the single writer holds its lock for the writes alone), under an Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shoplet import idempotency, pipelined
from shoplet.coupons import redemption as coupons
from shoplet.db import Database, column_values, new_id
from shoplet.errors import ShopletError, Unprocessable
from shoplet.events import EventKind
from shoplet.membership import points
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import routing
from shoplet.orders.basket import PricedItems, price_items
from shoplet.orders.models import Fulfilment, Order, OrderLine
from shoplet.orders.pricing import Campaign, CartPricer
from shoplet.orders.schemas import OrderOut
from shoplet.orders.service import (
    MAX_ORDER_AMOUNT,
    cart_items,
    empty_cart,
    get_order,
    record_order_event,
)
from shoplet.orders.views import order_out, shaped

# Checkout writes the order and its lines as plain rows (pipelined.insert_later, statements
# compiled once); the objects stay out of the session (every column is set on them: nothing
# comes back from the database) and are what the answer is built from.


@dataclass(frozen=True)
class Placed:
    """A new order with the lines and fulfilments checkout wrote: the answer is built from
    them in the same unit of work, without reading any of it back."""

    order: Order
    lines: list[OrderLine]
    fulfilments: list[Fulfilment]


def checkout(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    location_id: str,
    items: list[tuple[str, int]],
    pricer: CartPricer,
    host_app: str | None,
    scene: str | None,
    note: str,
    timeout: timedelta,
    now: datetime,
    coupon_ids: list[str] | None = None,
    use_points: bool = False,
    fulfilment: routing.Request | None = None,
) -> Placed:
    """Price and place an order in one unit of work: :func:`price_checkout`, then
    :func:`place`. The storefront runs the two in separate units of work (see there)."""
    found = price_checkout(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        location_id=location_id,
        items=items,
        pricer=pricer,
        host_app=host_app,
        now=now,
        coupon_ids=coupon_ids,
        use_points=use_points,
        fulfilment=fulfilment,
    )
    return place(
        session,
        found,
        merchant_id=merchant_id,
        customer_id=customer_id,
        location_id=location_id,
        host_app=host_app,
        scene=scene,
        note=note,
        timeout=timeout,
        now=now,
    )


def price_checkout(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    location_id: str,
    items: list[tuple[str, int]],
    pricer: CartPricer,
    host_app: str | None,
    now: datetime,
    coupon_ids: list[str] | None = None,
    use_points: bool = False,
    fulfilment: routing.Request | None = None,
    campaign: Campaign | None = None,
) -> PricedItems:
    """Everything checkout decides, reading only: where the goods come from (refusing at once
    when stock or a slot cannot serve the order), then the price — once, at the chosen
    location, with the promotions running there, the customer's terms and coupons.

    ``fulfilment`` says how the customer gets it and how to route what the store lacks (see
    :func:`shoplet.orders.fulfilment.plan`). ``coupon_ids``: None lets the engine choose the
    best coupons, [] uses none, a list uses exactly those."""
    found = price_items(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        location_id=location_id,
        items=items,
        pricer=pricer,
        host_app=host_app,
        now=now,
        coupon_ids=coupon_ids,
        use_points=use_points,
        fulfilment=fulfilment,
        routed=True,
        campaign=campaign,
    )
    priced = found.cart
    if priced.selection_error:
        raise Unprocessable(
            "order.coupons_invalid", f"The chosen coupons cannot be used: {priced.selection_error}."
        )
    if priced.total <= 0:
        raise Unprocessable("order.zero_total", "This shop does not accept orders that cost nothing.")
    if priced.subtotal > MAX_ORDER_AMOUNT:
        raise Unprocessable(
            "order.too_large",
            f"An order can be worth at most ¥{MAX_ORDER_AMOUNT // 100:,}; split it into several orders.",
        )
    return found


def place(
    session: Session,
    found: PricedItems,
    *,
    merchant_id: str,
    customer_id: str,
    location_id: str,
    host_app: str | None,
    scene: str | None,
    note: str,
    timeout: timedelta,
    now: datetime,
    campaign: Campaign | None = None,
) -> Placed:
    """Write the order :func:`price_checkout` priced: the order, its fulfilments and lines,
    its stock reserved, its slot booked, its coupons locked and its points spent, atomically.
    Every one of those writes is conditional, so stock, a slot or a coupon that went
    elsewhere since the pricing read raises (the caller rolls back: nothing is written).

    The order keeps the applied rules and each line's allocated amount, so editing a
    promotion later never changes it and refunds return exactly what each line paid. A
    customer bound to a shopping guide has the order attributed to that guide."""
    lines, priced, record = found.lines, found.cart, found.record
    shipments = [] if campaign is not None and campaign.unrouted else routing.require(found.route)
    guide_id, guide_store_id = found.guide or (None, None)  # read with the customer's terms
    order = Order(
        merchant_id=merchant_id,
        id=new_id("ord"),
        customer_id=customer_id,
        location_id=location_id,
        status="pending_payment",
        subtotal=priced.subtotal,
        discount=priced.discount,
        delivery_fee=priced.delivery_fee,
        total=priced.total,
        host_app=host_app,
        scene=scene,
        note=note,
        pricing=record,
        created_at=now,
        expires_at=now + timeout,
        guide_id=guide_id,
        guide_store_id=guide_store_id,
        currency="CNY",
        paid_amount=0,
        refunded_amount=0,
        campaign_kind=campaign.kind if campaign else None,
        campaign_ref=campaign.ref if campaign else None,
    )
    # Every write of the order is queued (shoplet.pipelined): on PostgreSQL this one goes with
    # the fulfilment's insert, the rest with the next statement sent or before COMMIT.
    pipelined.insert_later(session, Order, [column_values(order)], skip_taken=False)
    quantities = {line.sku_id: line.quantity for line in lines}
    parts, fulfilment_of = fulfilments.create(
        session, order=order, shipments=shipments, items=quantities, now=now
    )
    if not parts:  # a periodic plan's upfront order: its deliveries come as orders of their own
        parts, fulfilment_of = fulfilments.plan_part(session, order=order, skus=list(quantities), now=now)
    written = []
    for number, (line, price) in enumerate(zip(lines, priced.lines, strict=True), start=1):
        written.append(
            OrderLine(
                merchant_id=merchant_id,
                id=new_id("oln"),
                order_id=order.id,
                line_no=number,
                fulfilment_id=fulfilment_of[line.sku_id],
                sku_id=line.sku_id,
                product_id=line.product_id,
                title=line.title,
                quantity=line.quantity,
                unit_price=price.unit_price,
                subtotal=price.subtotal,
                discount=price.discount,
                total=price.total,
                refunded_quantity=0,
                refunded_amount=0,
            )
        )
    pipelined.insert_later(session, OrderLine, [column_values(row) for row in written], skip_taken=False)
    coupons.lock(
        session,
        merchant_id=merchant_id,
        order_id=order.id,
        order_amount=order.total,
        discounts=found.coupon_discounts,
    )
    if priced.points_used:  # spent now, given back if the order is cancelled
        points.spend_for_order(
            session,
            merchant_id=merchant_id,
            customer_id=customer_id,
            order_id=order.id,
            points=priced.points_used,
            now=now,
        )
    session.flush()
    record_order_event(
        session, order, EventKind.ORDER_PLACED, now, amount=order.total, benefit=order.discount
    )
    return Placed(order, written, parts)


def place_order(
    db: Database,
    *,
    merchant_id: str,
    customer_id: str,
    scope: str,
    host_app: str | None,
    scene: str | None,
    location_id: str,
    items: list[tuple[str, int]] | None,
    pricer: CartPricer,
    timeout: timedelta,
    now: datetime,
    idempotency_key: str | None,
    payload: dict[str, Any],
    note: str = "",
    coupon_ids: list[str] | None = None,
    use_points: bool = False,
    fulfilment: routing.Request | None = None,
    operation: str = "checkout",
    campaign: Campaign | None = None,
    check: Callable[[Session], None] | None = None,
    take: Callable[[Session, Placed], None] | None = None,
    refused: Callable[[], None] | None = None,
) -> OrderOut:
    """A customer's checkout of ``items`` (``None``: their cart, emptied of what the order
    takes), at most once per Idempotency-Key (``payload``, the request, is what a retry
    with the same key must repeat). Priced and routed reading only, then placed in a unit
    of work of its own; the answer is built from the rows written.

    A campaign's buy (``shoplet.campaigns``) passes its price (``campaign``), the
    ``operation`` its key is kept under, ``check`` — its refusals from reading, before the
    price — and ``take``, which takes its counters in the order's unit of work (a refusal
    there rolls the order back). ``refused`` runs whenever the request does not place an
    order of its own — refused, failed or replayed (a Redis gate's units go back)."""
    where: dict[str, Any] = dict(
        merchant_id=merchant_id, scope=scope, key=idempotency_key, operation=operation, payload=payload
    )
    placed_here = False
    try:
        replayed = None
        with db.unit_of_work(write=False) as s:
            earlier = idempotency.recorded_later(s, **where)  # read with routing's reads
            try:
                if check is not None:
                    check(s)
                found = price_checkout(
                    s,
                    merchant_id=merchant_id,
                    customer_id=customer_id,
                    location_id=location_id,
                    items=cart_items(s, merchant_id, customer_id) if items is None else items,
                    pricer=pricer,
                    host_app=host_app,
                    now=now,
                    coupon_ids=coupon_ids,
                    use_points=use_points,
                    fulfilment=fulfilment,
                    campaign=campaign,
                )
            except ShopletError:
                # A retry of a request that went through is answered by its replay, not by
                # what checking out again would say now (the stock it took may be gone); a
                # new request's refusal stands.
                replayed = earlier()
                if replayed is None:
                    raise
        if replayed is None:
            answer: list[OrderOut] = []  # built in the unit of work that placed the order

            def work(s: Session) -> tuple[int, dict[str, Any]]:
                placed = place(
                    s,
                    found,
                    merchant_id=merchant_id,
                    customer_id=customer_id,
                    location_id=location_id,
                    host_app=host_app,
                    scene=scene,
                    note=note,
                    timeout=timeout,
                    now=now,
                    campaign=campaign,
                )
                if take is not None:
                    take(s, placed)
                if items is None:
                    empty_cart(s, merchant_id, customer_id, [line.sku_id for line in found.lines])
                parts = sorted(placed.fulfilments, key=lambda f: f.id)
                answer[:] = [shaped(placed.order, placed.lines, parts, for_customer=True)]
                return 201, {"order_id": placed.order.id}

            try:
                # A retry is rare: the first attempt writes the order and the record without
                # reading the record (a key already used fails its insert, the work rolls back
                # and run replays), and a refusal of the work is answered by the replay if any.
                _, stored = idempotency.run(db, work=work, read_first=False, **where)
            except ShopletError:
                with db.unit_of_work(write=False) as s:
                    replayed = idempotency.recorded(s, **where)
                if replayed is None:
                    raise
                stored = replayed[1]
            else:
                if answer and answer[0].id == stored["order_id"]:  # not a rolled-back attempt
                    placed_here = True
                    return answer[0]
        else:
            stored = replayed[1]
        with db.unit_of_work(write=False) as s:  # a replay: the order as it is now
            return order_out(
                s, get_order(s, merchant_id, stored["order_id"], customer_id=customer_id), for_customer=True
            )
    finally:
        if not placed_here and refused is not None:
            refused()
