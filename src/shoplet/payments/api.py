"""Payments and refunds, merchant side, and the providers' notify endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse

from shoplet.auth import AsOperator, AsOperatorOrClerk, Db, Now, Rt
from shoplet.errors import InvalidInput, NotFound
from shoplet.orders import service as orders
from shoplet.orders.api import clerk_store, visible_order
from shoplet.orders.schemas import CancelIn, OrderOut
from shoplet.orders.views import order_out
from shoplet.payments import refunds, service
from shoplet.payments.models import Payment, Refund
from shoplet.payments.provider import InvalidNotification
from shoplet.payments.schemas import PaymentOut, RefundIn, RefundOut
from shoplet.payments.views import payments_of, refund_out, refunds_of
from shoplet.scoping import get_owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["payments"])
notify = APIRouter(route_class=OneHop, tags=["payments"])


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"])
def cancel_order(
    order_id: str,
    p: AsOperatorOrClerk,
    db: Db,
    now: Now,
    rt: Rt,
    body: CancelIn | None = None,
) -> OrderOut:
    """Cancel an unpaid order: its stock is released and its open trade closed."""
    with db.unit_of_work() as s:
        visible_order(s, p, order_id)
        orders.cancel(
            s,
            merchant_id=p.tenant,
            order_id=order_id,
            reason=body.reason if body else "cancelled_by_merchant",
            now=now,
        )
    service.close_open_payments(db, rt.providers, merchant_id=p.tenant, order_id=order_id, now=now)
    with db.unit_of_work(write=False) as s:
        return order_out(s, orders.get_order(s, p.tenant, order_id))


@router.get("/orders/{order_id}/payments", response_model=list[PaymentOut])
def order_payments(order_id: str, p: AsOperatorOrClerk, db: Db) -> list[PaymentOut]:
    with db.unit_of_work(write=False) as s:
        visible_order(s, p, order_id)
        return payments_of(s, p.tenant, order_id)


@router.get("/payments/{payment_id}", response_model=PaymentOut)
def get_payment(payment_id: str, p: AsOperatorOrClerk, db: Db) -> PaymentOut:
    with db.unit_of_work(write=False) as s:
        payment = get_owned(s, Payment, p.tenant, payment_id, what="Payment")
        visible_order(s, p, payment.order_id)
        return PaymentOut.model_validate(payment)


@router.post("/payments/{payment_id}/reconcile", response_model=PaymentOut)
def reconcile_payment(
    payment_id: str,
    p: AsOperator,
    db: Db,
    now: Now,
    rt: Rt,
) -> PaymentOut:
    """Ask the provider how this payment stands and apply it (a lost notification)."""
    with db.unit_of_work(write=False) as s:
        payment = get_owned(s, Payment, p.tenant, payment_id, what="Payment")
    provider = rt.providers.get(payment.provider)
    if provider is None:
        raise NotFound("payment.provider_unknown", "This payment's provider is not configured.")
    payment = service.reconcile(db, provider, merchant_id=p.tenant, payment_id=payment_id, now=now)
    return PaymentOut.model_validate(payment)


@router.post("/orders/{order_id}/refunds", response_model=RefundOut, status_code=201, tags=["refunds"])
def create_refund(
    order_id: str,
    body: RefundIn,
    p: AsOperatorOrClerk,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> RefundOut:
    """Refund some lines and quantities, or (without ``lines``) everything still refundable.

    Each line returns its *allocated* payable share; the whole order can never return
    more than was paid. Send an ``Idempotency-Key``: a retry returns the same refund.
    """
    items = None if body.lines is None else [refunds.RefundItem(x.line_id, x.quantity) for x in body.lines]
    refund = refunds.refund_order(
        db,
        rt.providers,
        merchant_id=p.tenant,
        scope=p.scope,
        order_id=order_id,
        items=items,
        restock=body.restock,
        reason=body.reason,
        clerk_store_id=clerk_store(p),
        idempotency_key=idempotency_key,
        payload=body.model_dump(),
        now=now,
    )
    with db.unit_of_work(write=False) as s:
        return refund_out(s, refund)


@router.get("/orders/{order_id}/refunds", response_model=list[RefundOut], tags=["refunds"])
def order_refunds(order_id: str, p: AsOperatorOrClerk, db: Db) -> list[RefundOut]:
    with db.unit_of_work(write=False) as s:
        visible_order(s, p, order_id)
        return refunds_of(s, p.tenant, order_id)


@router.get("/refunds/{refund_id}", response_model=RefundOut, tags=["refunds"])
def get_refund(refund_id: str, p: AsOperatorOrClerk, db: Db) -> RefundOut:
    with db.unit_of_work(write=False) as s:
        refund = get_owned(s, Refund, p.tenant, refund_id, what="Refund")
        visible_order(s, p, refund.order_id)
        return refund_out(s, refund)


@notify.post(
    "/payments/notify/{provider}",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"example": "success"}}},
        422: {"description": "The signature or the body is not valid (`payment.notification_invalid`)."},
    },
)
async def provider_notification(provider: str, request: Request) -> PlainTextResponse:
    """Where a provider posts its signed asynchronous notifications.

    Answers ``success`` once the notification is applied or recognised as a duplicate;
    a bad signature or an unreadable body is a 422 (``payment.notification_invalid``) and
    changes nothing.
    """
    rt = request.app.state.runtime
    gateway = rt.providers.get(provider)
    if gateway is None:
        raise NotFound("payment.provider_unknown", f"No payment provider '{provider}' is configured.")
    body = await request.body()
    try:
        notification = gateway.verify_notification({k.lower(): v for k, v in request.headers.items()}, body)
    except InvalidNotification as exc:
        raise InvalidInput("payment.notification_invalid", f"The notification was refused: {exc}.") from exc
    from starlette.concurrency import run_in_threadpool

    def apply() -> str:
        with rt.db.unit_of_work() as s:
            return service.record_notification(s, notification, provider, rt.clock())

    await run_in_threadpool(apply)
    return PlainTextResponse("success")
