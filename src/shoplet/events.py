"""Business events: the append-only record every figure is computed from.

A service that changes something a merchant measures (an order paid, a coupon used, a
visit reported by the mini program) records an :class:`Event` in the same transaction as
the change, so the record and the change happen together or not at all. Events are never
updated or deleted. Each has an id that names what it describes (``order.paid:<order id>``,
or the id the mini program gave a page view), and recording the same id twice keeps the
first: a retried request or a job run twice adds nothing.

Each event is also queued once for every consumer of the database (``Database.
event_consumers``: the daily rollups, and the ClickHouse copy when one is configured);
a consumer takes its queue in batches and deletes what it has applied in the same
transaction, so nothing is applied twice or lost, whatever order transactions commit in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from shoplet.db import EVENT_CONSUMERS, OUTBOX_WRITTEN, Base, new_id
from shoplet.pipelined import insert_later


class EventKind(StrEnum):
    """What happened. Stored as these strings; :data:`CODES` gives each a letter for paths."""

    VISIT = "visit"
    SIGN_IN = "sign_in"
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    COUPON_CLAIMED = "coupon.claimed"
    COUPON_VERIFIED = "coupon.verified"
    COUPON_USED = "coupon.used"
    COUPON_EXPIRED = "coupon.expired"
    ORDER_PLACED = "order.placed"
    ORDER_PAID = "order.paid"
    ORDER_CANCELLED = "order.cancelled"
    REFUND = "refund"
    PICKUP_VERIFIED = "pickup.verified"
    DELIVERY_HANDED_OVER = "delivery.handed_over"
    LIGHT_JOINED = "light.joined"
    LIGHT_SETTLED = "light.settled"
    LIGHT_OVERDUE = "light.overdue"
    TIER_REACHED = "tier.reached"
    POINTS_EARNED = "points.earned"
    POINTS_SPENT = "points.spent"
    GUIDE_BOUND = "guide.bound"
    COMMISSION_CREATED = "commission.created"
    COMMISSION_SETTLED = "commission.settled"
    PUSH_SENT = "push.sent"
    PUSH_OPENED = "push.opened"
    GROUP_OPENED = "group.opened"
    GROUP_SUCCEEDED = "group.succeeded"
    GROUP_FAILED = "group.failed"
    FLASH_SOLD_OUT = "flash.sold_out"
    PLAN_DELIVERED = "plan.delivered"


# One character per kind: a customer's day is kept as the string of its events' letters
# (see analytics.rollups), and a funnel is a LIKE pattern over it. Upper-case letters, then
# digits (never lower case, because SQLite's LIKE ignores case; never % or _).
CODES: dict[str, str] = dict(zip(EventKind, "VSFUCKDEOPXRQHJLWTABGMNYZ12345", strict=True))


class Event(Base):
    """One business event (业务事件), owned by one merchant. What each column holds:

    ``customer_id``, ``host_app``, ``scene``, ``store_id``, ``guide_id`` where they apply;
    ``subject_id`` the thing it is about (order, coupon, membership, ...); ``ref`` what kind
    of that thing (coupon template, plan, tier, page, settlement outcome); ``amount`` the
    money it moved in fen (paid, refunded, charged, commission) or the points; ``benefit``
    the money the customer saved (an order's discount, a membership's enjoyed benefits);
    ``subject_at`` when the subject began (the order's payment for a refund, the coupon's
    claim for its use), so figures can count it on that day.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_merchant_id_occurred_at", "merchant_id", "occurred_at"),
        Index("ix_events_merchant_id_subject_at", "merchant_id", "subject_at"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column()
    customer_id: Mapped[str | None] = mapped_column(String(32))
    host_app: Mapped[str | None] = mapped_column(String(16))
    scene: Mapped[str | None] = mapped_column(String(32))
    store_id: Mapped[str | None] = mapped_column(String(32))
    guide_id: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    benefit: Mapped[int] = mapped_column(BigInteger, default=0)
    subject_at: Mapped[datetime | None] = mapped_column()


class EventQueue(Base):
    """Events a consumer has not applied yet (one row per event and consumer)."""

    __tablename__ = "event_queue"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(96), primary_key=True)


@dataclass(frozen=True)
class Fact:
    """An event to record (the columns of :class:`Event` but the merchant)."""

    kind: str
    occurred_at: datetime
    id: str | None = None
    customer_id: str | None = None
    host_app: str | None = None
    scene: str | None = None
    store_id: str | None = None
    guide_id: str | None = None
    subject_id: str | None = None
    ref: str | None = None
    amount: int = 0
    benefit: int = 0
    subject_at: datetime | None = None


_FIELDS = tuple(f.name for f in fields(Fact))

MESSAGING = "messaging"
"""The consumer that turns events into webhook messages and service notices."""

MESSAGED = frozenset(
    {
        EventKind.ORDER_PAID,
        EventKind.ORDER_CANCELLED,
        EventKind.REFUND,
        EventKind.COUPON_CLAIMED,
        EventKind.COUPON_VERIFIED,
        EventKind.COUPON_USED,
        EventKind.PICKUP_VERIFIED,
        EventKind.DELIVERY_HANDED_OVER,
        EventKind.LIGHT_JOINED,
        EventKind.LIGHT_SETTLED,
        EventKind.LIGHT_OVERDUE,
        EventKind.TIER_REACHED,
        EventKind.GROUP_SUCCEEDED,
        EventKind.GROUP_FAILED,
        EventKind.PLAN_DELIVERED,
    }
)
"""Kinds also queued for :data:`MESSAGING` (the webhook catalogue and the notices)."""


def record_many(session: Session, merchant_id: str, facts: list[Fact]) -> None:
    """Record events in this transaction; an id already recorded is kept as it was."""
    if not facts:
        return
    rows = []
    for fact in facts:
        row = {name: getattr(fact, name) for name in _FIELDS}  # not asdict(), which deep-copies
        row["merchant_id"] = merchant_id
        if row["id"] is None:
            row["id"] = f"{fact.kind}:{fact.subject_id}" if fact.subject_id else new_id("ev")
        rows.append(row)
    insert_later(session, Event, rows)
    consumers = session.info.get(EVENT_CONSUMERS, ("rollup",))
    queued = [
        {"merchant_id": merchant_id, "consumer": consumer, "event_id": row["id"]}
        for row in rows
        for consumer in consumers
    ]
    messaged = [
        {"merchant_id": merchant_id, "consumer": MESSAGING, "event_id": row["id"]}
        for row in rows
        if row["kind"] in MESSAGED
    ]
    if messaged:  # delivered after commit, like the outbox (the dispatcher is kicked)
        queued += messaged
        session.info[OUTBOX_WRITTEN] = True
    insert_later(session, EventQueue, queued)


def record(session: Session, merchant_id: str, kind: str, occurred_at: datetime, **columns: Any) -> None:
    """Record one event (see :class:`Fact` for the columns); its id defaults to
    ``<kind>:<subject_id>``, so the same change recorded twice is one event."""
    record_many(session, merchant_id, [Fact(kind=kind, occurred_at=occurred_at, **columns)])
