"""The seam where checkout asks what a cart costs.

Checkout depends only on :class:`CartPricer`; :class:`EnginePricer` answers through the
pricing engine (``shoplet.pricing``) with the merchant's running promotions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from shoplet.pricing import price


@dataclass(frozen=True)
class CartLine:
    sku_id: str
    product_id: str
    title: str
    category_id: str | None
    quantity: int
    list_price: int
    member_price: int | None
    light_member_price: int | None = None
    # A line bought in a campaign: the contract's line ``campaign`` (id, kind, price, coupons).
    campaign: dict[str, Any] | None = None


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
class PricingContext:
    merchant_id: str
    customer_id: str
    member: bool
    now: datetime
    light_member: bool = False
    points: dict[str, int] | None = None  # {"balance", "value_per_point", "max_share_percent"}
    delivery_fee: int = 0  # what the shipments cost; free-delivery rules may waive it
    promotions: list[dict[str, Any]] = field(default_factory=list)  # rules of contracts/pricing.md
    coupons: list[dict[str, Any]] = field(default_factory=list)  # the customer's coupons, same contract
    selected_coupons: list[str] | None = None  # None: the engine chooses the best


@dataclass(frozen=True)
class PricedLine:
    unit_price: int
    subtotal: int
    discount: int
    total: int


@dataclass(frozen=True)
class PricedCart:
    lines: list[PricedLine]
    subtotal: int
    discount: int
    delivery_fee: int
    total: int
    applied: list[dict[str, Any]] = field(default_factory=list)
    member_savings: int = 0
    light_member_savings: int = 0
    points_used: int = 0
    coupons: list[dict[str, Any]] = field(default_factory=list)  # usable / applied / reason per coupon
    selection_error: str | None = None


class CartPricer(Protocol):
    def price(self, lines: list[CartLine], context: PricingContext) -> PricedCart: ...


class EnginePricer:
    """Prices through the engine: the best combination of the running promotions."""

    def price(self, lines: list[CartLine], context: PricingContext) -> PricedCart:
        items = []
        for line in lines:
            item = {
                "sku": line.sku_id,
                "quantity": line.quantity,
                "unit_price": line.list_price,
                "category": line.category_id,
                "member_price": line.member_price,
                "light_member_price": line.light_member_price,
            }
            if line.campaign is not None:
                item["campaign"] = line.campaign
            items.append(item)
        cart: dict[str, Any] = {
            "now": context.now.isoformat(),
            "lines": items,
            "customer": {"member": context.member, "light_member": context.light_member},
            "promotions": context.promotions,
            "coupons": context.coupons,
            "selected_coupons": context.selected_coupons,
            "delivery_fee": context.delivery_fee,
        }
        if context.points:
            cart["points"] = context.points
        result = price(cart)
        priced = [
            PricedLine(
                unit_price=line.list_price,
                subtotal=out["subtotal"],
                discount=out["discount"],
                total=out["total"],
            )
            for line, out in zip(lines, result["lines"], strict=True)
        ]
        return PricedCart(
            lines=priced,
            subtotal=result["subtotal"],
            discount=result["discount"],
            delivery_fee=result["delivery_fee"],
            total=result["total"],
            applied=result["applied"],
            member_savings=result["member_savings"],
            light_member_savings=result["light_member_savings"],
            coupons=result["coupons"],
            points_used=next((a["points_used"] for a in result["applied"] if a["id"] == "points"), 0),
            selection_error=result["selection_error"],
        )
