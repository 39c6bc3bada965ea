"""Fulfilment: each part of an order from the checkout's plan to its hand-over.

A part is created with the order (a delivery slot booked by a conditional upsert, a pickup
code unique among the store's open ones), readied when the order is paid, and finished
when a clerk verifies its code, hands a delivery over or an operator ships it; a cancel or a
refund releases what it held. Where the goods come from is :mod:`shoplet.orders.routing`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shoplet import events, pipelined
from shoplet.db import column_values, new_id
from shoplet.errors import Conflict, NotFound
from shoplet.events import EventKind
from shoplet.inventory import service as inventory
from shoplet.inventory.models import StockLocation
from shoplet.orders.models import (
    DeliverySlot,
    Fulfilment,
    FulfilmentMode,
    FulfilmentStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from shoplet.orders.routing import Shipment, settings_of
from shoplet.pricing.money import allocate
from shoplet.scoping import owned, transition

OPEN = ("pending", "ready")


def _booking_statement(dialect: str) -> Any:
    """One more delivery in a slot, unless that passes ``capacity`` (at least 1): an upsert
    that creates the slot's row with the first booking and, after that, adds one only while
    ``booked < capacity`` — one statement, whatever the concurrency."""
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    stmt = insert(DeliverySlot).values(
        merchant_id=bindparam("m"),
        location_id=bindparam("l"),
        slot_start=bindparam("t", type_=DeliverySlot.__table__.c.slot_start.type),
        booked=1,
    )
    return stmt.on_conflict_do_update(
        index_elements=["merchant_id", "location_id", "slot_start"],
        set_={"booked": DeliverySlot.booked + 1},
        where=DeliverySlot.booked < bindparam("capacity"),
    ).returning(DeliverySlot.booked)


_BOOK = {"sqlite": _booking_statement("sqlite"), "postgresql": _booking_statement("postgresql")}


def _book_slot(session: Session, shipment: Shipment, now: datetime) -> None:
    booked = pipelined.execute(
        session,
        _BOOK[session.connection().dialect.name],
        {
            "m": shipment.location.merchant_id,
            "l": shipment.location.id,
            "t": shipment.slot_start,
            "capacity": settings_of(shipment.location).slot_capacity,
        },
    )
    # RETURNING, not rowcount: drivers disagree on the rowcount of an upsert.
    if not booked:
        raise Conflict("delivery.slot_full", "That delivery slot is full; choose another.")


def _unbook_slot(session: Session, fulfilment: Fulfilment) -> None:
    if fulfilment.mode == FulfilmentMode.DELIVERY and fulfilment.slot_start is not None:
        session.execute(
            update(DeliverySlot)
            .where(
                owned(DeliverySlot, fulfilment.merchant_id),
                DeliverySlot.location_id == fulfilment.location_id,
                DeliverySlot.slot_start == fulfilment.slot_start,
                DeliverySlot.booked > 0,
            )
            .values(booked=DeliverySlot.booked - 1)
        )


def create(
    session: Session, *, order: Order, shipments: list[Shipment], items: dict[str, int], now: datetime
) -> tuple[list[Fulfilment], dict[str, str]]:
    """Write the order's fulfilments, reserve each one's stock at its location and book its
    delivery slot; returns them and the fulfilment id of each SKU. Raises (the caller rolls
    back) when stock or a slot ran out meanwhile."""
    parts: list[Fulfilment] = []
    by_sku: dict[str, str] = {}
    # The fee the order pays (after free-delivery waivers) is shared by the parts' own fees.
    paid = allocate(order.delivery_fee, [shipment.fee for shipment in shipments])
    for shipment, delivery_paid in zip(shipments, paid, strict=True):
        fulfilment = Fulfilment(
            merchant_id=order.merchant_id,
            id=new_id("ful"),
            order_id=order.id,
            location_id=shipment.location.id,
            mode=shipment.mode,
            status="pending",
            fee=shipment.fee,
            delivery_paid=delivery_paid,
            ready_at=shipment.ready_at,
            slot_start=shipment.slot_start,
            slot_end=shipment.slot_end,
            address=shipment.address,
            distance_m=shipment.distance_m,
            created_at=now,
        )
        _insert_with_code(session, fulfilment)
        if shipment.mode == FulfilmentMode.DELIVERY:
            _book_slot(session, shipment, now)
        inventory.reserve(
            session,
            merchant_id=order.merchant_id,
            location_id=shipment.location.id,
            items={sku: items[sku] for sku in shipment.skus},
            order_id=order.id,
            now=now,
        )
        by_sku.update({sku: fulfilment.id for sku in shipment.skus})
        parts.append(fulfilment)
    return parts, by_sku


# Checkout writes one or two of these per order: one statement each, built once. A pickup's
# code must be unique among its store's open pickups (a partial unique index): the insert
# skips a taken code (ON CONFLICT DO NOTHING, no savepoint) and says so by returning nothing.
_INSERT_PART = {
    "sqlite": sqlite_insert(Fulfilment).on_conflict_do_nothing().returning(Fulfilment.id),
    "postgresql": postgresql_insert(Fulfilment).on_conflict_do_nothing().returning(Fulfilment.id),
}


def plan_part(
    session: Session, *, order: Order, skus: list[str], now: datetime
) -> tuple[list[Fulfilment], dict[str, str]]:
    """The one part of a periodic plan's upfront order: it holds no stock and no slot; it is
    ``ready`` once paid and ``done`` when the plan's last delivery is handed over (each
    period's delivery order reserves and ships its own goods)."""
    fulfilment = Fulfilment(
        merchant_id=order.merchant_id,
        id=new_id("ful"),
        order_id=order.id,
        location_id=order.location_id,
        mode=FulfilmentMode.PLAN,
        status="pending",
        fee=0,
        delivery_paid=0,
        created_at=now,
    )
    _insert_with_code(session, fulfilment)
    return [fulfilment], dict.fromkeys(skus, fulfilment.id)


