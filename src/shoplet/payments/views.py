"""Payments and refunds as staff see them (the API's and the console's one rendering)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.payments import refunds
from shoplet.payments.models import Payment, Refund
from shoplet.payments.schemas import PaymentOut, RefundLineOut, RefundOut
from shoplet.scoping import owned


def refund_out(s: Session, refund: Refund) -> RefundOut:
    lines = [RefundLineOut.model_validate(x) for x in refunds.refund_lines(s, refund.merchant_id, refund.id)]
    fields = {c.name: getattr(refund, c.name) for c in Refund.__table__.columns}
    return RefundOut(**fields, lines=lines)


def payments_of(s: Session, merchant_id: str, order_id: str) -> list[PaymentOut]:
    rows = s.scalars(
        select(Payment).where(owned(Payment, merchant_id), Payment.order_id == order_id).order_by(Payment.id)
    )
    return [PaymentOut.model_validate(r) for r in rows]


def refunds_of(s: Session, merchant_id: str, order_id: str) -> list[RefundOut]:
    rows = s.scalars(
        select(Refund).where(owned(Refund, merchant_id), Refund.order_id == order_id).order_by(Refund.id)
    )
    return [refund_out(s, r) for r in rows]
