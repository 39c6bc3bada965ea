"""Periodic purchase (周期购, SPEC S5): plans, subscriptions and each period's delivery.

Subscribing places one order, paid upfront: one line of the plan's SKU whose quantity is
the number of deliveries and whose unit is one delivery (``quantity`` units of the SKU),
priced by the engine at the plan's price per delivery (a ``plan_price`` campaign line). Its
one fulfilment has mode ``plan``: it holds no stock. Once paid, :func:`shoplet.campaigns.deliveries.deliver_due` makes
each period's delivery order on schedule — a zero-total order, already paid, reserving
its stock and routed from the plan's store (delivery, the first open slot of the day) or
warehouse (express) — and tells the customer (``plan.delivered``).

The customer may skip the next period (the schedule moves one interval), pause, resume,
change the address, or cancel: the undelivered periods are refunded as a partial refund of
the upfront order's line, so each period's share is exact to the fen (the same cumulative
rounding as every partial refund), and the periods refunded plus those delivered are the
plan. Every step is a conditional UPDATE on the subscription's status and delivered count,
so a delivery and a cancellation racing each other cannot both count the same period.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shoplet import outbox
from shoplet.campaigns import service
from shoplet.campaigns.models import (
    CampaignKind,
    Plan,
    PlanDelivery,
    PlanInterval,
    PlanSubscription,
    SubscriptionStatus,
)
from shoplet.db import Database, changed, new_id
from shoplet.errors import Conflict, InvalidInput, NotFound, Unprocessable
from shoplet.inventory.hours import distance_m
from shoplet.inventory.models import StockLocation
from shoplet.orders import checkout, routing
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders.basket import location_of
from shoplet.orders.checkout import Placed
from shoplet.orders.pricing import Campaign, CartPricer
from shoplet.orders.service import finish, get_order, lines_of
from shoplet.payments.refunds import RefundItem, request_refund
from shoplet.payments.service import REFUND_TOPIC
from shoplet.scoping import get_owned, owned, scoped, transition
from shoplet.tenancy.service import zone

DELIVERY_HOUR = time(8, 0)
"""A period's delivery order is made at 08:00 local time on its delivery day."""


# --- plans -------------------------------------------------------------------------------


def create_plan(session: Session, *, merchant_id: str, fields: dict[str, Any], now: datetime) -> Plan:
    service.sellable_sku(session, merchant_id, fields["sku_id"])
    location = location_of(session, merchant_id, fields["location_id"])
    if fields["price"] % fields["deliveries"]:
        raise Unprocessable(
            "plan.price_not_divisible",
            f"The plan's price must split evenly over its {fields['deliveries']} deliveries (to the fen).",
        )
    if fields["mode"] == "express" and location.kind != "warehouse":
        raise Unprocessable(
            "fulfilment.mode_unavailable", "Stores hand over by delivery; express ships from the warehouse."
        )
    if fields["mode"] == "delivery" and location.kind != "store":
        raise Unprocessable("fulfilment.mode_unavailable", "A warehouse only ships express.")
    limit = 7 if fields["interval"] == PlanInterval.WEEK else 28
    if not 1 <= fields["delivery_day"] <= limit:
        raise InvalidInput(
            "plan.bad_delivery_day",
            "The delivery day is a weekday 1–7 (Monday = 1) or a day of the month 1–28.",
        )
    plan = Plan(
        merchant_id=merchant_id, id=new_id("pln"), status="active", created_at=now, updated_at=now, **fields
    )
    session.add(plan)
    session.flush()
    return plan


def get_plan(session: Session, merchant_id: str, plan_id: str) -> Plan:
    return get_owned(session, Plan, merchant_id, plan_id, what="Plan")


def first_delivery(plan: Plan, after: datetime, tz: Any) -> datetime:
    """The first delivery day strictly after ``after``'s local date, at 08:00 local."""
    day = after.astimezone(tz).date() + timedelta(days=1)
    if plan.interval == PlanInterval.WEEK:
        day += timedelta(days=(plan.delivery_day - day.isoweekday()) % 7)
    else:
        if day.day > plan.delivery_day:
            year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
            day = day.replace(year=year, month=month, day=plan.delivery_day)
        else:
            day = day.replace(day=plan.delivery_day)
    return datetime.combine(day, DELIVERY_HOUR, tzinfo=tz)


