"""Checkout: a basket priced at a location for a customer, routed, and placed.

The price and the route are decided reading only (:func:`price_checkout`); the order is
then written by :func:`place`, whose writes are all conditional (stock reserved, a
delivery slot booked, coupons locked: the whole order or nothing). :func:`place_order` is
the storefront's checkout: the two in units of work of their own (on SQLite the single
writer holds its lock for the writes alone), under an Idempotency-Key. :func:`try_cart`
prices a basket for an operator trying a promotion before publishing it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.catalog.models import Product, ProductStatus, Sku
from shoplet.coupons import redemption as coupons
from shoplet.db import Database, by_key, new_id
from shoplet.errors import InvalidInput, ShopletError, Unprocessable
from shoplet.events import EventKind
from shoplet.guides.models import GuideBinding
from shoplet.inventory.models import StockLocation
from shoplet.membership import loyalty, points
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import routing
from shoplet.orders.models import Fulfilment, Order, OrderLine
from shoplet.orders.pricing import CartLine, CartPricer, PricedCart, PricingContext
from shoplet.orders.schemas import OrderOut
from shoplet.orders.service import (
    MAX_LINES,
    MAX_ORDER_AMOUNT,
    MAX_QUANTITY,
    cart_items,
    empty_cart,
    get_order,
    record_order_event,
)
from shoplet.orders.views import order_out, shaped
from shoplet.promotions import service as promotions
from shoplet.promotions.models import Promotion
from shoplet.scoping import owned, same_tenant

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
    return taking_orders(by_key(session, StockLocation, (merchant_id, location_id)))


def taking_orders(location: StockLocation | None) -> StockLocation:
    if location is None or not location.active:
        raise Unprocessable("order.location_unavailable", "That store or warehouse is not taking orders.")
    return location


@dataclass(frozen=True)
class Campaign:
    """Lines bought in a campaign (group-buy, flash sale, periodic plan): the campaign's price
    per unit of ``sku_id`` (the pricing contract's line ``campaign``), and what the order
    records of it (``orders.campaign_kind`` and ``campaign_ref``)."""

    kind: str  # the order's campaign_kind
    ref: str  # the order's campaign_ref
    price_kind: str  # group_price, flash_price, plan_price
    rule_id: str  # the id the price is applied under
    sku_id: str
    price: int
    coupons: bool = False
    list_price: int | None = None  # the line's list price per unit, when not the SKU's (a plan's period)
    member_prices: bool = True  # False: member prices do not compete with the campaign price
    unrouted: bool = False  # a plan's upfront order: nothing ships with it, no delivery fee

    def apply(self, lines: list[CartLine]) -> list[CartLine]:
        out = []
        for line in lines:
            if line.sku_id == self.sku_id:
                line = replace(
                    line,
                    campaign={
                        "id": self.rule_id,
                        "kind": self.price_kind,
                        "price": self.price,
                        "coupons": self.coupons,
                    },
                )
                if self.list_price is not None:
                    line = replace(line, list_price=self.list_price)
                if not self.member_prices:
                    line = replace(line, member_price=None, light_member_price=None)
            out.append(line)
        return out


@dataclass(frozen=True)
class PricedItems:
    """A basket priced at a location for a customer: what checkout and the quote use."""

    lines: list[CartLine]
    cart: PricedCart  # the engine's answer: per-line amounts, applied rules, totals
    route: routing.Plan  # where each part ships from; its shipments' fees are the delivery fee
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
    fulfilment: routing.Request | None = None,
    routed: bool = False,
    campaign: Campaign | None = None,
) -> PricedItems:
    """Plan where the items ship from and price them at the chosen location with the
    promotions running there now, for this customer: see :class:`PricedItems`.

    ``routed``: refuse (``stock.*``, ``delivery.*``) as soon as the plan finds no way to
    fulfil the order, before reading the customer's terms, promotions and coupons and
    running the engine — checkout's refusals cost only the routing. A quote prices anyway
    and shows the routing options."""
    found, warehouses = routing.with_warehouses(session, merchant_id, location_id)
    location = taking_orders(found)
    lines = _cart_lines(session, merchant_id, items)
    if campaign is not None:
        lines = campaign.apply(lines)
    if campaign is not None and campaign.unrouted:
        route = routing.Plan(shipments=[])
    else:
        route = routing.plan(
            session,
            location=location,
            items={line.sku_id: line.quantity for line in lines},
            request=fulfilment or routing.Request(),
            now=now,
            warehouses=warehouses,
        )
    if routed and not (campaign is not None and campaign.unrouted):
        routing.require(route)
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
        campaign_kind=campaign.kind if campaign else None,
        campaign_ref=campaign.ref if campaign else None,
    )
    connection = session.connection()
    connection.execute(_INSERT_ORDER, row_of(order))
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
    note: str,
    timeout: timedelta,
    now: datetime,
    idempotency_key: str | None,
    payload: dict[str, Any],
    coupon_ids: list[str] | None = None,
    use_points: bool = False,
    fulfilment: routing.Request | None = None,
) -> OrderOut:
    """A customer's checkout of ``items`` (``None``: their cart, emptied of what the order
    takes), at most once per Idempotency-Key (``payload``, the request, is what a retry
    with the same key must repeat). Priced and routed reading only, then placed in a unit
    of work of its own; the answer is built from the rows written."""
    where: dict[str, Any] = dict(
        merchant_id=merchant_id, scope=scope, key=idempotency_key, operation="checkout", payload=payload
    )
    replayed = None
    with db.unit_of_work(write=False) as s:
        try:
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
            )
        except ShopletError:
            # A retry of a request that went through is answered by its replay, not by what
            # checking out again would say now (the stock it took may be gone); a new
            # request's refusal stands. (A retry that would go through is replayed by run.)
            replayed = idempotency.recorded(s, **where)
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
            )
            if items is None:
                empty_cart(s, merchant_id, customer_id, [line.sku_id for line in found.lines])
            parts = sorted(placed.fulfilments, key=lambda f: f.id)
            answer[:] = [shaped(placed.order, placed.lines, parts, for_customer=True)]
            return 201, {"order_id": placed.order.id}

        try:
            # A retry is rare: the first attempt writes the order and the record without
            # reading the record (a key already used fails its insert, the work rolls back and
            # run replays), and a refusal of the work is answered by the replay if there is one.
            _, stored = idempotency.run(db, work=work, read_first=False, **where)
        except ShopletError:
            with db.unit_of_work(write=False) as s:
                replayed = idempotency.recorded(s, **where)  # e.g. the stock the first attempt took
            if replayed is None:
                raise
            stored = replayed[1]
        else:
            if answer and answer[0].id == stored["order_id"]:  # not a rolled-back attempt before a replay
                return answer[0]
    else:
        stored = replayed[1]
    with db.unit_of_work(write=False) as s:  # a replay: the order as it is now
        return order_out(
            s, get_order(s, merchant_id, stored["order_id"], customer_id=customer_id), for_customer=True
        )


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
