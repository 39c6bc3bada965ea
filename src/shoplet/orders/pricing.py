"""The seam where checkout asks what a cart costs.

Checkout depends only on :class:`CartPricer`. Until the pricing engine (SPEC §R) lands,
:class:`ListPricePricer` charges list prices; the engine will be another ``CartPricer``
that fills ``discount`` per line and ``applied`` with the rules it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class CartLine:
    sku_id: str
    product_id: str
    title: str
    category_id: str | None
    quantity: int
    list_price: int
    member_price: int | None


@dataclass(frozen=True)
class PricingContext:
    merchant_id: str
    customer_id: str
    member: bool
    now: datetime


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


class CartPricer(Protocol):
    def price(self, lines: list[CartLine], context: PricingContext) -> PricedCart: ...


class ListPricePricer:
    """Every unit at its list price; no promotions, no delivery fee."""

    def price(self, lines: list[CartLine], context: PricingContext) -> PricedCart:
        priced = [
            PricedLine(unit_price=line.list_price, subtotal=line.list_price * line.quantity,
                       discount=0, total=line.list_price * line.quantity)
            for line in lines
        ]
        subtotal = sum(p.subtotal for p in priced)
        return PricedCart(lines=priced, subtotal=subtotal, discount=0, delivery_fee=0, total=subtotal)
