"""Turning orders into their API shape (shared by the merchant and storefront routes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shoplet.orders.models import Order
from shoplet.orders.schemas import OrderLineOut, OrderOut
from shoplet.orders.service import lines_of


def refund_status(order: Order) -> str:
    if order.refunded_amount == 0:
        return "none"
    return "full" if order.refunded_amount >= order.paid_amount else "partial"


def order_out(s: Session, order: Order) -> OrderOut:
    lines = [OrderLineOut.model_validate(line) for line in lines_of(s, order.merchant_id, order.id)]
    fields = {c.name: getattr(order, c.name) for c in Order.__table__.columns}
    return OrderOut(**fields, lines=lines, refund_status=refund_status(order))
