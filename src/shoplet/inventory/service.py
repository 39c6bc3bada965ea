"""Stock locations and stock levels.

Every change is one conditional UPDATE so concurrent checkouts can never take more than
is available: ``reserved + n <= on_hand`` is in the WHERE clause, and the CHECK
constraints are the backstop. Each change also writes a :class:`StockMovement`.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet import pipelined
from shoplet.catalog.models import Sku
from shoplet.db import changed, new_id
from shoplet.errors import Conflict, InvalidInput, Unprocessable
from shoplet.inventory.models import StockLevel, StockLocation, StockMovement, StockTransfer
from shoplet.scoping import get_owned, owned


def create_location(session: Session, *, merchant_id: str, now: datetime, **fields: Any) -> StockLocation:
    code = fields["code"]
    if session.scalar(
        select(StockLocation.id).where(owned(StockLocation, merchant_id), StockLocation.code == code)
    ):
        raise Conflict("store.code_taken", f"A store or warehouse with code '{code}' already exists.")
    location = StockLocation(merchant_id=merchant_id, id=new_id("loc"), created_at=now, **fields)
    session.add(location)
    session.flush()
    return location


def update_location(
    session: Session, *, merchant_id: str, location_id: str, changes: dict[str, Any]
) -> StockLocation:
    """Edit a store or warehouse: name, address, position, opening hours, fulfilment settings
    (those not given keep their values), active."""
    location = get_owned(session, StockLocation, merchant_id, location_id, what="Store", code="store")
    for field, value in changes.items():
        if value is None and field not in ("latitude", "longitude"):
            raise InvalidInput("request.null_field", f"'{field}' cannot be cleared; give it a value.")
        if field == "fulfilment":
            value = {**(location.fulfilment or {}), **value}
        setattr(location, field, value)
    session.flush()
    return location


def _movement(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    sku_id: str,
    kind: str,
    on_hand: int = 0,
    reserved: int = 0,
    reason: str = "",
    order_id: str | None = None,
    now: datetime,
) -> None:
    session.add(
        StockMovement(
            merchant_id=merchant_id,
            id=new_id("mov"),
            location_id=location_id,
            sku_id=sku_id,
            kind=kind,
            on_hand_delta=on_hand,
            reserved_delta=reserved,
            reason=reason,
            order_id=order_id,
            created_at=now,
        )
    )


def _level_filter(merchant_id: str, location_id: str, sku_id: str) -> list[Any]:
    return [
        owned(StockLevel, merchant_id),
        StockLevel.location_id == location_id,
        StockLevel.sku_id == sku_id,
    ]


def _check_refs(session: Session, merchant_id: str, location_id: str, sku_id: str) -> None:
    get_owned(session, StockLocation, merchant_id, location_id, what="Store", code="store")
    get_owned(session, Sku, merchant_id, sku_id, what="SKU")


def _ensure_level(session: Session, merchant_id: str, location_id: str, sku_id: str, now: datetime) -> None:
    if session.get(StockLevel, (merchant_id, location_id, sku_id)) is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                StockLevel(
                    merchant_id=merchant_id,
                    location_id=location_id,
                    sku_id=sku_id,
                    on_hand=0,
                    reserved=0,
                    updated_at=now,
                )
            )
    except IntegrityError:
        pass  # created concurrently: the row exists, which is all we need


def adjust(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    sku_id: str,
    delta: int,
    reason: str,
    now: datetime,
) -> StockLevel:
    """Add or remove on-hand units (receipt, stock-take, damage). Never below what is reserved."""
    _check_refs(session, merchant_id, location_id, sku_id)
    _ensure_level(session, merchant_id, location_id, sku_id, now)
    moved = changed(
        session.execute(
            update(StockLevel)
            .where(
                *_level_filter(merchant_id, location_id, sku_id),
                StockLevel.on_hand + delta >= StockLevel.reserved,
            )
            .values(on_hand=StockLevel.on_hand + delta, updated_at=now)
        )
    )
    if not moved:
        raise Unprocessable(
            "stock.adjustment_below_reserved",
            "That would leave fewer units on hand than are reserved for orders.",
        )
    _movement(
        session,
        merchant_id=merchant_id,
        location_id=location_id,
        sku_id=sku_id,
        kind="adjust",
        on_hand=delta,
        reason=reason,
        now=now,
    )
    session.flush()
    level = session.get_one(StockLevel, (merchant_id, location_id, sku_id))
    session.refresh(level)
    return level


def set_on_hand(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    sku_id: str,
    on_hand: int,
    reason: str,
    now: datetime,
) -> StockLevel:
    """A stock-take: set the counted quantity, recorded as the difference."""
    _check_refs(session, merchant_id, location_id, sku_id)
    _ensure_level(session, merchant_id, location_id, sku_id, now)
    level = session.get_one(StockLevel, (merchant_id, location_id, sku_id))
    session.refresh(level)
    return adjust(
        session,
        merchant_id=merchant_id,
        location_id=location_id,
        sku_id=sku_id,
        delta=on_hand - level.on_hand,
        reason=reason,
        now=now,
    )


def _movement_row(
    merchant_id: str,
    location_id: str,
    sku_id: str,
    kind: str,
    on_hand: int,
    reserved: int,
    reason: str,
    order_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A :class:`StockMovement` as a plain row, for the hot paths that insert them in one
    statement (:data:`_INSERT_MOVEMENTS`)."""
    return {
        "merchant_id": merchant_id,
        "id": new_id("mov"),
        "location_id": location_id,
        "sku_id": sku_id,
        "kind": kind,
        "on_hand_delta": on_hand,
        "reserved_delta": reserved,
        "reason": reason,
        "order_id": order_id,
        "created_at": now,
    }


