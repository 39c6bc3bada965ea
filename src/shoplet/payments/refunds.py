"""Refunds: whole or partial by line and quantity, never more than was paid.

A refund is two steps, because the provider is an external system:

1. :func:`request_refund` — in one transaction, lock the order, compute each line's
   share of its *allocated* payable amount, move the refunded quantities and amounts
   with conditional updates, return stock, and write the refund as ``pending``;
2. :func:`complete_refund` — ask the provider (idempotent on the refund id) and record
   the outcome. A crash between the two leaves a pending refund that the sweep or a
   replay of the request completes; it can never be paid out twice.

Shares use cumulative rounding: refunding ``k`` more of ``q`` units of a line whose
payable total is ``T``, after ``r`` were refunded, returns
``floor(T·(r+k)/q) − floor(T·r/q)`` — so refunding every unit returns exactly ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shoplet import idempotency, order_hooks, outbox
from shoplet.coupons import redemption as coupons
from shoplet.db import Database, changed, new_id
from shoplet.errors import Conflict, InvalidInput, Unprocessable
from shoplet.events import EventKind
from shoplet.guides import commissions
from shoplet.inventory import service as inventory
from shoplet.membership import loyalty
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders.models import Fulfilment, FulfilmentMode, FulfilmentStatus, Order, OrderLine, OrderStatus
from shoplet.orders.service import end_refunded, finish, get_order, lines_of, record_order_event, staff_order
from shoplet.payments.models import Payment, PaymentStatus, Refund, RefundLine, RefundStatus
from shoplet.payments.provider import PaymentProvider
from shoplet.scoping import get_owned, owned

REFUND_COMPLETED_TOPIC = "refund.completed"
"""Outbox topic: a refund's money went back to the customer ({merchant_id, refund_id})."""


@dataclass(frozen=True)
class RefundItem:
    line_id: str
    quantity: int


def line_share(total: int, quantity: int, refunded: int, more: int) -> int:
    """The allocated amount of ``more`` units after ``refunded`` of ``quantity`` (cumulative rounding)."""
    return total * (refunded + more) // quantity - total * refunded // quantity


