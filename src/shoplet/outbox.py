"""Transactional outbox: side effects that must happen once the change is committed.

A side effect (issue a coupon pack, tell the customer, call a webhook) is written as a row
in the same transaction as the change that causes it, so both happen or neither does, and
delivered after commit by :func:`dispatch`: the unit of work kicks delivery whenever a
commit wrote outbox rows (``db.Database.unit_of_work``), and a periodic sweep picks up
whatever a kick missed. Handlers take the payload and must be safe to run twice. A handler
that raises :class:`Terminal` goes to the dead letter at once with its reason (retrying
cannot help); any other exception is retried with backoff, then dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import JSON, Index, Integer, String, Table, bindparam, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from shoplet.db import OUTBOX_WRITTEN, Base, Database, TenantMixin, new_id, utcnow
from shoplet.scoping import owned

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (5, 30, 120, 600, 3600, 6 * 3600)


class OutboxStatus(StrEnum):
    """An outbox event's status. Stored as these strings."""

    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class OutboxEvent(TenantMixin, Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_due", "status", "next_attempt_at"),)

    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


Handler = Callable[[dict[str, Any]], None]


class Terminal(Exception):
    """Raised by a handler when the event can never be delivered (its subject is gone, the
    payload names something that does not exist): dead letter at once, with this reason."""


_INSERT = cast(Table, OutboxEvent.__table__).insert()


def emit(
    session: Session,
    *,
    merchant_id: str,
    topic: str,
    payload: dict[str, Any],
    now: datetime,
    delay: timedelta = timedelta(0),
) -> OutboxEvent:
    """Record a side effect to deliver after this transaction commits (the row is written at
    once, as a plain row; the event returned is its values, not held by ``session``)."""
    values = {
        "merchant_id": merchant_id,
        "id": new_id("evt"),
        "topic": topic,
        "payload": payload,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now + delay,
        "last_error": None,
        "created_at": now,
        "done_at": None,
    }
    session.connection().execute(_INSERT, values)
    session.info[OUTBOX_WRITTEN] = True
    return OutboxEvent(**values)


def dispatch(
    db: Database, handlers: dict[str, Handler], *, now: datetime | None = None, limit: int = 100
) -> int:
    """Deliver due events; returns how many were delivered.

    Each event is claimed by a conditional update (status and attempt count unchanged),
    so two dispatchers never deliver the same attempt twice.
    """
    now = now or utcnow()
    with db.unit_of_work(write=False) as session:
        due = session.execute(
            select(OutboxEvent.merchant_id, OutboxEvent.id, OutboxEvent.attempts)
            # Topics nobody handles yet (e.g. messages before messaging exists) wait, untouched.
            .where(
                OutboxEvent.status == OutboxStatus.PENDING,
                OutboxEvent.next_attempt_at <= now,
                OutboxEvent.topic.in_(list(handlers)),
            )
            .order_by(OutboxEvent.next_attempt_at)
            .limit(limit)
        ).all()
    delivered = 0
    for merchant_id, event_id, attempts in due:
        delivered += _deliver_one(db, handlers, merchant_id, event_id, attempts, now)
    return delivered


# Taking an event (its attempt counted, leased until ``lease``) returns what to deliver; a
# delivered event is done. Both built once: every event of every merchant passes here.
_CLAIM = (
    update(OutboxEvent)
    .where(
        owned(OutboxEvent, bindparam("m")),
        OutboxEvent.id == bindparam("k"),
        OutboxEvent.status == OutboxStatus.PENDING,
        OutboxEvent.attempts == bindparam("n", type_=Integer),
    )
    .values(attempts=bindparam("n", type_=Integer) + 1, next_attempt_at=bindparam("lease"))
    .returning(OutboxEvent.topic, OutboxEvent.payload)
    .execution_options(synchronize_session=False)
)
_DONE = (
    update(OutboxEvent)
    .where(owned(OutboxEvent, bindparam("m")), OutboxEvent.id == bindparam("k"))
    .values(status="done", done_at=bindparam("at"), last_error=None)
    .execution_options(synchronize_session=False)
)


def _deliver_one(
    db: Database, handlers: dict[str, Handler], merchant_id: str, event_id: str, attempts: int, now: datetime
) -> int:
    lease = now + timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS) - 1)])
    with db.unit_of_work() as session:
        claimed = session.execute(
            _CLAIM, {"m": merchant_id, "k": event_id, "n": attempts, "lease": lease}
        ).first()
        if claimed is None:
            return 0
        topic, payload = claimed.topic, dict(claimed.payload)
    handler = handlers.get(topic)
    error: str | None = None
    terminal = False
    if handler is None:
        error = f"no handler for topic {topic}"
    else:
        try:
            handler(payload)
        except Terminal as exc:  # retrying cannot help: dead letter now, with the reason
            log.warning("outbox event %s (%s) cannot be delivered: %s", event_id, topic, exc)
            error, terminal = f"terminal: {exc}"[:500], True
        except Exception as exc:  # a failed delivery is retried; it must not stop the batch
            log.warning("outbox event %s (%s) failed: %s", event_id, topic, exc)
            error = f"{type(exc).__name__}: {exc}"[:500]
    with db.unit_of_work() as session:
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values.update(status="done", done_at=now)
        elif terminal or attempts + 1 >= len(BACKOFF_SECONDS) + 1:
            values.update(status="dead")
        if error is None:
            session.execute(_DONE, {"m": merchant_id, "k": event_id, "at": now})
        else:
            session.execute(
                update(OutboxEvent)
                .where(owned(OutboxEvent, merchant_id), OutboxEvent.id == event_id)
                .values(**values)
            )
    return 1 if error is None else 0
