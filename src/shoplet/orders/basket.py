"""A basket at a location for a customer: its lines read and checked, where it ships from,
and what it costs (:func:`price_items`) — what checkout, the storefront's quote and the
campaigns' buys price with — and :func:`try_cart`, an operator's try of a promotion on a
basket before publishing it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from shoplet import pipelined
from shoplet.catalog.models import Product, ProductStatus, Sku
from shoplet.coupons import redemption as coupons
from shoplet.db import by_key
from shoplet.errors import InvalidInput, Unprocessable
from shoplet.guides.models import GuideBinding
from shoplet.inventory.models import StockLevel, StockLocation
from shoplet.membership import loyalty
from shoplet.orders import routing
from shoplet.orders.pricing import Campaign, CartLine, CartPricer, PricedCart, PricingContext
from shoplet.orders.service import MAX_LINES, MAX_QUANTITY
from shoplet.promotions import service as promotions
from shoplet.promotions.models import Promotion
from shoplet.scoping import owned, same_tenant

# Built once: every checkout and quote reads the basket's SKUs with their products and, in
# the same statement, their stock levels at the locations the order may ship from (the
# chosen one, bound as "id", and the merchant's active warehouses): a SKU's row once per
# level there, or once with no level.
_CART_SKUS_OF = (
    select(
        Sku.id,
        Sku.name,
        Sku.status,
        Sku.list_price,
        Sku.member_price,
        Sku.light_member_price,
        Product.id.label("product_id"),
        Product.title,
        Product.category_id,
        Product.status.label("product_status"),
        StockLevel.location_id.label("level_location_id"),
        (StockLevel.on_hand - StockLevel.reserved).label("level_available"),
    )
    .join(Product, (same_tenant(Product, Sku)) & (Product.id == Sku.product_id))
    .outerjoin(
        StockLevel,
        same_tenant(StockLevel, Sku)
        & (StockLevel.sku_id == Sku.id)
        & StockLevel.location_id.in_(routing.CANDIDATE_IDS.scalar_subquery()),
    )
    .where(owned(Sku, bindparam("m")))
)  # plain rows, not entities: only what a line needs
# by whether the database is PostgreSQL. The statement is compiled once (shoplet.pipelined),
# which an expanding IN list cannot be: the ids are one parameter, an array on PostgreSQL and
# a JSON array on SQLite.
_IDS_JSON = func.json_each(bindparam("ids", type_=JSON)).table_valued("value")
_CART_SKUS = {
    False: _CART_SKUS_OF.where(Sku.id.in_(select(_IDS_JSON.c.value))),
    True: _CART_SKUS_OF.where(Sku.id == any_(bindparam("ids", type_=ARRAY(String)))),
}

# What checkout reads per customer, in one statement: the membership terms and the shopping
# guide the customer is bound to (the order is attributed to them).
_CUSTOMER = loyalty.TERMS.outerjoin(
    GuideBinding, owned(GuideBinding, bindparam("m")) & (GuideBinding.customer_id == bindparam("c"))
).add_columns(GuideBinding.guide_id, GuideBinding.store_id.label("guide_store_id"))


def _cart_lines(
    session: Session, merchant_id: str, location_id: str, items: list[tuple[str, int]]
) -> tuple[list[CartLine], dict[tuple[str, str], int]]:
    """The basket's lines, checked, and the units available by (location id, SKU id) where
    the order may ship from (see :data:`_CART_SKUS`)."""
    merged = _merged(items)
    rows = session.connection().execute(*_cart_read(session, merchant_id, location_id, merged))
    return _lines_from(rows, merged)


def _merged(items: list[tuple[str, int]]) -> dict[str, int]:
    """Each SKU's quantity, checked before anything is read."""
    if not items:
        raise InvalidInput("order.empty", "The order has no items.")
    merged: dict[str, int] = {}
    for sku_id, quantity in items:
        if quantity <= 0 or quantity > MAX_QUANTITY:
            raise InvalidInput("order.bad_quantity", f"Each quantity must be between 1 and {MAX_QUANTITY}.")
        merged[sku_id] = merged.get(sku_id, 0) + quantity
    if len(merged) > MAX_LINES:
        raise InvalidInput("order.too_many_lines", f"An order can have at most {MAX_LINES} different items.")
    return merged


