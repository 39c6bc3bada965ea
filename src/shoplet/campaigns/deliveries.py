"""Each period's delivery of a periodic plan: made on schedule by :func:`deliver_due` — a
zero-total order, already paid by the plan, reserving its stock and routed from the plan's
store (delivery, the first open slot) or warehouse (express) — once per period (a
conditional UPDATE on the subscription's delivered count)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shoplet.campaigns.models import CampaignKind, Plan, PlanDelivery, PlanSubscription, SubscriptionStatus
from shoplet.campaigns.plans import following
from shoplet.db import Database, new_id
from shoplet.errors import Conflict, ShopletError
from shoplet.events import EventKind, record
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import routing
from shoplet.orders.basket import location_of
from shoplet.orders.models import Order, OrderLine
from shoplet.orders.service import finish, lines_of
from shoplet.scoping import owned, transition
from shoplet.tenancy.service import zone

log = logging.getLogger(__name__)


class DeliveryHooks:
    """A period's delivery order is paid by the plan: nothing to do on cancel or refund."""

    def cancelled(self, session: Session, order: Any, now: datetime) -> None:
        return None

    def paid(self, session: Session, order: Any, now: datetime) -> bool:
        return True

    def refunded(self, session: Session, order: Any, full: bool, now: datetime) -> None:
        return None


# --- deliveries ----------------------------------------------------------------------------

_DELIVERED = transition(
    PlanSubscription,
    PlanSubscription.status == SubscriptionStatus.ACTIVE,
    PlanSubscription.delivered == bindparam("was"),
    delivered=PlanSubscription.delivered + 1,
    next_at=bindparam("next"),
)


def due(session: Session, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in session.execute(
            select(PlanSubscription.merchant_id, PlanSubscription.id)
            .where(PlanSubscription.status == SubscriptionStatus.ACTIVE, PlanSubscription.next_at <= now)
            .order_by(PlanSubscription.next_at)
            .limit(limit)
        )
    ]


def deliver(session: Session, *, merchant_id: str, subscription_id: str, now: datetime) -> str | None:
    """Make the subscription's next delivery order (its stock reserved, already paid by the
    plan) and move the schedule on; None when it was not due any more."""
    sub = session.get_one(PlanSubscription, (merchant_id, subscription_id), populate_existing=True)
    if sub.status != SubscriptionStatus.ACTIVE or sub.next_at is None or sub.next_at > now:
        return None
    plan = session.get_one(Plan, (merchant_id, sub.plan_id))
    tz = zone(session, merchant_id)
    period = sub.delivered + 1
    last = period >= sub.deliveries
    moved = session.execute(
        _DELIVERED,
        {
            "m": merchant_id,
            "key": sub.id,
            "was": sub.delivered,
            "next": None if last else following(plan, sub.next_at, tz),
        },
    ).scalar()
    if moved is None:
        return None
    scheduled = sub.next_at
    order_id = _delivery_order(session, sub=sub, plan=plan, period=period, now=now)
    session.add(
        PlanDelivery(
            merchant_id=merchant_id,
            id=new_id("pdl"),
            subscription_id=sub.id,
            period=period,
            order_id=order_id,
            scheduled_for=scheduled or now,
            created_at=now,
        )
    )
    upfront = session.get_one(Order, (merchant_id, sub.order_id))
    record(
        session,
        merchant_id,
        EventKind.PLAN_DELIVERED,
        now,
        id=f"plan.delivered:{sub.id}:{period}",
        customer_id=sub.customer_id,
        host_app=upfront.host_app,
        store_id=plan.location_id,
        subject_id=order_id,
        ref=plan.id,
        amount=period,
    )
    if last:
        session.execute(
            update(PlanSubscription)
            .where(owned(PlanSubscription, merchant_id), PlanSubscription.id == sub.id)
            .values(status="completed", ended_at=now)
        )
        # The plan's upfront order is handed over: its last delivery is on its way.
        for part in fulfilments.of_order(session, merchant_id, sub.order_id):
            if part.status == "ready":
                fulfilments.finish_part(session, part, by="plan", now=now)
        finish(session, order=upfront, now=now)
    session.flush()
    return order_id


def _delivery_order(
    session: Session, *, sub: PlanSubscription, plan: Plan, period: int, now: datetime
) -> str:
    m = sub.merchant_id
    location = location_of(session, m, plan.location_id)
    request = routing.Request(mode=plan.mode, address=sub.address)
    if plan.mode == "delivery":
        open_slots = [s for s in routing.slots(session, store=location, now=now) if s["remaining"] > 0]
        if not open_slots:
            raise Conflict("delivery.no_slot", "The store has no delivery slot left in the coming days.")
        request = routing.Request(mode="delivery", address=sub.address, slot_start=open_slots[0]["start"])
    route = routing.plan(
        session, location=location, items={plan.sku_id: plan.quantity}, request=request, now=now
    )
    shipments = routing.require(route)
    sku_line = next(line for line in lines_of(session, m, sub.order_id))
    order = Order(
        merchant_id=m,
        id=new_id("ord"),
        customer_id=sub.customer_id,
        location_id=plan.location_id,
        status="paid",
        subtotal=0,
        discount=0,
        delivery_fee=0,
        total=0,
        paid_amount=0,
        refunded_amount=0,
        currency="CNY",
        host_app=None,
        scene=None,
        note=f"{plan.name}: delivery {period} of {sub.deliveries}",
        pricing={"plan_subscription_id": sub.id, "period": period, "deliveries": sub.deliveries},
        created_at=now,
        expires_at=now,
        paid_at=now,
        campaign_kind=CampaignKind.PLAN_DELIVERY,
        campaign_ref=sub.id,
    )
    session.add(order)
    session.flush()
    parts, fulfilment_of = fulfilments.create(
        session,
        order=order,
        shipments=[replace_fee(s) for s in shipments],
        items={plan.sku_id: plan.quantity},
        now=now,
    )
    session.add(
        OrderLine(
            merchant_id=m,
            id=new_id("oln"),
            order_id=order.id,
            line_no=1,
            fulfilment_id=fulfilment_of[plan.sku_id],
            sku_id=plan.sku_id,
            product_id=sku_line.product_id,
            title=sku_line.title,
            quantity=plan.quantity,
            unit_price=0,
            subtotal=0,
            discount=0,
            total=0,
            refunded_quantity=0,
            refunded_amount=0,
        )
    )
    session.flush()
    fulfilments.on_paid(session, order=order, paid_at=now)
    return order.id


def replace_fee(shipment: routing.Shipment) -> routing.Shipment:
    """The plan's price includes delivery: the part's fee is 0."""
    return replace(shipment, fee=0)


def deliver_due(db: Database, *, now: datetime, batch: int = 200) -> dict[str, int]:
    """Make every due period's delivery order, each subscription in its own unit of work; one
    that cannot be served now (no stock, no slot) stays due and is tried again next sweep."""
    counts = {"delivered": 0, "failed": 0}
    tried: set[str] = set()
    while True:
        with db.unit_of_work(write=False) as s:
            rows = [r for r in due(s, now=now, limit=batch) if r[1] not in tried]
        for merchant_id, sub_id in rows:
            tried.add(sub_id)
            try:
                with db.unit_of_work() as s:
                    done = deliver(s, merchant_id=merchant_id, subscription_id=sub_id, now=now)
            except ShopletError as error:
                log.warning("plan delivery %s/%s not made now: %s", merchant_id, sub_id, error.detail)
                counts["failed"] += 1
                continue
            if done:
                counts["delivered"] += 1
        if len(rows) < batch:
            return counts