def request_refund(
    session: Session,
    *,
    merchant_id: str,
    order_id: str,
    items: list[RefundItem] | None,
    restock: bool,
    reason: str,
    now: datetime,
) -> Refund:
    """Write a pending refund for the given lines (``None``: everything not yet refunded)."""
    order = get_order(session, merchant_id, order_id, for_update=True)
    session.refresh(order)  # the locked row, not a stale copy
    if order.status in (OrderStatus.REFUNDED, OrderStatus.CLOSED):
        raise Conflict("refund.already_refunded", "Everything on this order has already been refunded.")
    if order.status not in (OrderStatus.PAID, OrderStatus.FULFILLED):
        raise Conflict("refund.order_not_paid", "Only paid orders can be refunded.")
    payment = session.scalar(
        select(Payment)
        .where(
            owned(Payment, merchant_id), Payment.order_id == order_id, Payment.status == PaymentStatus.PAID
        )
        .order_by(Payment.paid_at)
    )
    if payment is None:
        raise Conflict("refund.no_payment", "This order has no captured payment to refund.")
    lines = {line.id: line for line in lines_of(session, merchant_id, order_id)}
    for line in lines.values():
        session.refresh(line)
    wanted = _wanted(lines, items)
    parts = {f.id: f for f in fulfilments.of_order(session, merchant_id, order_id)}
    handed_over = any(f.status == FulfilmentStatus.DONE for f in parts.values())
    refund = Refund(
        merchant_id=merchant_id,
        id=new_id("rfd"),
        order_id=order_id,
        payment_id=payment.id,
        amount=1,
        status="pending",
        reason=reason[:200],
        restock=restock,
        created_at=now,
    )
    session.add(refund)
    session.flush()
    # Decided before the UPDATEs below, which also refresh these objects in the session.
    fully_refunded = all(
        line.refunded_quantity + wanted.get(line.id, 0) == line.quantity for line in lines.values()
    )
    goods_before = sum(line.refunded_amount for line in lines.values())
    amount = 0
    returned: dict[str, dict[str, int]] = {}  # fulfilment id -> sku -> units
    for line_id, quantity in wanted.items():
        line = lines[line_id]
        share = line_share(line.total, line.quantity, line.refunded_quantity, quantity)
        moved = changed(
            session.execute(
                update(OrderLine)
                .where(
                    owned(OrderLine, merchant_id),
                    OrderLine.id == line_id,
                    OrderLine.refunded_quantity + quantity <= OrderLine.quantity,
                )
                .values(
                    refunded_quantity=OrderLine.refunded_quantity + quantity,
                    refunded_amount=OrderLine.refunded_amount + share,
                )
            )
        )
        if not moved:
            raise Conflict("refund.exceeds_quantity", "More units than remain unrefunded on a line.")
        session.add(
            RefundLine(
                merchant_id=merchant_id,
                refund_id=refund.id,
                order_line_id=line_id,
                quantity=quantity,
                amount=share,
            )
        )
        units = returned.setdefault(line.fulfilment_id, {})
        units[line.sku_id] = units.get(line.sku_id, 0) + quantity
        amount += share
    goods_refunded = goods_before + amount
    # The delivery fee comes back only if nothing was handed over yet.
    delivery = order.delivery_fee if fully_refunded and not handed_over else 0
    amount += delivery
    refunded_before, paid = order.refunded_amount, order.paid_amount  # before the UPDATE refreshes them
    if amount <= 0:
        raise Unprocessable("refund.nothing_to_refund", "These items were free: there is no money to return.")
    moved = changed(
        session.execute(
            update(Order)
            .where(
                owned(Order, merchant_id),
                Order.id == order_id,
                Order.refunded_amount + amount <= Order.paid_amount,
            )
            .values(refunded_amount=Order.refunded_amount + amount)
        )
    )
    if not moved:
        raise Conflict("refund.exceeds_paid", "That is more than remains of what was paid.")
    refund.amount, refund.delivery_fee = amount, delivery
    # The refund counts against the day the order was paid.
    record_order_event(
        session,
        order,
        EventKind.REFUND,
        now,
        subject_id=refund.id,
        ref=order.id,
        amount=amount,
        subject_at=order.paid_at,
    )
    if fully_refunded:
        coupons.return_for_order(session, merchant_id=merchant_id, order_id=order_id, now=now)
    loyalty.on_refund(
        session,
        merchant_id=merchant_id,
        customer_id=order.customer_id,
        order_id=order_id,
        refunded=refunded_before + amount,
        paid=paid,
        full=fully_refunded,
        now=now,
    )
    commissions.on_refund(session, merchant_id=merchant_id, order_id=order_id, goods_refunded=goods_refunded)
    order_hooks.refunded(session, order, fully_refunded, now)
    for fulfilment_id, units in returned.items():
        _return_stock(
            session, order=order, fulfilment=parts[fulfilment_id], items=units, restock=restock, now=now
        )
    fulfilments.after_refund(session, order=order)
    finish(session, order=order, now=now)
    if fully_refunded:
        end_refunded(session, order=order)
    session.flush()
    return refund


def _wanted(lines: dict[str, OrderLine], items: list[RefundItem] | None) -> dict[str, int]:
    if items is None:
        remaining = {
            line.id: line.quantity - line.refunded_quantity
            for line in lines.values()
            if line.quantity > line.refunded_quantity
        }
        if not remaining:
            raise Conflict("refund.already_refunded", "Everything on this order has already been refunded.")
        return remaining
    if not items:
        raise InvalidInput(
            "refund.empty", "Say which lines to refund, or leave 'lines' out to refund everything."
        )
    wanted: dict[str, int] = {}
    for item in items:
        if item.line_id not in lines:
            raise InvalidInput("refund.unknown_line", f"Line '{item.line_id}' is not on this order.")
        if item.quantity <= 0:
            raise InvalidInput("refund.bad_quantity", "Each refunded quantity must be at least 1.")
        wanted[item.line_id] = wanted.get(item.line_id, 0) + item.quantity
    for line_id, quantity in wanted.items():
        line = lines[line_id]
        if quantity > line.quantity - line.refunded_quantity:
            raise Unprocessable(
                "refund.exceeds_quantity",
                f"Only {line.quantity - line.refunded_quantity} of '{line.title}' can still be refunded.",
            )
    return wanted


