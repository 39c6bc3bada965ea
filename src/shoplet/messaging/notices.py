"""What business events and outbox topics become: webhook messages for the merchant's
systems and service notices for the customer.

Events of the kinds ``events.MESSAGED`` are queued for the ``messaging`` consumer in the
transaction that records them; :func:`consume` takes that queue a batch at a time, fans each
event out to the webhook endpoints that want it, queues the customer's notice, and dequeues
the batch in the same transaction — nothing is sent twice or lost, whatever order
transactions commit in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shoplet.campaigns.models import BuyingGroup, GroupCampaign, Plan
from shoplet.coupons.models import Coupon, CouponTemplate
from shoplet.db import Database, one_of
from shoplet.events import MESSAGING, Event, EventKind, EventQueue
from shoplet.inventory.models import StockLocation
from shoplet.membership.models import LightMembership, LightPlan
from shoplet.messaging.service import fen, notice_wording, notify
from shoplet.orders.models import Fulfilment, FulfilmentMode, FulfilmentStatus, Order
from shoplet.payments.models import Refund
from shoplet.scoping import owned
from shoplet.tenancy.service import zone
from shoplet.webhooks import service as webhooks
from shoplet.webhooks.catalogue import BY_KIND

BATCH = 500

NOTICED = frozenset(
    {
        EventKind.ORDER_PAID,
        EventKind.DELIVERY_HANDED_OVER,
        EventKind.GROUP_SUCCEEDED,
        EventKind.GROUP_FAILED,
        EventKind.PLAN_DELIVERED,
        EventKind.LIGHT_SETTLED,
        EventKind.LIGHT_OVERDUE,
    }
)
"""The kinds :func:`notices_for` makes a customer's notice of."""

WEBHOOK_KINDS = frozenset(BY_KIND)


MERCHANTS = 50


def consume(db: Database, *, now: datetime, limit: int = BATCH, max_batches: int = 20) -> int:
    """Apply queued events (a batch per merchant and transaction); returns how many.

    It goes round again only while the queue held more than one round takes (a merchant's
    batch full, or more merchants than a round reads). Events queued while it works are not
    chased a few at a time: their commits kick the dispatcher again, which then takes them
    in one batch (during a rush of claims, chasing them kept this loop busy without end)."""
    done = 0
    for _ in range(max_batches):
        with db.unit_of_work(write=False) as session:
            merchants = list(
                session.scalars(
                    select(EventQueue.merchant_id)
                    .where(EventQueue.consumer == MESSAGING)
                    .distinct()
                    .limit(MERCHANTS)
                )
            )
        taken = [_apply(db, merchant_id, now, limit) for merchant_id in merchants]
        done += sum(taken)
        if len(merchants) < MERCHANTS and all(n < limit for n in taken):
            break
    return done


def _apply(db: Database, merchant_id: str, now: datetime, limit: int) -> int:
    with db.unit_of_work() as session:
        ids = list(
            session.scalars(
                select(EventQueue.event_id)
                .where(owned(EventQueue, merchant_id), EventQueue.consumer == MESSAGING)
                .limit(limit)
            )
        )
        if not ids:
            return 0
        # Only the events something will be made of are read: every kind with a notice, and
        # the webhook catalogue's when the merchant has an endpoint (a rush of claims at a
        # merchant without endpoints reads none of its events).
        endpoints = webhooks.enabled_endpoints(session, merchant_id)
        kinds = NOTICED | (WEBHOOK_KINDS if endpoints else frozenset())
        rows = list(
            session.scalars(
                select(Event)
                .where(
                    owned(Event, merchant_id),
                    one_of(db.dialect, Event.id, ids),
                    Event.kind.in_(sorted(kinds)),
                )
                .order_by(Event.occurred_at)
            )
        )
        webhooks.fan_out(session, merchant_id, rows, now=now, endpoints=endpoints)
        noticed = [event for event in rows if event.kind in NOTICED]
        if noticed:
            wording = notice_wording(session, merchant_id)
            for event in noticed:
                notices_for(session, event, now=now, wording=wording)
        session.execute(
            delete(EventQueue).where(
                owned(EventQueue, merchant_id),
                EventQueue.consumer == MESSAGING,
                one_of(db.dialect, EventQueue.event_id, ids),
            )
        )
        return len(ids)