def _cart_read(
    session: Session, merchant_id: str, location_id: str, merged: dict[str, int]
) -> tuple[Any, dict[str, Any]]:
    """The statement that reads the basket's SKUs with their stock, and its values."""
    statement = _CART_SKUS[session.connection().dialect.name == "postgresql"]
    return statement, {"m": merchant_id, "id": location_id, "ids": list(merged)}


def _lines_from(rows: Any, merged: dict[str, int]) -> tuple[list[CartLine], dict[tuple[str, str], int]]:
    found = {}
    available: dict[tuple[str, str], int] = {}
    for row in rows:
        found[row.id] = row
        if row.level_location_id is not None:
            available[(row.level_location_id, row.id)] = row.level_available
    lines = []
    for sku_id, quantity in merged.items():
        if sku_id not in found:
            raise Unprocessable(
                "order.unknown_sku", f"There is no item '{sku_id}' in this shop.", sku_id=sku_id
            )
        row = found[sku_id]
        if row.status != ProductStatus.ACTIVE or row.product_status != ProductStatus.ACTIVE:
            raise Unprocessable("order.sku_unavailable", f"'{row.title}' is no longer sold.", sku_id=sku_id)
        title = row.title if row.name in ("", row.title) else f"{row.title} ({row.name})"
        lines.append(
            CartLine(
                sku_id=row.id,
                product_id=row.product_id,
                title=title,
                category_id=row.category_id,
                quantity=quantity,
                list_price=row.list_price,
                member_price=row.member_price,
                light_member_price=row.light_member_price,
            )
        )
    return lines, available


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
class PricedItems:
    """A basket priced at a location for a customer: what checkout and the quote use."""

    lines: list[CartLine]
    cart: PricedCart  # the engine's answer: per-line amounts, applied rules, totals
    route: routing.Plan  # where each part ships from; its shipments' fees are the delivery fee
    member: bool  # member prices applied
    record: dict[str, Any]  # what the order keeps (order.pricing): applied rules, promotion snapshots
    coupon_options: list[dict[str, Any]]  # every held coupon: whether it applies, and why not
    guide: tuple[str, str | None] | None = None  # the customer's guide and their store, if bound

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
    # The reads go in two batches (one round trip each on PostgreSQL: shoplet.pipelined):
    # what routing needs, then, once it found a way, what pricing needs.
    merged = _merged(items)
    where, basket = pipelined.read_together(
        session,
        [
            routing.locations_read(merchant_id, location_id),
            _cart_read(session, merchant_id, location_id, merged),
        ],
    )
    found = routing.locations_from(where, location_id)
    location = taking_orders(found.location)
    lines, available = _lines_from(basket, merged)
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
            warehouses=found.warehouses,
            timezone=found.timezone,
            available=available,
        )
    if routed and not (campaign is not None and campaign.unrouted):
        routing.require(route)
    customers, promoted, coupons_held = pipelined.read_together(
        session,
        [
            (_CUSTOMER, {"m": merchant_id, "c": customer_id}),
            promotions.running_read(merchant_id, now),
            coupons.held_read(merchant_id, customer_id),
        ],
    )
    customer = customers[0]
    terms = loyalty.terms_of(session, customer, merchant_id=merchant_id, now=now, use_points=use_points)
    delivery_fee = route.fee
    fee = 0 if terms.free_delivery else delivery_fee
    member, light = terms.member, terms.light
    lines = (
        _light_prices(lines, light) if light else [replace(line, light_member_price=None) for line in lines]
    )
    running = promotions.running_from(promoted, host_app=host_app, store_id=location_id)
    held = coupons.held_from(coupons_held, host_app=host_app, store_id=location_id)
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
        guide=None if customer.guide_id is None else (customer.guide_id, customer.guide_store_id),
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
    lines = [
        replace(line, light_member_price=None)
        for line in _cart_lines(session, merchant_id, location_id, items)[0]
    ]
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
