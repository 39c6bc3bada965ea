"""Turning orders into their API shape (shared by the merchant and storefront routes)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shoplet.orders.fulfilment import of_order
from shoplet.orders.models import Order
from shoplet.orders.schemas import FulfilmentOut, OrderLineOut, OrderOut
from shoplet.orders.service import lines_of


def refund_status(order: Order) -> str:
    if order.refunded_amount == 0:
        return "none"
    return "full" if order.refunded_amount >= order.paid_amount else "partial"


def order_out(s: Session, order: Order, *, for_customer: bool = False) -> OrderOut:
    """The order with its lines and fulfilments. A pickup code is shown only to its customer,
    once paid: staff verify the code the customer presents."""
    rows = lines_of(s, order.merchant_id, order.id)
    lines = [OrderLineOut.model_validate(line) for line in rows]
    parts = []
    for fulfilment in of_order(s, order.merchant_id, order.id):
        part = FulfilmentOut.model_validate(fulfilment)
        part.line_ids = [line.id for line in rows if line.fulfilment_id == fulfilment.id]
        if not (for_customer and fulfilment.status == "ready"):
            part.pickup_code = None
        parts.append(part)
    fields = {c.name: getattr(order, c.name) for c in Order.__table__.columns}
    return OrderOut(**fields, lines=lines, fulfilments=parts, refund_status=refund_status(order))