def _return_stock(
    session: Session,
    *,
    order: Order,
    fulfilment: Fulfilment,
    items: dict[str, int],
    restock: bool,
    now: datetime,
) -> None:
    """Units not handed over give their reservation back at their location; handed-over
    units return on hand there if restocked. A plan's upfront part holds no stock (each
    period's delivery order reserves its own)."""
    if fulfilment.mode == FulfilmentMode.PLAN:
        return
    if fulfilment.status in fulfilments.OPEN or fulfilment.status == FulfilmentStatus.EXPIRED:
        inventory.release(
            session,
            merchant_id=order.merchant_id,
            location_id=fulfilment.location_id,
            items=items,
            order_id=order.id,
            reason="refund",
            now=now,
        )
    elif fulfilment.status == FulfilmentStatus.DONE and restock:
        inventory.restock(
            session,
            merchant_id=order.merchant_id,
            location_id=fulfilment.location_id,
            items=items,
            order_id=order.id,
            now=now,
        )


def complete_refund(
    db: Database, provider_for: dict[str, PaymentProvider], *, merchant_id: str, refund_id: str, now: datetime
) -> Refund:
    """Pay out a pending refund through its provider; safe to call any number of times."""
    with db.unit_of_work(write=False) as session:
        refund = get_owned(session, Refund, merchant_id, refund_id, what="Refund")
        if refund.status != RefundStatus.PENDING:
            return refund
        payment = get_owned(session, Payment, merchant_id, refund.payment_id, what="Payment")
    provider = provider_for[payment.provider]
    result = provider.refund(
        merchant_id=merchant_id, out_trade_no=payment.id, out_refund_no=refund.id, amount=refund.amount
    )
    with db.unit_of_work() as session:
        done = changed(
            session.execute(
                update(Refund)
                .where(
                    owned(Refund, merchant_id), Refund.id == refund_id, Refund.status == RefundStatus.PENDING
                )
                .values(
                    status="succeeded" if result.succeeded else "failed",
                    provider_refund_no=result.refund_no,
                    completed_at=now,
                )
            )
        )
        if done and result.succeeded:  # the customer is told (messaging) once the money is back
            outbox.emit(
                session,
                merchant_id=merchant_id,
                topic=REFUND_COMPLETED_TOPIC,
                payload={"merchant_id": merchant_id, "refund_id": refund_id},
                now=now,
            )
        return get_owned(session, Refund, merchant_id, refund_id, what="Refund")


def refund_lines(session: Session, merchant_id: str, refund_id: str) -> list[RefundLine]:
    return list(
        session.scalars(
            select(RefundLine).where(owned(RefundLine, merchant_id), RefundLine.refund_id == refund_id)
        )
    )


def pending_refunds(session: Session, *, before: datetime, limit: int) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in session.execute(
            select(Refund.merchant_id, Refund.id)
            .where(Refund.status == RefundStatus.PENDING, Refund.created_at <= before)
            .order_by(Refund.created_at)
            .limit(limit)
        )
    ]


def refund_order(
    db: Database,
    providers: dict[str, PaymentProvider],
    *,
    merchant_id: str,
    scope: str,
    order_id: str,
    items: list[RefundItem] | None,
    restock: bool,
    reason: str,
    clerk_store_id: str | None,
    idempotency_key: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> Refund:
    """A staff refund, books then provider: the refund is recorded (lines, amounts, stock,
    coupons, points) in one transaction under the Idempotency-Key, so a retry finds the same
    refund; then the provider is asked to pay it back, outside any transaction. A provider
    that fails leaves the refund pending for the retry sweep; nothing is refunded twice."""

    def book(session: Session) -> tuple[int, dict[str, Any]]:
        staff_order(session, merchant_id, order_id, clerk_store_id=clerk_store_id)
        refund = request_refund(
            session,
            merchant_id=merchant_id,
            order_id=order_id,
            items=items,
            restock=restock,
            reason=reason,
            now=now,
        )
        return 201, {"refund_id": refund.id}

    _, stored = idempotency.run(
        db,
        merchant_id=merchant_id,
        scope=scope,
        key=idempotency_key,
        operation=f"refund:{order_id}",
        payload=payload,
        work=book,
    )
    return complete_refund(db, providers, merchant_id=merchant_id, refund_id=stored["refund_id"], now=now)