def following(plan: Plan, at: datetime, tz: Any) -> datetime:
    """The delivery one interval after ``at``."""
    local = at.astimezone(tz)
    if plan.interval == PlanInterval.WEEK:
        return (local + timedelta(days=7)).astimezone(at.tzinfo)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(plan.delivery_day, monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(at.tzinfo)


# --- subscribing ---------------------------------------------------------------------------


def subscribe(
    db: Database,
    *,
    merchant_id: str,
    customer_id: str,
    scope: str,
    plan_id: str,
    address: dict[str, Any] | None,
    pricer: CartPricer,
    host_app: str | None,
    scene: str | None,
    timeout: timedelta,
    now: datetime,
    idempotency_key: str | None,
    payload: dict[str, Any],
) -> tuple[str, Any]:
    """Subscribe: the upfront order (returned with the subscription's id) to pay once."""
    with db.unit_of_work(write=False) as s:
        plan = get_plan(s, merchant_id, plan_id)
        sku, _ = service.sellable_sku(s, merchant_id, plan.sku_id)
        s.expunge_all()
    sub_id = new_id("psub")
    if address is None:  # where every period goes, by store delivery or by express
        raise InvalidInput("delivery.address_required", "Give the delivery address with its coordinates.")

    def check(s: Session) -> None:
        if plan.status != "active":
            raise service.not_running("plan")
        location = location_of(s, merchant_id, plan.location_id)
        if plan.mode == "delivery":  # the address must be in the store's radius
            routing_request = routing.Request(mode="delivery", address=address)
            _in_radius(s, location, routing_request, plan, now)

    def take(s: Session, placed: Placed) -> None:
        s.add(
            PlanSubscription(
                merchant_id=merchant_id,
                id=sub_id,
                plan_id=plan.id,
                customer_id=customer_id,
                order_id=placed.order.id,
                status="pending_payment",
                deliveries=plan.deliveries,
                delivered=0,
                skipped=0,
                address=address,
                created_at=now,
            )
        )
        s.flush()

    order = checkout.place_order(
        db,
        merchant_id=merchant_id,
        customer_id=customer_id,
        scope=scope,
        operation=f"plan:{plan.id}",
        payload=payload,
        idempotency_key=idempotency_key,
        location_id=plan.location_id,
        items=[(plan.sku_id, plan.deliveries)],
        campaign=Campaign(
            kind=CampaignKind.PLAN,
            ref=sub_id,
            price_kind="plan_price",
            rule_id=plan.id,
            sku_id=plan.sku_id,
            price=plan.price // plan.deliveries,
            list_price=sku.list_price * plan.quantity,
            member_prices=False,
            unrouted=True,
        ),
        pricer=pricer,
        host_app=host_app,
        scene=scene,
        timeout=timeout,
        now=now,
        coupon_ids=[],
        fulfilment=None,
        check=check,
        take=take,
        note=f"{plan.name}: {plan.quantity} × {plan.deliveries} deliveries",
    )
    with db.unit_of_work(write=False) as s:
        found = s.scalar(scoped(PlanSubscription, merchant_id).where(PlanSubscription.order_id == order.id))
        return (found.id if found else sub_id), order


def _in_radius(
    session: Session, location: StockLocation, request: routing.Request, plan: Plan, now: datetime
) -> None:
    cfg = routing.settings_of(location)
    if cfg.delivery_radius_m == 0:
        raise Unprocessable("fulfilment.mode_unavailable", "This store does not deliver.")
    address = request.address or {}
    if location.latitude is None or location.longitude is None:
        raise Unprocessable("fulfilment.mode_unavailable", "This store has no location to deliver from.")
    distance = distance_m(location.latitude, location.longitude, address["latitude"], address["longitude"])
    if distance > cfg.delivery_radius_m:
        raise Unprocessable(
            "delivery.outside_radius",
            f"The address is {distance} m away; this store delivers within {cfg.delivery_radius_m} m.",
            distance_m=distance,
            radius_m=cfg.delivery_radius_m,
        )


_SUB_OF_ORDER = select(PlanSubscription).where(
    owned(PlanSubscription, bindparam("m")), PlanSubscription.order_id == bindparam("o")
)
_ACTIVATE = transition(
    PlanSubscription,
    PlanSubscription.status == SubscriptionStatus.PENDING_PAYMENT,
    status="active",
    activated_at=bindparam("at"),
    next_at=bindparam("next"),
)


class Hooks:
    """``order_hooks`` for a plan's upfront order."""

    def cancelled(self, session: Session, order: Any, now: datetime) -> None:
        session.execute(
            update(PlanSubscription)
            .where(
                owned(PlanSubscription, order.merchant_id),
                PlanSubscription.order_id == order.id,
                PlanSubscription.status == SubscriptionStatus.PENDING_PAYMENT,
            )
            .values(status="expired", ended_at=now)
        )

    def paid(self, session: Session, order: Any, now: datetime) -> bool:
        m = order.merchant_id
        sub = session.scalar(_SUB_OF_ORDER, {"m": m, "o": order.id})
        if sub is not None:
            plan = session.get_one(Plan, (m, sub.plan_id))
            nxt = first_delivery(plan, now, zone(session, m))
            session.execute(_ACTIVATE, {"m": m, "key": sub.id, "at": now, "next": nxt})
        return True

    def refunded(self, session: Session, order: Any, full: bool, now: datetime) -> None:
        """A full refund of the upfront order by staff ends the plan (nothing more is delivered)."""
        if full:
            session.execute(
                update(PlanSubscription)
                .where(
                    owned(PlanSubscription, order.merchant_id),
                    PlanSubscription.order_id == order.id,
                    PlanSubscription.status.in_(("active", "paused")),
                )
                .values(status="cancelled", ended_at=now)
            )


# --- the customer's changes -------------------------------------------------------------------


def mine(
    session: Session, merchant_id: str, subscription_id: str, customer_id: str | None
) -> PlanSubscription:
    sub = session.get(PlanSubscription, (merchant_id, subscription_id), populate_existing=True)
    if sub is None or (customer_id is not None and sub.customer_id != customer_id):
        raise NotFound.of("Plan subscription")
    return sub


def _change(session: Session, sub: PlanSubscription, *conditions: Any, **values: Any) -> bool:
    return bool(
        changed(
            session.execute(
                update(PlanSubscription)
                .where(owned(PlanSubscription, sub.merchant_id), PlanSubscription.id == sub.id, *conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        )
    )


def _ongoing(sub: PlanSubscription) -> None:
    if sub.status == SubscriptionStatus.PENDING_PAYMENT:
        raise Conflict("plan.not_paid", "Pay for the plan first.")
    if sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAUSED):
        raise Conflict("plan.ended", f"This plan is {sub.status.replace('_', ' ')}.")


def skip(
    session: Session,
    *,
    merchant_id: str,
    subscription_id: str,
    period: int,
    customer_id: str | None,
    now: datetime,
) -> PlanSubscription:
    """Skip the next period: its delivery moves one interval later (the plan still delivers
    every period it was paid for)."""
    sub = mine(session, merchant_id, subscription_id, customer_id)
    _ongoing(sub)
    if period <= sub.delivered:
        raise Conflict("plan.period_delivered", f"Delivery {period} has already been made.")
    if period != sub.delivered + 1 or sub.next_at is None:
        raise Unprocessable(
            "plan.period_not_next", f"Only the next delivery ({sub.delivered + 1}) can be skipped."
        )
    plan = session.get_one(Plan, (merchant_id, sub.plan_id))
    moved = _change(
        session,
        sub,
        PlanSubscription.delivered == sub.delivered,
        PlanSubscription.next_at == sub.next_at,
        PlanSubscription.status.in_(("active", "paused")),
        next_at=following(plan, sub.next_at, zone(session, merchant_id)),
        skipped=PlanSubscription.skipped + 1,
    )
    if not moved:
        raise Conflict("plan.period_delivered", f"Delivery {period} has already been made.")
    return mine(session, merchant_id, subscription_id, customer_id)


def pause(
    session: Session, *, merchant_id: str, subscription_id: str, customer_id: str | None, now: datetime
) -> PlanSubscription:
    sub = mine(session, merchant_id, subscription_id, customer_id)
    _ongoing(sub)
    _change(session, sub, PlanSubscription.status.in_(("active", "paused")), status="paused")
    return mine(session, merchant_id, subscription_id, customer_id)


def resume(
    session: Session, *, merchant_id: str, subscription_id: str, customer_id: str | None, now: datetime
) -> PlanSubscription:
    """Deliveries go on from the next delivery day that has not passed."""
    sub = mine(session, merchant_id, subscription_id, customer_id)
    _ongoing(sub)
    plan = session.get_one(Plan, (merchant_id, sub.plan_id))
    nxt = sub.next_at
    if nxt is not None and nxt <= now:
        nxt = first_delivery(plan, now, zone(session, merchant_id))
    _change(session, sub, PlanSubscription.status.in_(("active", "paused")), status="active", next_at=nxt)
    return mine(session, merchant_id, subscription_id, customer_id)


def change_address(
    session: Session,
    *,
    merchant_id: str,
    subscription_id: str,
    address: dict[str, Any],
    customer_id: str | None,
    now: datetime,
) -> PlanSubscription:
    sub = mine(session, merchant_id, subscription_id, customer_id)
    _ongoing(sub)
    plan = session.get_one(Plan, (merchant_id, sub.plan_id))
    if plan.mode == "delivery":
        location = location_of(session, merchant_id, plan.location_id)
        _in_radius(session, location, routing.Request(mode="delivery", address=address), plan, now)
    _change(session, sub, PlanSubscription.status.in_(("active", "paused")), address=address)
    return mine(session, merchant_id, subscription_id, customer_id)


def cancel(
    session: Session, *, merchant_id: str, subscription_id: str, customer_id: str | None, now: datetime
) -> tuple[PlanSubscription, str | None]:
    """End the plan and refund its undelivered periods: a partial refund of the upfront line
    (their allocated share, exact to the fen). Returns the subscription and the refund's id."""
    sub = mine(session, merchant_id, subscription_id, customer_id)
    if sub.status == SubscriptionStatus.PENDING_PAYMENT:
        raise Conflict("plan.not_paid", "This plan was never paid; cancel its order instead.")
    _ongoing(sub)
    moved = _change(
        session,
        sub,
        PlanSubscription.status.in_(("active", "paused")),
        PlanSubscription.delivered == sub.delivered,
        status="cancelled",
        ended_at=now,
        next_at=None,
    )
    if not moved:
        raise Conflict("plan.changed", "The plan changed meanwhile (a delivery was just made); try again.")
    remaining = sub.deliveries - sub.delivered
    line = lines_of(session, merchant_id, sub.order_id)[0]
    units = min(remaining, line.quantity - line.refunded_quantity)
    refund_id = None
    if units > 0 and line.total > 0:
        refund = request_refund(
            session,
            merchant_id=merchant_id,
            order_id=sub.order_id,
            items=[RefundItem(line_id=line.id, quantity=units)],
            restock=False,
            reason="plan_cancelled",
            now=now,
        )
        refund_id = refund.id
        _change(session, sub, refund_id=refund.id)
        outbox.emit(
            session,
            merchant_id=merchant_id,
            topic=REFUND_TOPIC,
            payload={"merchant_id": merchant_id, "refund_id": refund.id},
            now=now,
        )
    if sub.delivered:  # what was delivered is handed over: the upfront order is done
        upfront = get_order(session, merchant_id, sub.order_id)
        for part in fulfilments.of_order(session, merchant_id, sub.order_id):
            if part.status == "ready":
                fulfilments.finish_part(session, part, by="plan", now=now)
        finish(session, order=upfront, now=now)
    session.flush()
    return mine(session, merchant_id, subscription_id, customer_id), refund_id


def deliveries_of(session: Session, merchant_id: str, subscription_id: str) -> list[PlanDelivery]:
    return list(
        session.scalars(
            scoped(PlanDelivery, merchant_id)
            .where(PlanDelivery.subscription_id == subscription_id)
            .order_by(PlanDelivery.period)
        )
    )
