"""Periodic work, written as plain functions of a :class:`Runtime` so tests can run them.

The job queue (``shoplet.jobs``) calls these on a schedule; each one processes a bounded
batch, each item in its own transaction, and is safe to run concurrently with itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shoplet import outbox
from shoplet.analytics import rollups
from shoplet.campaigns import deliveries, flash, groups
from shoplet.coupons import issuing as coupon_issuing
from shoplet.coupons import redemption as coupon_redemption
from shoplet.errors import ShopletError
from shoplet.guides import commissions
from shoplet.inventory import service as inventory
from shoplet.membership import points, settlement
from shoplet.membership.service import PACK_TOPIC
from shoplet.messaging import notices, pushes
from shoplet.messaging import service as messages
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import pickups
from shoplet.orders import service as orders
from shoplet.payments import refunds
from shoplet.payments import service as payments
from shoplet.payments.sandbox import NOTIFY_TOPIC
from shoplet.runtime import Runtime
from shoplet.webhooks import service as webhooks

log = logging.getLogger(__name__)

BATCH = 200


def cancel_unpaid_orders(rt: Runtime, *, now: datetime | None = None, max_batches: int = 50) -> int:
    """Cancel orders whose payment deadline passed, releasing stock and closing trades.

    Drains every due batch (up to ``max_batches``), so a backlog clears in one run.
    """
    now = now or rt.clock()
    cancelled = _drain(
        rt,
        lambda session: orders.expired_unpaid(session, now=now, limit=BATCH),
        lambda merchant_id, order_id: _cancel_expired(rt, merchant_id, order_id, now),
        max_batches,
    )
    return cancelled


def _drain(rt: Runtime, due, handle, max_batches: int) -> int:
    """Read due (merchant_id, id) pairs a batch at a time and ``handle`` each (in its own
    transactions), until a batch comes back short or ``max_batches`` ran; returns the sum of
    what ``handle`` returned."""
    done = 0
    for _ in range(max_batches):
        with rt.db.unit_of_work(write=False) as session:
            batch = due(session)
        for merchant_id, item_id in batch:
            done += handle(merchant_id, item_id)
        if len(batch) < BATCH:
            break
    return done


def _cancel_expired(rt: Runtime, merchant_id: str, order_id: str, now: datetime) -> int:
    try:
        with rt.db.unit_of_work() as session:
            _, changed = orders.cancel(
                session, merchant_id=merchant_id, order_id=order_id, reason="payment_timeout", now=now
            )
    except ShopletError as exc:  # paid meanwhile: nothing to cancel
        log.info("order %s not cancelled: %s", order_id, exc.code)
        return 0
    if changed:
        payments.close_open_payments(rt.db, rt.providers, merchant_id=merchant_id, order_id=order_id, now=now)
    return int(changed)


def reconcile_stale_payments(rt: Runtime, *, now: datetime | None = None, age_minutes: int = 5) -> int:
    """Query the provider for payments still pending after a while (a lost notification)."""
    now = now or rt.clock()
    with rt.db.unit_of_work(write=False) as session:
        stale = payments.stale_pending(session, before=now - timedelta(minutes=age_minutes), limit=BATCH)
    for merchant_id, payment_id, provider_name in stale:
        provider = rt.providers.get(provider_name)
        if provider is not None:
            payments.reconcile(rt.db, provider, merchant_id=merchant_id, payment_id=payment_id, now=now)
    return len(stale)


def retry_pending_refunds(rt: Runtime, *, now: datetime | None = None, age_minutes: int = 1) -> int:
    now = now or rt.clock()
    with rt.db.unit_of_work(write=False) as session:
        pending = refunds.pending_refunds(session, before=now - timedelta(minutes=age_minutes), limit=BATCH)
    for merchant_id, refund_id in pending:
        refunds.complete_refund(rt.db, rt.providers, merchant_id=merchant_id, refund_id=refund_id, now=now)
    return len(pending)


def coupon_lifecycle(rt: Runtime, *, now: datetime | None = None) -> int:
    """Expire coupons past their validity; queue "expires in 3 days" reminders once;
    give birthday coupons to customers whose birthday is today."""
    now = now or rt.clock()
    with rt.db.unit_of_work() as session:
        expired = coupon_redemption.expire(session, now=now)
        coupon_redemption.remind(session, now=now)
        coupon_issuing.birthday_coupons(session, now=now)
    return expired


def membership_lifecycle(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Expire points lots whose time has come; settle due light memberships."""
    now = now or rt.clock()
    expired = 0
    while True:
        with rt.db.unit_of_work() as session:
            batch = points.expire(session, now=now, limit=500)
        expired += batch
        if not batch:
            break
    settled = 0
    if rt.agreements is not None:
        settled = settlement.settle(rt.db, rt.agreements, now=now, chunk=rt.settings.settlement_chunk).settled
    return {"points_expired": expired, "settled": settled}