def _move_statement(guard: str | None) -> Any:
    """One conditional UPDATE of a level by ``dh`` on hand and ``dr`` reserved, whose extra
    condition (``guard``) is that ``q`` units are reserved, or available, or nothing."""
    conditions = {
        None: [],
        "reserved": [StockLevel.reserved >= bindparam("q")],
        "available": [StockLevel.on_hand - StockLevel.reserved >= bindparam("q")],
    }[guard]
    return (
        update(StockLevel)
        .where(
            owned(StockLevel, bindparam("m")),
            StockLevel.location_id == bindparam("l"),
            StockLevel.sku_id == bindparam("s"),
            *conditions,
        )
        .values(
            on_hand=StockLevel.on_hand + bindparam("dh"),
            reserved=StockLevel.reserved + bindparam("dr"),
            updated_at=bindparam("now", type_=StockLevel.__table__.c.updated_at.type),
        )
        .execution_options(synchronize_session=False)
    )


_MOVES = {guard: _move_statement(guard) for guard in (None, "reserved", "available")}


def _move(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    items: dict[str, int],
    kind: str,
    on_hand: int,
    reserved: int,
    guard: str | None,
    error: Exception | None,
    order_id: str | None,
    reason: str,
    now: datetime,
) -> None:
    """Apply ``on_hand``/``reserved`` (+1, −1 or 0 per unit) to each item by one conditional
    UPDATE whose extra condition is ``guard`` (see :func:`_move_statement`); a row the guard
    refuses raises ``error``. A level the session holds is expired, so it reads as changed.

    SKUs go in sorted order so concurrent transactions lock rows alike (no deadlock cycles
    on PostgreSQL).
    """
    statement = _MOVES[guard]
    movements = []
    for sku_id, quantity in sorted(items.items()):
        if quantity <= 0:
            continue
        params = {
            "m": merchant_id,
            "l": location_id,
            "s": sku_id,
            "q": quantity,
            "dh": on_hand * quantity,
            "dr": reserved * quantity,
            "now": now,
        }
        moved = changed(session.execute(statement, params))
        if not moved and error is not None:
            if isinstance(error, Unprocessable):
                error.extra["sku_id"] = sku_id
            raise error
        held = session.identity_map.get((StockLevel, (merchant_id, location_id, sku_id), None))
        if held is not None:
            session.expire(held, ["on_hand", "reserved", "updated_at"])
        movements.append(
            _movement_row(
                merchant_id,
                location_id,
                sku_id,
                kind,
                on_hand * quantity,
                reserved * quantity,
                reason,
                order_id,
                now,
            )
        )
    if movements:
        session.connection().execute(_INSERT_MOVEMENTS, movements)


# Checkout reserves on every order: both statements built once and sent on the connection
# (no ORM bookkeeping; checkout holds no StockLevel objects to keep in step).
_RESERVE = (
    update(StockLevel)
    .where(
        owned(StockLevel, bindparam("m")),
        StockLevel.location_id == bindparam("l"),
        StockLevel.sku_id == bindparam("s"),
        StockLevel.on_hand - StockLevel.reserved >= bindparam("q"),
    )
    .values(
        reserved=StockLevel.reserved + bindparam("q"),
        updated_at=bindparam("now", type_=StockLevel.__table__.c.updated_at.type),
    )
)
_INSERT_MOVEMENTS = cast(Table, StockMovement.__table__).insert()


