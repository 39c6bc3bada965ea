from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from shoplet.schemas import Fen, In, Out


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


class OrderOut(Out):
    id: str
    customer_id: str
    location_id: str
    status: str
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
    lines: list[OrderLineOut]
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class CheckoutLine(In):
    sku_id: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=999)


class CheckoutIn(In):
    location_id: str = Field(min_length=1, max_length=32, description="The store or warehouse to buy from.")
    lines: list[CheckoutLine] | None = Field(
        None, min_length=1, max_length=100, description="Leave out to check out the cart.")
    note: str = Field("", max_length=500)
    coupon_ids: list[str] | None = Field(
        None, max_length=20, description="Leave out to let the best coupons be chosen; [] uses none.")
    use_points: bool = Field(False, description="Let points pay part of the goods (up to the merchant's share).")


class CartItemIn(In):
    quantity: int = Field(ge=0, le=999, description="0 removes the item.")


class CartItemOut(Out):
    sku_id: str
    quantity: int


class CancelIn(In):
    reason: str = Field("cancelled_by_merchant", max_length=64)


class QuoteIn(In):
    location_id: str = Field(min_length=1, max_length=32)
    lines: list[CheckoutLine] | None = Field(None, min_length=1, max_length=100,
                                             description="Leave out to price the cart.")
    coupon_ids: list[str] | None = Field(None, max_length=20,
                                         description="Leave out to let the best coupons be chosen; [] uses none.")
    use_points: bool = Field(False, description="Let points pay part of the goods (up to the merchant's share).")


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
    light_member_savings: int = Field(0, description="What light membership saves on this cart (its 'enjoyed').")
    points_used: int = Field(0, description="Points this cart would spend (with use_points).")
    applied: list[AppliedRule]
    coupons: list[CouponOption] = Field(description="Every coupon the customer holds, usable here or not, and why.")
    coupon_error: str | None = Field(None, description="Why the chosen coupons cannot be used (none were).")