def fulfilment_lifecycle(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Uncollected pickups past their deadline expire — their stock is released and
    what they cost refunded; commissions whose after-sale window closed are settled."""
    now = now or rt.clock()
    expired = _drain(
        rt,
        lambda session: pickups.due_pickups(session, now=now, limit=BATCH),
        lambda merchant_id, fulfilment_id: _expire_pickup(rt, merchant_id, fulfilment_id, now),
        max_batches=50,
    )
    with rt.db.unit_of_work() as session:
        settled = commissions.settle_due(session, now=now)
    return {"pickups_expired": expired, "commissions_settled": settled}


def campaign_lifecycle(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Groups past their time limit succeed with virtual seats or fail (every paid member
    refunded once); due periodic deliveries are made; the flash gate is re-primed from the
    database (units that came back from unpaid orders)."""
    now = now or rt.clock()
    closed = groups.close_due(rt.db, now=now)
    delivered = deliveries.deliver_due(rt.db, now=now)
    if rt.flash_gate is not None:
        flash.reconcile_gate(rt.db, rt.flash_gate, now=now)
    if closed["failed"] or delivered["delivered"]:
        rt.kick()  # the refunds and notices they queued
    return {
        "groups_succeeded": closed["succeeded"],
        "groups_failed": closed["failed"],
        "plan_deliveries": delivered["delivered"],
        "plan_deliveries_deferred": delivered["failed"],
    }


def _expire_pickup(rt: Runtime, merchant_id: str, fulfilment_id: str, now: datetime) -> int:
    refund_id = None
    try:
        with rt.db.unit_of_work() as session:
            fulfilment = fulfilments.get(session, merchant_id, fulfilment_id)
            if not pickups.expire(session, fulfilment, now=now):  # collected a moment ago
                return 0
            session.refresh(fulfilment)
            open_lines = fulfilments.open_lines(session, fulfilment)
            order = orders.get_order(session, merchant_id, fulfilment.order_id)
            items = [
                refunds.RefundItem(line.id, line.quantity - line.refunded_quantity) for line in open_lines
            ]
            if sum(line.total - line.refunded_amount for line in open_lines) > 0:
                refund_id = refunds.request_refund(
                    session,
                    merchant_id=merchant_id,
                    order_id=order.id,
                    items=items,
                    restock=False,
                    reason="pickup_expired",
                    now=now,
                ).id
            else:  # nothing was paid for these units: only their reservation goes back
                inventory.release(
                    session,
                    merchant_id=merchant_id,
                    location_id=fulfilment.location_id,
                    items=fulfilments.outstanding(session, fulfilment),
                    order_id=order.id,
                    reason="pickup_expired",
                    now=now,
                )
                orders.finish(session, order=order, now=now)
    except ShopletError as exc:  # rolled back, left for the next run: one bad pickup must not stop the rest
        log.warning("pickup %s not expired: %s", fulfilment_id, exc.code)
        return 0
    if refund_id is not None:
        refunds.complete_refund(rt.db, rt.providers, merchant_id=merchant_id, refund_id=refund_id, now=now)
    return 1


def outbox_handlers(rt: Runtime) -> dict[str, outbox.Handler]:
    """What each outbox topic does when delivered."""

    def sandbox_notify(payload: dict[str, Any]) -> None:
        assert rt.sandbox is not None
        url, body, headers = rt.sandbox.notification_for(
            payload["merchant_id"], payload["trade_no"], payload["event"]
        )
        status = rt.post(url, body, headers)
        if status != 200:
            raise RuntimeError(f"notify URL answered {status}")

    def refund_process(payload: dict[str, Any]) -> None:
        refunds.complete_refund(
            rt.db,
            rt.providers,
            merchant_id=payload["merchant_id"],
            refund_id=payload["refund_id"],
            now=rt.clock(),
        )

    def coupon_issue_job(payload: dict[str, Any]) -> None:
        coupon_issuing.run_issue_job(
            rt.db, merchant_id=payload["merchant_id"], job_id=payload["job_id"], now=rt.clock()
        )

    def coupon_pack(payload: dict[str, Any]) -> None:
        with rt.db.unit_of_work() as session:
            coupon_issuing.issue_pack(
                session,
                merchant_id=payload["merchant_id"],
                customer_id=payload["customer_id"],
                template_ids=payload["template_ids"],
                key=payload["key"],
                now=rt.clock(),
            )

    def message_send(payload: dict[str, Any]) -> None:
        messages.deliver(
            rt.db,
            rt.messengers,
            merchant_id=payload["merchant_id"],
            message_id=payload["message_id"],
            now=rt.clock(),
        )

    def push_send(payload: dict[str, Any]) -> None:
        pushes.send_batch(rt.db, rt.messengers, payload, now=rt.clock())

    def coupon_expiring(payload: dict[str, Any]) -> None:
        with rt.db.unit_of_work() as session:
            notices.coupon_expiring(session, payload, now=rt.clock())

    def refund_completed(payload: dict[str, Any]) -> None:
        with rt.db.unit_of_work() as session:
            notices.refund_completed(
                session, merchant_id=payload["merchant_id"], refund_id=payload["refund_id"], now=rt.clock()
            )

    return {
        NOTIFY_TOPIC: sandbox_notify,
        payments.REFUND_TOPIC: refund_process,
        coupon_issuing.ISSUE_JOB_TOPIC: coupon_issue_job,
        PACK_TOPIC: coupon_pack,
        messages.SEND_TOPIC: message_send,
        pushes.SEND_TOPIC: push_send,
        coupon_redemption.EXPIRING_TOPIC: coupon_expiring,
        refunds.REFUND_COMPLETED_TOPIC: refund_completed,
    }


def dispatch_outbox(rt: Runtime, *, now: datetime | None = None) -> int:
    """Everything that happens after a commit: business events turned into webhook messages
    and notices, due pushes run, outbox events delivered, due webhooks sent."""
    now = now or rt.clock()
    notices.consume(rt.db, now=now)
    run_due_pushes(rt, now=now)
    delivered = outbox.dispatch(rt.db, outbox_handlers(rt), now=now)
    deliver_webhooks(rt, now=now)
    return delivered


def run_due_pushes(rt: Runtime, *, now: datetime | None = None) -> int:
    """Start the pushes whose time came, and resume those whose runner stopped."""
    now = now or rt.clock()
    with rt.db.unit_of_work(write=False) as session:
        due = pushes.due(session, now=now)
    ran = 0
    for merchant_id, push_id in due:
        if pushes.start(rt.db, merchant_id=merchant_id, push_id=push_id, now=now):
            pushes.run(rt.db, merchant_id=merchant_id, push_id=push_id, now=now)
            ran += 1
    return ran


def deliver_webhooks(rt: Runtime, *, now: datetime | None = None, max_batches: int = 20) -> int:
    """Attempt the webhook deliveries that are due."""
    now = now or rt.clock()
    attempted = 0
    for _ in range(max_batches):
        sent = webhooks.deliver_due(
            rt.db, rt.send_webhook, now=now, allow_private=rt.settings.webhooks_allow_private
        )
        attempted += sent.attempted
        if sent.attempted == 0:
            break
    return attempted


def analytics(rt: Runtime) -> dict[str, int]:
    """Bring the rollups up to date with the queued events, and copy them to ClickHouse when
    one is configured."""
    done = {"rolled_up": rollups.run(rt.db).events}
    if rt.warehouse is not None:
        done["copied"] = rt.warehouse.export(rt.db)
    return done
