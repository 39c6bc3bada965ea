from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from shoplet.schemas import Fen, In, Out


class PaymentOut(Out):
    id: str = Field(description="Also the out_trade_no the provider knows this payment by.")
    order_id: str
    provider: str
    amount: Fen
    status: str
    provider_trade_no: str | None
    pay_params: dict[str, Any] = Field(description="What the mini program passes to the wallet to pay.")
    created_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None


class PaymentIn(In):
    provider: str = Field("sandbox", max_length=32)


class RefundLineIn(In):
    line_id: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=999)


class RefundIn(In):
    lines: list[RefundLineIn] | None = Field(
        None, min_length=1, max_length=100, description="Leave out to refund everything not yet refunded."
    )
    restock: bool = Field(False, description="Fulfilled goods came back: return them to stock.")
    reason: str = Field("", max_length=200)


class RefundLineOut(Out):
    order_line_id: str
    quantity: int
    amount: Fen


class RefundOut(Out):
    id: str
    order_id: str
    payment_id: str
    amount: Fen
    delivery_fee: Fen
    status: str
    reason: str
    restock: bool
    lines: list[RefundLineOut]
    created_at: datetime
    completed_at: datetime | None