def notices_for(session: Session, event: Event, *, now: datetime, wording: dict[str, Any]) -> None:
    """Queue the service notices an event brings the customer."""
    m, kind = event.merchant_id, event.kind
    common: dict[str, Any] = {
        "merchant_id": m,
        "customer_id": event.customer_id,
        "now": now,
        "wording": wording,
    }
    if kind == EventKind.ORDER_PAID:
        order = session.get(Order, (m, event.subject_id))
        if order is None:
            return
        notify(session, code="order_paid", key=f"order_paid:{order.id}", prefer=order.host_app,
               values={"order_id": order.id, "amount": fen(event.amount)},
               link=f"/pages/order?id={order.id}", **common)  # fmt: skip
        tz = zone(session, m)
        for part in session.scalars(
            select(Fulfilment).where(owned(Fulfilment, m), Fulfilment.order_id == order.id)
        ):
            if part.mode != FulfilmentMode.PICKUP or part.status != FulfilmentStatus.READY:
                continue
            store = session.get(StockLocation, (m, part.location_id))
            deadline = part.expires_at.astimezone(tz).strftime("%m-%d %H:%M") if part.expires_at else "-"
            notify(session, code="pickup_ready", key=f"pickup_ready:{part.id}", prefer=order.host_app,
                   values={"order_id": order.id, "store": store.name if store else part.location_id,
                           "code": part.pickup_code, "deadline": deadline},
                   link=f"/pages/order?id={order.id}", **common)  # fmt: skip
    elif kind == EventKind.DELIVERY_HANDED_OVER:
        handed = session.get(Fulfilment, (m, event.subject_id))
        if handed is None:
            return
        part = handed
        store = session.get(StockLocation, (m, part.location_id))
        code = "shipped" if part.mode == FulfilmentMode.EXPRESS else "out_for_delivery"
        notify(session, code=code, key=f"{code}:{part.id}", prefer=event.host_app,
               values={"order_id": part.order_id, "store": store.name if store else part.location_id},
               link=f"/pages/order?id={part.order_id}", **common)  # fmt: skip
    elif kind in (EventKind.GROUP_SUCCEEDED, EventKind.GROUP_FAILED, EventKind.PLAN_DELIVERED):
        _campaign_notices(session, event, common)
    elif kind in (EventKind.LIGHT_SETTLED, EventKind.LIGHT_OVERDUE):
        membership = session.get(LightMembership, (m, event.subject_id))
        plan = session.get(LightPlan, (m, membership.plan_id)) if membership else None
        name = plan.name if plan else "轻会员"
        if kind == EventKind.LIGHT_SETTLED:
            notify(session, code="light_settled", key=f"light_settled:{event.id}",
                   values={"plan": name, "amount": fen(event.amount),
                           "fee": fen(membership.fee if membership else event.amount),
                           "enjoyed": fen(event.benefit)}, **common)  # fmt: skip
        else:
            notify(session, code="light_overdue", key=f"light_overdue:{event.id}",
                   values={"plan": name, "amount": fen(event.amount)}, **common)  # fmt: skip


def _campaign_notices(session: Session, event: Event, common: dict[str, Any]) -> None:
    m, kind = event.merchant_id, event.kind
    if kind in (EventKind.GROUP_SUCCEEDED, EventKind.GROUP_FAILED):
        group = session.get(BuyingGroup, (m, event.subject_id))
        campaign = session.get(GroupCampaign, (m, group.campaign_id)) if group else None
        name = campaign.name if campaign else "拼团"
        order_id = event.ref or ""
        if kind == EventKind.GROUP_SUCCEEDED:
            notify(session, code="group_succeeded", key=f"group_succeeded:{order_id}", prefer=event.host_app,
                   values={"campaign": name, "order_id": order_id},
                   link=f"/pages/order?id={order_id}", **common)  # fmt: skip
        else:
            notify(session, code="group_failed", key=f"group_failed:{order_id}", prefer=event.host_app,
                   values={"campaign": name, "order_id": order_id, "amount": fen(event.amount)},
                   link=f"/pages/order?id={order_id}", **common)  # fmt: skip
    elif kind == EventKind.PLAN_DELIVERED:
        plan = session.get(Plan, (m, event.ref))
        order = session.get(Order, (m, event.subject_id))
        deliveries = (order.pricing or {}).get("deliveries") if order else None
        notify(session, code="plan_delivered", key=f"plan_delivered:{event.subject_id}", prefer=event.host_app,
               values={"plan": plan.name if plan else "周期购", "period": str(event.amount),
                       "deliveries": str(deliveries or "-"), "order_id": event.subject_id or ""},
               link=f"/pages/order?id={event.subject_id}", **common)  # fmt: skip


def refund_completed(session: Session, *, merchant_id: str, refund_id: str, now: datetime) -> bool:
    refund = session.get(Refund, (merchant_id, refund_id))
    if refund is None:
        return False
    order = session.get(Order, (merchant_id, refund.order_id))
    if order is None:
        return False
    return notify(
        session, merchant_id=merchant_id, customer_id=order.customer_id, code="refund_completed",
        key=f"refund_completed:{refund.id}", prefer=order.host_app,
        values={"order_id": order.id, "amount": fen(refund.amount)}, link=f"/pages/order?id={order.id}", now=now,
    )  # fmt: skip


def coupon_expiring(session: Session, payload: dict[str, Any], *, now: datetime) -> bool:
    """The "expires in 3 days" reminder the coupon sweep queued."""
    merchant_id = payload["merchant_id"]
    coupon = session.get(Coupon, (merchant_id, payload["coupon_id"]))
    if coupon is None or coupon.valid_until is None:
        return False
    template = session.get(CouponTemplate, (merchant_id, coupon.template_id))
    local = coupon.valid_until.astimezone(zone(session, merchant_id))
    return notify(
        session, merchant_id=merchant_id, customer_id=coupon.customer_id, code="coupon_expiring",
        key=f"coupon_expiring:{coupon.id}",
        values={"coupon": template.name if template else "优惠券", "expires_at": local.strftime("%Y-%m-%d %H:%M")},
        link=f"/pages/coupon?id={coupon.id}", now=now,
    )  # fmt: skip