def _insert_with_code(session: Session, fulfilment: Fulfilment) -> None:
    """Insert (the object stays out of the session: checkout only reads it back), giving a
    pickup a 6-digit code unique among its store's open pickups."""
    statement = _INSERT_PART[session.connection().dialect.name]
    for _ in range(8):
        if fulfilment.mode == FulfilmentMode.PICKUP:
            fulfilment.pickup_code = f"{secrets.randbelow(10**6):06d}"
        # sent with the order's insert, queued before it
        if pipelined.execute(session, statement, column_values(fulfilment)):
            return
        # the code is taken by another open pickup at this store: draw again
    raise Conflict("pickup.codes_exhausted", "Could not allocate a pickup code; try again.")


_OF_ORDER = (
    select(Fulfilment)
    .where(owned(Fulfilment, bindparam("m")), Fulfilment.order_id == bindparam("o"))
    .order_by(Fulfilment.id)
)


def of_order(session: Session, merchant_id: str, order_id: str) -> list[Fulfilment]:
    return list(session.scalars(_OF_ORDER, {"m": merchant_id, "o": order_id}))


_LINES_OF = (
    select(OrderLine)
    .where(owned(OrderLine, bindparam("m")), OrderLine.fulfilment_id == bindparam("f"))
    .order_by(OrderLine.line_no)
)


def open_lines(session: Session, fulfilment: Fulfilment) -> list[OrderLine]:
    """This fulfilment's lines with units not refunded."""
    lines = session.scalars(_LINES_OF, {"m": fulfilment.merchant_id, "f": fulfilment.id})
    return [line for line in lines if line.quantity > line.refunded_quantity]


def outstanding(session: Session, fulfilment: Fulfilment) -> dict[str, int]:
    """Units of this fulfilment not refunded, by SKU."""
    result: dict[str, int] = {}
    for line in open_lines(session, fulfilment):
        result[line.sku_id] = result.get(line.sku_id, 0) + line.quantity - line.refunded_quantity
    return result


def on_paid(session: Session, *, order: Order, paid_at: datetime) -> None:
    """The order is paid: its fulfilments are ready; pickups must be collected in time."""
    for fulfilment in of_order(session, order.merchant_id, order.id):
        if fulfilment.status != FulfilmentStatus.PENDING:
            continue
        if fulfilment.mode == FulfilmentMode.PICKUP:  # (read before the part changes: one UPDATE)
            cfg = settings_of(session.get_one(StockLocation, (order.merchant_id, fulfilment.location_id)))
            fulfilment.expires_at = max(paid_at, fulfilment.ready_at or paid_at) + timedelta(
                hours=cfg.pickup_hours
            )
        fulfilment.status = "ready"
    session.flush()


