"""Turning orders into their API shape (shared by the merchant and storefront routes)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.orders.models import Fulfilment, FulfilmentStatus, Order, OrderLine
from shoplet.orders.schemas import FulfilmentOut, OrderLineOut, OrderOut
from shoplet.scoping import owned


def refund_status(order: Order) -> str:
    if order.refunded_amount == 0:
        return "none"
    return "full" if order.refunded_amount >= order.paid_amount else "partial"


def orders_out(s: Session, orders: list[Order], *, for_customer: bool = False) -> list[OrderOut]:
    """Orders with their lines and fulfilments: two statements for any page. A pickup code is
    shown only to its customer, once ready: staff verify the code the customer presents."""
    if not orders:
        return []
    merchant_id = orders[0].merchant_id
    ids = [o.id for o in orders]
    lines: dict[str, list[OrderLine]] = {}
    for line in s.scalars(
        select(OrderLine)
        .where(owned(OrderLine, merchant_id), OrderLine.order_id.in_(ids))
        .order_by(OrderLine.order_id, OrderLine.line_no)
    ):
        lines.setdefault(line.order_id, []).append(line)
    fulfilments: dict[str, list[Fulfilment]] = {}
    for fulfilment in s.scalars(
        select(Fulfilment)
        .where(owned(Fulfilment, merchant_id), Fulfilment.order_id.in_(ids))
        .order_by(Fulfilment.id)
    ):
        fulfilments.setdefault(fulfilment.order_id, []).append(fulfilment)
    return [
        shaped(order, lines.get(order.id, []), fulfilments.get(order.id, []), for_customer=for_customer)
        for order in orders
    ]


_COLUMNS = [c.name for c in Order.__table__.columns]


def shaped(
    order: Order, lines: list[OrderLine], fulfilments: list[Fulfilment], *, for_customer: bool = False
) -> OrderOut:
    """One order's API shape from its rows in hand (``lines`` in line order)."""
    parts = []
    for fulfilment in fulfilments:
        part = FulfilmentOut.model_validate(fulfilment)
        part.line_ids = [line.id for line in lines if line.fulfilment_id == fulfilment.id]
        if not (for_customer and fulfilment.status == FulfilmentStatus.READY):
            part.pickup_code = None
        parts.append(part)
    return OrderOut(
        **{c: getattr(order, c) for c in _COLUMNS},
        lines=[OrderLineOut.model_validate(line) for line in lines],
        fulfilments=parts,
        refund_status=refund_status(order),
    )


def order_out(s: Session, order: Order, *, for_customer: bool = False) -> OrderOut:
    return orders_out(s, [order], for_customer=for_customer)[0]
