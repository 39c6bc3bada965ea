"""Pickups at the counter: the code a clerk types, why it cannot be handed over, verifying it
exactly once, and uncollected pickups expiring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shoplet.db import changed
from shoplet.errors import Conflict, Unprocessable
from shoplet.orders.fulfilment import OPEN, finish_part
from shoplet.orders.models import Fulfilment, FulfilmentMode, FulfilmentStatus
from shoplet.scoping import owned

_BY_CODE = (
    select(Fulfilment)
    .where(
        owned(Fulfilment, bindparam("m")),
        Fulfilment.location_id == bindparam("s"),
        Fulfilment.mode == FulfilmentMode.PICKUP,
        Fulfilment.pickup_code == bindparam("code"),
    )
    .order_by(Fulfilment.created_at.desc())
)


def find_pickup(session: Session, *, merchant_id: str, store_id: str, code: str) -> Fulfilment | None:
    """The pickup a code names at a store: the open one if any, else the latest (codes are
    unique only among a store's open pickups)."""
    found = session.scalars(_BY_CODE, {"m": merchant_id, "s": store_id, "code": code}).all()
    return next((f for f in found if f.status in OPEN), None) or (found[0] if found else None)


def pickup_refusal(current: Fulfilment) -> Conflict | None:
    """Why this pickup cannot be handed over now (None: it can)."""
    if current.status == FulfilmentStatus.PENDING:
        return Conflict("pickup.not_paid", "That order has not been paid yet.")
    if current.status == FulfilmentStatus.DONE:
        return Conflict(
            "pickup.code_used", f"That pickup code was already used at {current.done_at:%Y-%m-%d %H:%M} UTC."
        )
    if current.status == FulfilmentStatus.EXPIRED:
        return Conflict("pickup.expired", "That pickup expired uncollected and was refunded.")
    if current.status == FulfilmentStatus.CANCELLED:
        return Conflict("pickup.cancelled", "That pickup was cancelled and refunded.")
    return None


def verify_pickup(
    session: Session, *, merchant_id: str, store_id: str, code: str, by: str, now: datetime
) -> Fulfilment:
    """A clerk verifies a pickup code at their store: it works exactly once."""
    current = find_pickup(session, merchant_id=merchant_id, store_id=store_id, code=code)
    if current is None:
        raise Unprocessable("pickup.code_wrong", "No order at this store has that pickup code.")
    refused = pickup_refusal(current)
    if refused is not None:
        raise refused
    if not finish_part(session, current, by=by, now=now):
        raise Conflict("pickup.code_used", "That pickup code was just used.")
    return current


def expire(session: Session, fulfilment: Fulfilment, *, now: datetime) -> bool:
    """Mark an uncollected pickup expired (the caller refunds and releases its units)."""
    return bool(
        changed(
            session.execute(
                update(Fulfilment)
                .where(
                    owned(Fulfilment, fulfilment.merchant_id),
                    Fulfilment.id == fulfilment.id,
                    Fulfilment.status == FulfilmentStatus.READY,
                    Fulfilment.expires_at <= now,
                )
                .values(status="expired", done_at=now)
            )
        )
    )


def due_pickups(session: Session, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(merchant_id, fulfilment_id) of paid pickups past their collection deadline."""
    return [
        (row[0], row[1])
        for row in session.execute(
            select(Fulfilment.merchant_id, Fulfilment.id)
            .where(
                Fulfilment.status == FulfilmentStatus.READY,
                Fulfilment.mode == FulfilmentMode.PICKUP,
                Fulfilment.expires_at <= now,
            )
            .order_by(Fulfilment.expires_at)
            .limit(limit)
        )
    ]