def on_cancel(session: Session, *, order: Order, reason: str, now: datetime) -> None:
    """The unpaid order is cancelled: release each fulfilment's stock and slot."""
    for fulfilment in of_order(session, order.merchant_id, order.id):
        if fulfilment.status not in OPEN:
            continue
        if fulfilment.mode == FulfilmentMode.PLAN:  # holds no stock
            fulfilment.status = "cancelled"
            continue
        inventory.release(
            session,
            merchant_id=order.merchant_id,
            location_id=fulfilment.location_id,
            items=outstanding(session, fulfilment),
            order_id=order.id,
            reason=reason,
            now=now,
        )
        _unbook_slot(session, fulfilment)
        fulfilment.status = "cancelled"
    session.flush()


# Handing a part over returns it as the UPDATE left it (the session's object refreshed).
_FINISH = transition(
    Fulfilment,
    Fulfilment.status == FulfilmentStatus.READY,
    status="done",
    done_at=bindparam("at"),
    done_by=bindparam("by"),
)
_CLOSE = transition(Order, Order.status == OrderStatus.PAID, status="fulfilled", fulfilled_at=bindparam("at"))


def finish_part(session: Session, fulfilment: Fulfilment, *, by: str, now: datetime) -> bool:
    """Hand one ready fulfilment over: its outstanding units leave the location (``fulfilment``
    is current afterwards)."""
    done = session.execute(
        _FINISH, {"m": fulfilment.merchant_id, "key": fulfilment.id, "at": now, "by": by}
    ).scalar()
    if done is None:
        return False
    inventory.commit(
        session,
        merchant_id=fulfilment.merchant_id,
        location_id=fulfilment.location_id,
        items=outstanding(session, fulfilment),
        order_id=fulfilment.order_id,
        now=now,
    )
    order = session.get_one(Order, (fulfilment.merchant_id, fulfilment.order_id))
    pickup = fulfilment.mode == FulfilmentMode.PICKUP
    events.record(
        session,
        fulfilment.merchant_id,
        EventKind.PICKUP_VERIFIED if pickup else EventKind.DELIVERY_HANDED_OVER,
        now,
        customer_id=order.customer_id,
        host_app=order.host_app,
        store_id=fulfilment.location_id,
        guide_id=order.guide_id,
        subject_id=fulfilment.id,
        ref=fulfilment.mode,
        subject_at=order.paid_at,
    )
    return True


def hand_over(session: Session, *, order: Order, store_id: str | None, by: str, now: datetime) -> int:
    """Hand over the order's ready deliveries and shipments (at ``store_id`` only, for a clerk).
    Pickups need their code (:func:`verify_pickup`). Returns how many were handed over."""
    fulfilments = [
        f
        for f in of_order(session, order.merchant_id, order.id)
        if store_id is None or f.location_id == store_id
    ]
    # A plan's upfront part is handed over by the plan's delivery orders, never by hand.
    ready = [f for f in fulfilments if f.status == FulfilmentStatus.READY and f.mode != FulfilmentMode.PLAN]
    if not ready:
        raise Conflict(
            "order.not_fulfillable",
            f"An order that is {order.status.replace('_', ' ')} has nothing here to hand over.",
        )
    if all(f.mode == FulfilmentMode.PICKUP for f in ready):
        raise Conflict(
            "fulfilment.pickup_code_required", "A pickup is handed over by verifying its pickup code."
        )
    return sum(finish_part(session, f, by=by, now=now) for f in ready if f.mode != FulfilmentMode.PICKUP)


def close_when_done(session: Session, *, order: Order, now: datetime) -> bool:
    """Mark a paid order fulfilled once every fulfilment is finished and something was
    handed over; returns whether this call did it."""
    states = {f.status for f in of_order(session, order.merchant_id, order.id)}
    if states & set(OPEN) or "done" not in states:
        return False
    closed = session.execute(_CLOSE, {"m": order.merchant_id, "key": order.id, "at": now}).scalar()
    if closed is None:
        session.refresh(order)
    return closed is not None


def after_refund(session: Session, *, order: Order) -> None:
    """Fulfilments not yet handed over whose every unit was refunded are cancelled (their
    delivery slot freed)."""
    for fulfilment in of_order(session, order.merchant_id, order.id):
        if fulfilment.status in OPEN and not outstanding(session, fulfilment):
            _unbook_slot(session, fulfilment)
            fulfilment.status = "cancelled"
    session.flush()


def get(session: Session, merchant_id: str, fulfilment_id: str) -> Fulfilment:
    fulfilment = session.get(Fulfilment, (merchant_id, fulfilment_id))
    if fulfilment is None:
        raise NotFound.of("Fulfilment")
    return fulfilment
