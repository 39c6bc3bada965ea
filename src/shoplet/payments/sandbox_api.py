"""The sandbox wallet: stands in for the screen where a buyer confirms a payment."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from shoplet.auth import Rt
from shoplet.errors import NotFound
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/sandbox", tags=["sandbox"])


class SandboxTradeOut(BaseModel):
    trade_no: str
    out_trade_no: str
    amount: int
    status: str
    refunded_amount: int
    paid_at: datetime | None


@router.post("/trades/{trade_no}/pay", response_model=SandboxTradeOut)
def buyer_pays(trade_no: str, rt: Rt) -> SandboxTradeOut:
    """The buyer pays a sandbox trade. The merchant hears of it by a signed notification."""
    if rt.sandbox is None:
        raise NotFound("sandbox.disabled", "The sandbox provider is not enabled.")
    trade = rt.sandbox.buyer_pays(trade_no)
    return SandboxTradeOut(
        trade_no=trade.trade_no,
        out_trade_no=trade.out_trade_no,
        amount=trade.amount,
        status=trade.status,
        refunded_amount=trade.refunded_amount,
        paid_at=trade.paid_at,
    )
