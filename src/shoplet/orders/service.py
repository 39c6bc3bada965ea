"""Checkout, cancellation, fulfilment and the unpaid-order sweep.

Checkout prices the cart through a :class:`~shoplet.orders.pricing.CartPricer`, writes
the order, and reserves stock at the chosen location in the same transaction: either
the whole order is reserved or nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.catalog.models import Product, ProductStatus, Sku
from shoplet.coupons import redemption as coupons
from shoplet.db import by_key, changed, new_id
from shoplet.errors import Conflict, InvalidInput, NotFound, Unprocessable
from shoplet.events import EventKind
from shoplet.guides import commissions
from shoplet.guides.models import GuideBinding
from shoplet.inventory.models import StockLocation
from shoplet.membership import loyalty, points
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import pickups
from shoplet.orders.models import CartItem, Fulfilment, Order, OrderLine, OrderStatus
from shoplet.orders.pricing import CartLine, CartPricer, PricedCart, PricingContext
from shoplet.promotions import service as promotions
from shoplet.promotions.models import Promotion
from shoplet.schemas import MAX_MONEY
from shoplet.scoping import get_owned, owned, same_tenant, scoped

MAX_LINES = 100
MAX_QUANTITY = 999
MAX_ORDER_AMOUNT = MAX_MONEY  # every stored amount fits the databases' 32-bit integer columns


# Built once: every checkout and quote reads the basket's SKUs with their products.
_CART_SKUS = (
    select(Sku, Product)
    .join(Product, (same_tenant(Product, Sku)) & (Product.id == Sku.product_id))
    .where(owned(Sku, bindparam("m")), Sku.id.in_(bindparam("ids", expanding=True)))
)


def _cart_lines(session: Session, merchant_id: str, items: list[tuple[str, int]]) -> list[CartLine]:
    if not items:
        raise InvalidInput("order.empty", "The order has no items.")
    merged: dict[str, int] = {}
    for sku_id, quantity in items:
        if quantity <= 0 or quantity > MAX_QUANTITY:
            raise InvalidInput("order.bad_quantity", f"Each quantity must be between 1 and {MAX_QUANTITY}.")
        merged[sku_id] = merged.get(sku_id, 0) + quantity
    if len(merged) > MAX_LINES:
        raise InvalidInput("order.too_many_lines", f"An order can have at most {MAX_LINES} different items.")
    rows = session.execute(_CART_SKUS, {"m": merchant_id, "ids": list(merged)}).all()
    found = {sku.id: (sku, product) for sku, product in rows}
    lines = []
    for sku_id, quantity in merged.items():
        if sku_id not in found:
            raise Unprocessable(
                "order.unknown_sku", f"There is no item '{sku_id}' in this shop.", sku_id=sku_id
            )
        sku, product = found[sku_id]
        if sku.status != ProductStatus.ACTIVE or product.status != ProductStatus.ACTIVE:
            raise Unprocessable(
                "order.sku_unavailable", f"'{product.title}' is no longer sold.", sku_id=sku_id
            )
        title = product.title if sku.name in ("", product.title) else f"{product.title} ({sku.name})"
        lines.append(
            CartLine(
                sku_id=sku.id,
                product_id=product.id,
                title=title,
                category_id=product.category_id,
                quantity=quantity,
                list_price=sku.list_price,
                member_price=sku.member_price,
                light_member_price=sku.light_member_price,
            )
        )
    return lines


def _light_prices(lines: list[CartLine], light: loyalty.LightTerms) -> list[CartLine]:
    """A light member's item price: the SKU's light-member price (if the plan grants it) or
    the plan's percent off the list price, whichever is lower (one item-level price per line)."""
    priced = []
    for line in lines:
        candidates = []
        if light.prices and line.light_member_price is not None:
            candidates.append(line.light_member_price)
        if light.percent_off:
            candidates.append(line.list_price - (line.list_price * light.percent_off + 50) // 100)
        priced.append(replace(line, light_member_price=min(candidates) if candidates else None))
    return priced


def location_of(session: Session, merchant_id: str, location_id: str) -> StockLocation:
    location = by_key(session, StockLocation, (merchant_id, location_id))
    if location is None or not location.active:
        raise Unprocessable("order.location_unavailable", "That store or warehouse is not taking orders.")
    return location


@dataclass(frozen=True)
class PricedItems:
    """A basket priced at a location for a customer: what checkout and the quote use."""

    lines: list[CartLine]
    cart: PricedCart  # the engine's answer: per-line amounts, applied rules, totals
    route: fulfilments.Plan  # where each part ships from; its shipments' fees are the delivery fee
    member: bool  # member prices applied
    record: dict[str, Any]  # what the order keeps (order.pricing): applied rules, promotion snapshots
    coupon_options: list[dict[str, Any]]  # every held coupon: whether it applies, and why not

    @property
    def coupon_discounts(self) -> dict[str, int]:
        """Each applied coupon's discount, by coupon id (they are set aside with the order)."""
        return {c["id"]: c["discount"] for c in self.record["coupons"]}

    @property
    def promotion_names(self) -> dict[str, str]:
        return {p["id"]: p["name"] for p in self.record["promotions"]}


def price_items(
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
    fulfilment: fulfilments.Request | None = None,
    routed: bool = False,
) -> PricedItems:
    """Plan where the items ship from and price them at the chosen location with the
    promotions running there now, for this customer: see :class:`PricedItems`.

    ``routed``: refuse (``stock.*``, ``delivery.*``) as soon as the plan finds no way to
    fulfil the order, before reading the customer's terms, promotions and coupons and
    running the engine — checkout's refusals cost only the routing. A quote prices anyway
    and shows the routing options."""
    location = location_of(session, merchant_id, location_id)
    lines = _cart_lines(session, merchant_id, items)
    route = fulfilments.plan(
        session,
        location=location,
        items={line.sku_id: line.quantity for line in lines},
        request=fulfilment or fulfilments.Request(),
        now=now,
    )
    if routed:
        fulfilments.require(route)
    terms = loyalty.pricing_terms(
        session, merchant_id=merchant_id, customer_id=customer_id, now=now, use_points=use_points
    )
    delivery_fee = route.fee
    fee = 0 if terms.free_delivery else delivery_fee
    member, light = terms.member, terms.light
    lines = (
        _light_prices(lines, light) if light else [replace(line, light_member_price=None) for line in lines]
    )
    running = promotions.running(
        session, merchant_id=merchant_id, now=now, host_app=host_app, store_id=location_id
    )
    held = coupons.held(
        session, merchant_id=merchant_id, customer_id=customer_id, host_app=host_app, store_id=location_id
    )
    priced = pricer.price(
        lines,
        PricingContext(
            merchant_id=merchant_id,
            customer_id=customer_id,
            member=member,
            now=now,
            light_member=light is not None,
            points=terms.points,
            delivery_fee=fee,
            promotions=[promotions.as_rule(p) for p in running],
            coupons=[coupons.as_contract(c) for c in held],
            selected_coupons=coupon_ids,
        ),
    )
    amounts = {entry["id"]: entry["amount"] for entry in priced.applied}
    applied_coupons = {o["id"] for o in priced.coupons if o["applied"]}
    record: dict[str, Any] = {
        "member": member,
        "member_savings": priced.member_savings,
        "light_member_savings": priced.light_member_savings,
        "applied": priced.applied,
        "light_membership_id": light.membership_id if light else None,
        "points_used": priced.points_used,
        "delivery_fee_before_waivers": delivery_fee,
        "tier_free_delivery": bool(terms.free_delivery and delivery_fee),
        "promotions": [
            {"id": p.id, "name": p.name, "version": p.version, "rule": promotions.as_rule(p)}
            for p in running
            if p.id in amounts
        ],
        "coupons": [
            {
                "id": c.id,
                "template_id": c.template_id,
                "name": c.rule.get("name"),
                "discount": amounts.get(c.id, 0),
            }
            for c in held
            if c.id in applied_coupons
        ],
    }
    return PricedItems(
        lines=lines,
        cart=priced,
        route=route,
        member=member,
        record=record,
        coupon_options=[
            {**o, "name": c.rule.get("name"), "valid_until": c.valid_until}
            for o, c in zip(priced.coupons, held, strict=True)
        ],
    )


# Checkout writes the order and its lines with statements built once; the objects stay out
# of the session (every column is set on them: nothing comes back from the database) and
# are what the answer is built from.
_INSERT_ORDER = cast(Table, Order.__table__).insert()
_INSERT_LINES = cast(Table, OrderLine.__table__).insert()


def row_of(obj: Any) -> dict[str, Any]:
    """A mapped object's column values, for an INSERT of it."""
    return {column.key: getattr(obj, column.key) for column in obj.__table__.columns}


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
    fulfilment: fulfilments.Request | None = None,
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
    fulfilment: fulfilments.Request | None = None,
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
) -> Placed:
    """Write the order :func:`price_checkout` priced: the order, its fulfilments and lines,
    its stock reserved, its slot booked, its coupons locked and its points spent, atomically.
    Every one of those writes is conditional, so stock, a slot or a coupon that went
    elsewhere since the pricing read raises (the caller rolls back: nothing is written).

    The order keeps the applied rules and each line's allocated amount, so editing a
    promotion later never changes it and refunds return exactly what each line paid. A
    customer bound to a shopping guide has the order attributed to that guide."""
    lines, priced, record = found.lines, found.cart, found.record
    shipments = fulfilments.require(found.route)
    guide = by_key(session, GuideBinding, (merchant_id, customer_id))
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
        guide_id=guide.guide_id if guide else None,
        guide_store_id=guide.store_id if guide else None,
        currency="CNY",
        paid_amount=0,
        refunded_amount=0,
    )
    connection = session.connection()
    connection.execute(_INSERT_ORDER, row_of(order))
    quantities = {line.sku_id: line.quantity for line in lines}
    parts, fulfilment_of = fulfilments.create(
        session, order=order, shipments=shipments, items=quantities, now=now
    )
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
    connection.execute(_INSERT_LINES, [row_of(line) for line in written])
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


def try_cart(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    items: list[tuple[str, int]],
    pricer: CartPricer,
    proposal: Promotion | None,
    member: bool,
    host_app: str | None,
    now: datetime,
) -> tuple[list[CartLine], PricedCart, dict[str, str]]:
    """Price a cart at a store, in a host app, with the promotions running there now, plus a
    proposed one (not saved) where it would run: the operator's "try a cart" before
    publishing. No customer, no coupons. Returns the lines, the engine's answer and each
    applied rule's name by id."""
    location_of(session, merchant_id, location_id)
    lines = [replace(line, light_member_price=None) for line in _cart_lines(session, merchant_id, items)]
    rules = promotions.running(
        session, merchant_id=merchant_id, now=now, host_app=host_app, store_id=location_id
    )
    if proposal is not None and promotions.applies_at(proposal, host_app=host_app, store_id=location_id):
        rules = [*rules, proposal]
    priced = pricer.price(
        lines,
        PricingContext(
            merchant_id=merchant_id,
            customer_id="",
            member=member,
            now=now,
            promotions=[promotions.as_rule(p) for p in rules],
        ),
    )
    return lines, priced, {p.id: p.name for p in rules}


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
