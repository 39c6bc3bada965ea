"""Collecting payment: open a trade, apply notifications, reconcile.

Applying "paid" is the one path for notifications and reconciliation alike; it is
idempotent (conditional updates on the payment and the order) and order-independent:
a "closed" after "paid" changes nothing, and money that arrives for an order that was
cancelled meanwhile is refunded automatically.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet import order_hooks
from shoplet.coupons import issuing as coupon_events
from shoplet.coupons import redemption as coupons
from shoplet.db import Database, new_id
from shoplet.errors import Conflict, Unprocessable
from shoplet.events import EventKind
from shoplet.guides import commissions
from shoplet.membership import loyalty
from shoplet.membership.service import enrol_on_payment
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders.models import Order, OrderStatus
from shoplet.orders.service import get_order, record_order_event
from shoplet.outbox import emit
from shoplet.payments.models import Payment, PaymentNotification, PaymentStatus, Refund
from shoplet.payments.provider import Notification, PaymentProvider, TradeStatus
from shoplet.scoping import get_owned, owned, transition

REFUND_TOPIC = "refund.process"

# The hot path's statements, built once; each transition returns the row it moved.
_INSERT_PAYMENT = cast(Table, Payment.__table__).insert()
_OPEN_FOR_ORDER = (
    select(Payment)
    .where(
        owned(Payment, bindparam("m")),
        Payment.order_id == bindparam("o"),
        Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.PAID)),
    )
    .order_by(Payment.id)
)
_ATTACH = transition(
    Payment,
    Payment.provider_trade_no.is_(None),
    provider_trade_no=bindparam("trade_no"),
    pay_params=bindparam("params"),
)
_MARK_PAID = transition(
    Payment,
    Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.CLOSED)),
    status="paid",
    paid_at=bindparam("at"),
    provider_trade_no=bindparam("trade_no"),
)
_MARK_CLOSED = transition(
    Payment, Payment.status == PaymentStatus.PENDING, status="closed", closed_at=bindparam("at")
)
_ORDER_PAID = transition(
    Order,
    Order.status == OrderStatus.PENDING_PAYMENT,
    status="paid",
    paid_at=bindparam("at"),
    paid_amount=bindparam("paid"),
)


def open_payment(
    session: Session,
    *,
    merchant_id: str,
    order_id: str,
    customer_id: str | None,
    provider: str,
    now: datetime,
) -> Payment:
    """The order's open payment, creating it if needed (one open trade per order)."""
    order = get_order(session, merchant_id, order_id, customer_id=customer_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise Conflict(
            "order.not_payable", f"This order is {order.status.replace('_', ' ')} and cannot be paid."
        )
    if order.expires_at <= now:
        raise Conflict("order.payment_expired", "The time to pay for this order has run out.")
    existing = session.scalar(_OPEN_FOR_ORDER, {"m": merchant_id, "o": order_id})
    if existing is not None:
        if existing.provider != provider:
            raise Conflict(
                "payment.in_progress", "A payment with another method is already open for this order."
            )
        return existing
    values = {
        "merchant_id": merchant_id,
        "id": new_id("pay"),
        "order_id": order_id,
        "provider": provider,
        "amount": order.total,
        "status": PaymentStatus.PENDING.value,
        "provider_trade_no": None,
        "pay_params": {},
        "created_at": now,
        "paid_at": None,
        "closed_at": None,
    }
    session.connection().execute(_INSERT_PAYMENT, values)  # a plain row: no ORM flush
    return Payment(**values)


def attach_trade(
    db: Database, provider: PaymentProvider, *, merchant_id: str, payment_id: str, notify_url: str
) -> Payment:
    """Open the provider's trade for a payment (outside any transaction) and remember it."""
    with db.unit_of_work(write=False) as session:
        payment = get_owned(session, Payment, merchant_id, payment_id, what="Payment")
    if payment.provider_trade_no:
        return payment
    created = provider.create_trade(
        merchant_id=merchant_id,
        out_trade_no=payment.id,
        amount=payment.amount,
        subject=f"Order {payment.order_id}",
        notify_url=notify_url,
    )
    with db.unit_of_work() as session:
        attached = session.execute(
            _ATTACH,
            {"m": merchant_id, "key": payment_id, "trade_no": created.trade_no, "params": created.pay_params},
        ).scalar()
        # Attached meanwhile by another request: the trade the payment holds stays.
        return attached or get_owned(session, Payment, merchant_id, payment_id, what="Payment")


def record_notification(session: Session, notification: Notification, provider: str, now: datetime) -> str:
    """Apply a verified notification once. Returns the outcome (also stored)."""
    if session.get(PaymentNotification, (notification.merchant_id, provider, notification.notify_id)):
        return "duplicate"
    payment = session.get(Payment, (notification.merchant_id, notification.out_trade_no))
    if payment is None or payment.provider != provider:
        outcome = "unknown_payment"
    elif notification.amount != payment.amount:
        outcome = "amount_mismatch"
    elif notification.event == "trade.paid":
        outcome = apply_paid(
            session,
            payment=payment,
            trade_no=notification.trade_no,
            paid_at=notification.paid_at or now,
            now=now,
        )
    elif notification.event == "trade.closed":
        outcome = apply_closed(session, payment=payment, now=now)
    else:
        outcome = "ignored"
    try:
        with session.begin_nested():
            session.add(
                PaymentNotification(
                    merchant_id=notification.merchant_id,
                    provider=provider,
                    notify_id=notification.notify_id,
                    payment_id=notification.out_trade_no,
                    event=notification.event,
                    payload=notification.raw,
                    outcome=outcome,
                    received_at=now,
                )
            )
    except IntegrityError:
        return "duplicate"
    return outcome


def apply_paid(session: Session, *, payment: Payment, trade_no: str, paid_at: datetime, now: datetime) -> str:
    """Money was taken for ``payment``: mark it and its order paid, or refund it if too late.
    ``payment`` is current afterwards."""
    merchant_id = payment.merchant_id
    moved = session.execute(
        _MARK_PAID, {"m": merchant_id, "key": payment.id, "at": paid_at, "trade_no": trade_no}
    ).scalar()
    if moved is None:
        session.refresh(payment)
        return "already_paid"
    # The order as the UPDATE left it, or (not pending any more) as it is now.
    order = session.execute(
        _ORDER_PAID, {"m": merchant_id, "key": payment.order_id, "at": paid_at, "paid": payment.amount}
    ).scalar()
    order_paid = order is not None
    if order is None:
        order = session.get_one(Order, (merchant_id, payment.order_id), populate_existing=True)
    if order_paid:
        record_order_event(
            session,
            order,
            EventKind.ORDER_PAID,
            paid_at,
            amount=payment.amount,
            benefit=order.discount,
            subject_at=paid_at,
        )
        coupons.use_for_order(
            session, merchant_id=merchant_id, order_id=order.id, now=now, store_id=order.location_id
        )
        if order_hooks.paid(session, order, now):  # a group's orders wait for the group
            fulfilments.on_paid(session, order=order, paid_at=paid_at)
        commissions.on_paid(
            session,
            merchant_id=merchant_id,
            order_id=order.id,
            customer_id=order.customer_id,
            guide_id=order.guide_id,
            store_id=order.guide_store_id,
            goods_paid=payment.amount - order.delivery_fee,
            now=now,
        )
        joined = enrol_on_payment(
            session,
            merchant_id=merchant_id,
            customer_id=order.customer_id,
            order_id=order.id,
            host_app=order.host_app,
            scene=order.scene,
            now=now,
        )
        triggers = {"order_at_least": f"order:{order.id}"}
        if joined:  # the first paid order makes a member: both events happen now
            triggers.update(
                joined=f"customer:{order.customer_id}", first_order=f"customer:{order.customer_id}"
            )
        coupon_events.on_event(
            session,
            merchant_id=merchant_id,
            customer_id=order.customer_id,
            events=triggers,
            order_amount=payment.amount,
            now=now,
        )
        loyalty.on_paid(
            session,
            merchant_id=merchant_id,
            customer_id=order.customer_id,
            order_id=order.id,
            paid=payment.amount,
            light_savings=(order.pricing or {}).get("light_member_savings", 0),
            placed_at=order.created_at,
            now=now,
        )
        return "paid"
    # The order was cancelled (timed out) or already paid by another payment: give it back.
    session.execute(
        update(Order)
        .where(owned(Order, merchant_id), Order.id == order.id)
        .values(
            paid_amount=Order.paid_amount + payment.amount,
            refunded_amount=Order.refunded_amount + payment.amount,
        )
    )
    refund = Refund(
        merchant_id=merchant_id,
        id=new_id("rfd"),
        order_id=order.id,
        payment_id=payment.id,
        amount=payment.amount,
        status="pending",
        reason="paid_after_cancel" if order.status == OrderStatus.CANCELLED else "duplicate_payment",
        created_at=now,
    )
    session.add(refund)
    session.flush()
    emit(
        session,
        merchant_id=merchant_id,
        topic=REFUND_TOPIC,
        payload={"merchant_id": merchant_id, "refund_id": refund.id},
        now=now,
    )
    return "refunded_late_payment"


def apply_closed(session: Session, *, payment: Payment, now: datetime) -> str:
    """The provider closed the trade: close a pending payment (``payment`` is current afterwards)."""
    closed = session.execute(_MARK_CLOSED, {"m": payment.merchant_id, "key": payment.id, "at": now}).scalar()
    if closed is None:
        session.refresh(payment)
        return "ignored"
    return "closed"


def reconcile(
    db: Database, provider: PaymentProvider, *, merchant_id: str, payment_id: str, now: datetime
) -> Payment:
    """Ask the provider how a payment stands and apply it, as if notified. The trade is named
    by the payment's id; callers have read the payment to choose its provider."""
    status: TradeStatus | None = provider.query_trade(merchant_id=merchant_id, out_trade_no=payment_id)
    with db.unit_of_work() as session:
        payment = get_owned(session, Payment, merchant_id, payment_id, what="Payment")
        if status is not None and status.amount != payment.amount:
            raise Unprocessable(
                "payment.amount_mismatch", "The provider reports another amount for this payment."
            )
        if status is not None and status.status == "paid":
            apply_paid(
                session, payment=payment, trade_no=status.trade_no, paid_at=status.paid_at or now, now=now
            )
        elif status is not None and status.status == "closed":
            apply_closed(session, payment=payment, now=now)
        return payment


def close_open_payments(
    db: Database, provider_for: dict[str, PaymentProvider], *, merchant_id: str, order_id: str, now: datetime
) -> None:
    """After an order is cancelled, close its open trades so the buyer can no longer pay."""
    with db.unit_of_work(write=False) as session:
        open_payments = list(
            session.scalars(
                select(Payment).where(
                    owned(Payment, merchant_id),
                    Payment.order_id == order_id,
                    Payment.status == PaymentStatus.PENDING,
                )
            )
        )
    for payment in open_payments:
        provider = provider_for.get(payment.provider)
        if provider is not None:
            provider.close_trade(merchant_id=merchant_id, out_trade_no=payment.id)
        with db.unit_of_work() as session:
            fresh = session.get(Payment, (merchant_id, payment.id))
            if fresh is not None:
                apply_closed(session, payment=fresh, now=now)


def stale_pending(session: Session, *, before: datetime, limit: int) -> list[tuple[str, str, str]]:
    """(merchant_id, payment_id, provider) of pending payments opened before ``before``:
    candidates for reconciliation."""
    return [
        (row[0], row[1], row[2])
        for row in session.execute(
            select(Payment.merchant_id, Payment.id, Payment.provider)
            .where(
                Payment.status == PaymentStatus.PENDING,
                Payment.created_at <= before,
                Payment.provider_trade_no.is_not(None),
            )
            .order_by(Payment.created_at)
            .limit(limit)
        )
    ]