def reserve(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    items: dict[str, int],
    order_id: str,
    now: datetime,
) -> None:
    """Reserve every item or none: the first short SKU raises and the transaction rolls back.
    SKUs go in sorted order (see :func:`_move`); the movements are written in one statement.
    On PostgreSQL all of it goes with the unit of work's next round trip (:mod:`shoplet.pipelined`):
    a short SKU raises once the results are back, before COMMIT."""
    movements = []
    for sku_id, quantity in sorted(items.items()):
        if quantity <= 0:
            continue
        params = {"m": merchant_id, "l": location_id, "s": sku_id, "q": quantity, "now": now}
        pipelined.later(session, _RESERVE, params, check=partial(_reserved, sku_id))
        movements.append(
            _movement_row(merchant_id, location_id, sku_id, "reserve", 0, quantity, "", order_id, now)
        )
    pipelined.insert_later(session, StockMovement, movements, skip_taken=False)


def _reserved(sku_id: str, rowcount: int) -> None:
    if rowcount != 1:
        raise Unprocessable(
            "stock.insufficient", "Not enough stock at this store for one of the items.", sku_id=sku_id
        )


def release(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    items: dict[str, int],
    order_id: str,
    reason: str,
    now: datetime,
) -> None:
    """Give reserved units back to available stock (cancel, timeout, refund before fulfilment)."""
    _move(
        session,
        merchant_id=merchant_id,
        location_id=location_id,
        items=items,
        kind="release",
        on_hand=0,
        reserved=-1,
        guard="reserved",
        error=Conflict("stock.release_mismatch", "The reservation to release is not there."),
        order_id=order_id,
        reason=reason,
        now=now,
    )


def commit(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    items: dict[str, int],
    order_id: str,
    now: datetime,
) -> None:
    """Goods leave the location: reserved units come off on hand."""
    _move(
        session,
        merchant_id=merchant_id,
        location_id=location_id,
        items=items,
        kind="commit",
        on_hand=-1,
        reserved=-1,
        guard="reserved",
        error=Conflict("stock.commit_mismatch", "The reservation to fulfil is not there."),
        order_id=order_id,
        reason="",
        now=now,
    )


def restock(
    session: Session,
    *,
    merchant_id: str,
    location_id: str,
    items: dict[str, int],
    order_id: str,
    now: datetime,
) -> None:
    """Returned goods come back on hand."""
    for sku_id in items:
        _ensure_level(session, merchant_id, location_id, sku_id, now)
    _move(
        session,
        merchant_id=merchant_id,
        location_id=location_id,
        items=items,
        kind="return",
        on_hand=1,
        reserved=0,
        guard=None,
        error=None,
        order_id=order_id,
        reason="refund_return",
        now=now,
    )


def levels_at(session: Session, merchant_id: str, location_id: str) -> list[StockLevel]:
    return list(
        session.scalars(
            select(StockLevel)
            .where(owned(StockLevel, merchant_id), StockLevel.location_id == location_id)
            .order_by(StockLevel.sku_id)
        )
    )


def transfer(
    session: Session,
    *,
    merchant_id: str,
    from_location_id: str,
    to_location_id: str,
    items: dict[str, int],
    reason: str,
    by: str,
    now: datetime,
) -> StockTransfer:
    """Move units between two locations in one transaction: each SKU leaves the source only
    if that many are available there (on hand − reserved), or nothing moves at all."""
    if from_location_id == to_location_id:
        raise Unprocessable("stock.transfer_same_place", "A transfer needs two different locations.")
    for location_id in (from_location_id, to_location_id):
        get_owned(session, StockLocation, merchant_id, location_id, what="Store", code="store")
    record = StockTransfer(
        merchant_id=merchant_id,
        id=new_id("trf"),
        from_location_id=from_location_id,
        to_location_id=to_location_id,
        lines=[{"sku_id": k, "quantity": v} for k, v in sorted(items.items())],
        reason=reason,
        created_by=by,
        created_at=now,
    )
    session.add(record)
    session.flush()
    note = f"transfer {record.id}" + (f": {reason}" if reason else "")
    for sku_id in sorted(items):
        get_owned(session, Sku, merchant_id, sku_id, what="SKU")
        _ensure_level(session, merchant_id, from_location_id, sku_id, now)
        _ensure_level(session, merchant_id, to_location_id, sku_id, now)
    _move(
        session,
        merchant_id=merchant_id,
        location_id=from_location_id,
        items=items,
        kind="transfer_out",
        on_hand=-1,
        reserved=0,
        guard="available",
        error=Unprocessable("stock.transfer_short", "The source does not have that many available to move."),
        order_id=None,
        reason=note,
        now=now,
    )
    _move(
        session,
        merchant_id=merchant_id,
        location_id=to_location_id,
        items=items,
        kind="transfer_in",
        on_hand=1,
        reserved=0,
        guard=None,
        error=None,
        order_id=None,
        reason=note,
        now=now,
    )
    session.flush()
    return record
