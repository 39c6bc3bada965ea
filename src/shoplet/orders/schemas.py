from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shoplet.orders import routing
from shoplet.schemas import Fen, Id, In, Instant, Out


class OrderLineOut(Out):
    id: str
    line_no: int
    sku_id: str
    product_id: str
    title: str
    quantity: int
    unit_price: Fen
    subtotal: Fen
    discount: Fen
    total: Fen = Field(description="The allocated payable amount of this line.")
    refunded_quantity: int
    refunded_amount: Fen


class FulfilmentOut(Out):
    id: str
    location_id: str
    mode: str = Field(
        description="pickup, delivery, express, or plan (a periodic plan's upfront order: "
        "handed over by its delivery orders)."
    )
    status: str = Field(
        description="pending (unpaid), ready, done, expired (uncollected pickup, refunded) or cancelled."
    )
    fee: Fen = Field(description="This part's delivery fee before free-delivery waivers.")
    delivery_paid: Fen = Field(description="Its share of the delivery fee the order paid (after waivers).")
    pickup_code: str | None = Field(
        None, description="Shown to the customer once the order is paid; the clerk verifies it at the store."
    )
    ready_at: datetime | None = Field(description="Pickup: ready from. Express: ships by.")
    slot_start: datetime | None
    slot_end: datetime | None
    address: dict[str, Any] | None
    distance_m: int | None
    expires_at: datetime | None = Field(description="Pickup: collect by, or it is refunded.")
    done_at: datetime | None
    line_ids: list[str] = Field(default_factory=list)


class OrderOut(Out):
    id: str
    customer_id: str
    location_id: str
    status: str = Field(
        description="pending_payment, paid, fulfilled (everything handed over), refunded "
        "(every unit refunded), closed (its pickup expired uncollected and was "
        "refunded) or cancelled (never paid)."
    )
    refund_status: str = Field(description="none, partial or full.")
    currency: str
    subtotal: Fen
    discount: Fen
    delivery_fee: Fen
    total: Fen
    paid_amount: Fen
    refunded_amount: Fen
    host_app: str | None
    scene: str | None
    note: str
    pricing: dict[str, Any]
    guide_id: str | None = Field(None, description="The shopping guide the order is attributed to.")
    campaign_kind: str | None = Field(
        None,
        description="Bought in a campaign: group, flash, plan (a plan's upfront order) or plan_delivery.",
    )
    campaign_ref: str | None = Field(
        None, description="group: the group's id (share it); flash: the flash item; plan: the subscription."
    )
    lines: list[OrderLineOut]
    fulfilments: list[FulfilmentOut] = Field(default_factory=list)
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class CheckoutLine(In):
    sku_id: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=999)


class DeliveryAddress(In):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=3, max_length=32)
    address: str = Field(min_length=1, max_length=400)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class FulfilmentIn(In):
    """How the customer gets the order, and where what the store lacks comes from."""

    mode: Literal["pickup", "delivery", "express"] | None = Field(
        None, description="Default: pickup at a store, express from a warehouse."
    )
    slot_start: Instant | None = Field(None, description="Delivery: the start of a slot the store offers.")
    address: DeliveryAddress | None = Field(None, description="Delivery: where to.")
    routing: Literal["store", "split", "warehouse"] = Field(
        "store",
        description="store: only the chosen location; split: what it lacks comes express from the "
        "warehouse; warehouse: the whole order express from the warehouse.",
    )


class CheckoutIn(In):
    location_id: str = Field(min_length=1, max_length=32, description="The store or warehouse to buy from.")
    lines: list[CheckoutLine] | None = Field(
        None, min_length=1, max_length=100, description="Leave out to check out the cart."
    )
    note: str = Field("", max_length=500)
    coupon_ids: list[Id] | None = Field(
        None, max_length=20, description="Leave out to let the best coupons be chosen; [] uses none."
    )
    use_points: bool = Field(
        False, description="Let points pay part of the goods (up to the merchant's share)."
    )
    fulfilment: FulfilmentIn | None = None


class CartItemIn(In):
    quantity: int = Field(ge=0, le=999, description="0 removes the item.")


class CartItemOut(Out):
    sku_id: str
    quantity: int


class CancelIn(In):
    reason: str = Field("cancelled_by_merchant", max_length=64)


class QuoteIn(In):
    location_id: str = Field(min_length=1, max_length=32)
    lines: list[CheckoutLine] | None = Field(
        None, min_length=1, max_length=100, description="Leave out to price the cart."
    )
    coupon_ids: list[Id] | None = Field(
        None, max_length=20, description="Leave out to let the best coupons be chosen; [] uses none."
    )
    use_points: bool = Field(
        False, description="Let points pay part of the goods (up to the merchant's share)."
    )
    fulfilment: FulfilmentIn | None = None


class ShipmentOut(Out):
    """Which location ships which items, how, at what fee, and when."""

    location_id: str
    location_name: str
    location_kind: str
    mode: str
    sku_ids: list[str]
    fee: int
    ready_at: datetime | None = Field(description="Pickup: ready from. Express: ships by.")
    slot_start: datetime | None
    slot_end: datetime | None
    arrive_by: datetime | None
    distance_m: int | None


class RoutingOption(Out):
    routing: str
    shipments: list[ShipmentOut]
    delivery_fee: int


class QuoteLine(Out):
    sku_id: str
    title: str
    quantity: int
    unit_price: int
    subtotal: int
    discount: int
    total: int


class AppliedRule(Out):
    id: str
    kind: str
    name: str | None = Field(None, description="The promotion's name, for the customer.")
    amount: int
    lines: list[int] = Field(description="What the rule took off each line, in line order.")
    delivery_waived: int | None = None


class CouponOption(Out):
    id: str
    name: str | None
    usable: bool
    applied: bool
    reason: str | None
    valid_until: datetime | None


class QuoteOut(Out):
    """What the customer will pay, and why — nothing is reserved or ordered."""

    lines: list[QuoteLine]
    subtotal: int
    discount: int
    delivery_fee: int
    total: int
    member: bool
    member_savings: int = Field(description="What membership saves on this cart.")
    light_member_savings: int = Field(
        0, description="What light membership saves on this cart (its 'enjoyed')."
    )
    points_used: int = Field(0, description="Points this cart would spend (with use_points).")
    applied: list[AppliedRule]
    coupons: list[CouponOption] = Field(
        description="Every coupon the customer holds, usable here or not, and why."
    )
    coupon_error: str | None = Field(None, description="Why the chosen coupons cannot be used (none were).")
    shipments: list[ShipmentOut] = Field(
        description="Who ships what and when, for the requested routing "
        "(empty: it cannot be met; see routing_options)."
    )
    missing: list[str] = Field(description="SKUs the chosen location cannot supply in full.")
    routing_options: list[RoutingOption] = Field(description="Every routing that would work now.")


class SlotOut(Out):
    start: datetime
    end: datetime
    remaining: int


class PickupIn(In):
    code: str = Field(min_length=4, max_length=12, pattern=r"^\d+$")
    store_id: str | None = Field(None, max_length=32, description="For staff not bound to a store.")


def fulfilment_request(body: FulfilmentIn | None) -> routing.Request:
    """A checkout's fulfilment request as routing takes it (none: the location's default)."""
    if body is None:
        return routing.Request()
    return routing.Request(
        mode=body.mode,
        slot_start=body.slot_start,
        routing=body.routing,
        address=body.address.model_dump() if body.address else None,
    )
