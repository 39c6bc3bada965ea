"""Points (积分), a ledger where every movement is a row, lots that expire in
FIFO order (points earned in a year expire at the end of the next, merchant time), and a
balance that never goes below zero even under concurrent spends.

Invariant: a member's ``points_balance`` equals the sum of ``remaining`` over their lots.
Every function here moves both in the same transaction: the balance by a conditional
UPDATE (the row lock on PostgreSQL, the writer lock on SQLite serialise spenders), the
lots by conditional UPDATEs that refuse to go below empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, func, select, update
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.db import changed, new_id
from shoplet.errors import Conflict, InvalidInput, NotFound, Unprocessable
from shoplet.events import EventKind
from shoplet.membership.models import LoyaltySettings, Member, PointsEntry, PointsKind, PointsLot
from shoplet.schemas import zone_named
from shoplet.scoping import owned
from shoplet.tenancy.models import Merchant


def settings_of(session: Session, merchant_id: str) -> LoyaltySettings:
    """The merchant's loyalty settings, or the defaults when they never set any. A merchant
    without a row is asked once per unit of work (``get`` would ask again every time)."""
    defaults = session.info.get(("loyalty_defaults", merchant_id))
    if defaults is not None:
        return cast(LoyaltySettings, defaults)
    row = session.get(LoyaltySettings, merchant_id)
    if row is None:
        row = LoyaltySettings(
            merchant_id=merchant_id,
            points_per_yuan=1,
            growth_per_yuan=1,
            value_per_point=1,
            max_share_percent=50,
            updated_at=None,
        )
        session.info[("loyalty_defaults", merchant_id)] = row
    return row


def set_settings(
    session: Session, *, merchant_id: str, values: dict[str, int], now: datetime
) -> LoyaltySettings:
    session.info.pop(("loyalty_defaults", merchant_id), None)
    row = session.get(LoyaltySettings, merchant_id)
    if row is None:
        row = LoyaltySettings(merchant_id=merchant_id)
        session.add(row)
    for field, value in values.items():
        setattr(row, field, value)
    row.updated_at = now
    session.flush()
    return row


def adjust(
    session: Session, *, merchant_id: str, customer_id: str, delta: int, note: str, now: datetime
) -> Member:
    """Add or take a member's points by hand, with a reason (taking never goes below zero)."""
    if delta == 0:
        raise InvalidInput("points.zero", "An adjustment moves at least one point.")
    member = session.get(Member, (merchant_id, customer_id))
    if member is None:
        raise NotFound(
            "member.not_found", "This customer is not a member yet (the first paid order makes one)."
        )
    if delta > 0:
        credit(
            session,
            merchant_id=merchant_id,
            customer_id=customer_id,
            points=delta,
            kind="adjust",
            now=now,
            note=note,
        )
    else:
        debit(
            session,
            merchant_id=merchant_id,
            customer_id=customer_id,
            points=-delta,
            kind="adjust",
            now=now,
            note=note,
        )
    session.refresh(member)
    return member


def expiry_for(session: Session, merchant_id: str, earned_at: datetime) -> datetime:
    """The end of the year after the one the points were earned in, in the merchant's time."""
    merchant = session.get(Merchant, merchant_id)
    zone = zone_named(merchant.timezone if merchant else None)
    year = earned_at.astimezone(zone).year
    return datetime(year + 2, 1, 1, tzinfo=zone)


def add_to_member(column: Any) -> Update:
    """``column += :d`` for the member ``:c`` of ``:m``, unless that takes it below zero: one
    conditional UPDATE built once (points balance here, growth in ``tiers``)."""
    return (
        update(Member)
        .where(
            owned(Member, bindparam("m")), Member.customer_id == bindparam("c"), column + bindparam("d") >= 0
        )
        .values({column: column + bindparam("d")})
        .execution_options(synchronize_session=False)
    )


_MOVE_BALANCE = add_to_member(Member.points_balance).returning(Member.points_balance)


def _move_balance(session: Session, merchant_id: str, customer_id: str, delta: int) -> int | None:
    """Add ``delta`` to the balance unless that would take it below zero; the new balance or None."""
    return session.execute(_MOVE_BALANCE, {"m": merchant_id, "c": customer_id, "d": delta}).scalar()


_INSERT_ENTRY = cast(Table, PointsEntry.__table__).insert()
_INSERT_LOT = cast(Table, PointsLot.__table__).insert()


def _entry(
    session: Session,
    merchant_id: str,
    customer_id: str,
    kind: str,
    delta: int,
    balance: int,
    now: datetime,
    *,
    lot_id: str | None = None,
    order_id: str | None = None,
    note: str = "",
) -> None:
    """One line of the ledger, written at once on the session's connection (an append-only
    row nothing in the transaction holds as an object)."""
    session.connection().execute(
        _INSERT_ENTRY,
        {
            "merchant_id": merchant_id,
            "id": new_id("pte"),
            "customer_id": customer_id,
            "kind": kind,
            "delta": delta,
            "balance_after": balance,
            "lot_id": lot_id,
            "order_id": order_id,
            "note": note[:200],
            "at": now,
        },
    )


def credit(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    points: int,
    kind: str,
    now: datetime,
    expires_at: datetime | None = None,
    order_id: str | None = None,
    note: str = "",
) -> int:
    """Add points as a new lot; returns the new balance."""
    if points <= 0:
        return balance_of(session, merchant_id, customer_id)
    expires_at = expires_at or expiry_for(session, merchant_id, now)
    balance = _move_balance(session, merchant_id, customer_id, points)
    if balance is None:
        raise Unprocessable("points.not_member", "Only members collect points.")
    lot_id = new_id("ptl")
    session.connection().execute(
        _INSERT_LOT,
        {
            "merchant_id": merchant_id,
            "id": lot_id,
            "customer_id": customer_id,
            "amount": points,
            "remaining": points,
            "source": kind,
            "order_id": order_id,
            "earned_at": now,
            "expires_at": expires_at,
        },
    )
    _entry(
        session,
        merchant_id,
        customer_id,
        kind,
        points,
        balance,
        now,
        lot_id=lot_id,
        order_id=order_id,
        note=note,
    )
    events.record(
        session,
        merchant_id,
        EventKind.POINTS_EARNED,
        now,
        customer_id=customer_id,
        subject_id=lot_id,
        ref=kind,
        amount=points,
    )
    return balance


def debit(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    points: int,
    kind: str,
    now: datetime,
    order_id: str | None = None,
    note: str = "",
    prefer_lot: str | None = None,
    partial: bool = False,
) -> int:
    """Take points from the lots that expire soonest (``prefer_lot`` first); all or nothing
    unless ``partial``. Returns how many were taken."""
    if points <= 0:
        return 0
    if partial:
        points = min(points, balance_of(session, merchant_id, customer_id))
        if points <= 0:
            return 0
    balance = _move_balance(session, merchant_id, customer_id, -points)
    if balance is None:
        raise Conflict("points.insufficient", "Not enough points.")
    lots = list(
        session.scalars(
            select(PointsLot)
            .where(
                owned(PointsLot, merchant_id),
                PointsLot.customer_id == customer_id,
                PointsLot.remaining > 0,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
        )
    )
    if prefer_lot:
        lots.sort(key=lambda lot: lot.id != prefer_lot)
    left, running = points, balance + points
    for lot in lots:
        if left == 0:
            break
        take = min(left, lot.remaining)
        taken = changed(
            session.execute(
                update(PointsLot)
                .where(owned(PointsLot, merchant_id), PointsLot.id == lot.id, PointsLot.remaining >= take)
                .values(remaining=PointsLot.remaining - take)
                .execution_options(synchronize_session=False)
            )
        )
        if not taken:
            raise Conflict("points.busy", "Points changed at the same moment; try again.")
        running -= take
        _entry(
            session,
            merchant_id,
            customer_id,
            kind,
            -take,
            running,
            now,
            lot_id=lot.id,
            order_id=order_id,
            note=note,
        )
        left -= take
    if left:
        raise Conflict("points.inconsistent", "The points ledger does not add up; nothing was taken.")
    session.flush()
    events.record(
        session, merchant_id, EventKind.POINTS_SPENT, now, customer_id=customer_id, ref=kind, amount=points
    )
    return points


def balance_of(session: Session, merchant_id: str, customer_id: str) -> int:
    member = session.get(Member, (merchant_id, customer_id), populate_existing=True)
    return member.points_balance if member else 0


_ORDER_SUM = select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
    owned(PointsEntry, bindparam("m")),
    PointsEntry.order_id == bindparam("o"),
    PointsEntry.kind.in_(bindparam("kinds", expanding=True)),
)


def _order_sum(session: Session, merchant_id: str, order_id: str, kinds: tuple[str, ...]) -> int:
    return int(session.scalar(_ORDER_SUM, {"m": merchant_id, "o": order_id, "kinds": list(kinds)}) or 0)


def earn_for_order(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    paid: int,
    multiplier: int,
    now: datetime,
) -> int:
    """Points for a paid order: per whole yuan paid × points_per_yuan × the tier's multiplier."""
    if _order_sum(session, merchant_id, order_id, ("earn",)):
        return 0  # already earned
    settings = settings_of(session, merchant_id)
    points = (paid // 100) * settings.points_per_yuan * multiplier // 100
    credit(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        points=points,
        kind="earn",
        now=now,
        order_id=order_id,
        note="order paid",
    )
    return points


def spend_for_order(
    session: Session, *, merchant_id: str, customer_id: str, order_id: str, points: int, now: datetime
) -> int:
    return debit(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        points=points,
        kind="spend",
        now=now,
        order_id=order_id,
        note="paid part of an order",
    )


def on_refund(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    refunded: int,
    paid: int,
    full: bool,
    now: datetime,
) -> None:
    """A refund takes back its share of the points the order earned and gives back its share
    of the points it spent (cumulative targets, so partial refunds add up exactly)."""
    earned = _order_sum(session, merchant_id, order_id, ("earn",))
    if earned and paid > 0:
        target = earned if full else earned * min(refunded, paid) // paid
        done = -_order_sum(session, merchant_id, order_id, ("reverse_earn",))
        if target > done:
            lot = session.scalar(
                select(PointsLot.id).where(
                    owned(PointsLot, merchant_id),
                    PointsLot.order_id == order_id,
                    PointsLot.source == "earn",
                )
            )
            # If the points were already spent, take what is there: the balance never goes negative.
            debit(
                session,
                merchant_id=merchant_id,
                customer_id=customer_id,
                points=target - done,
                kind="reverse_earn",
                now=now,
                order_id=order_id,
                note="order refunded",
                prefer_lot=lot,
                partial=True,
            )
    _return_spent(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        order_id=order_id,
        share=(refunded, paid),
        full=full,
        now=now,
    )


def on_cancel(session: Session, *, merchant_id: str, customer_id: str, order_id: str, now: datetime) -> None:
    """An unpaid order was cancelled: every point it spent comes back."""
    _return_spent(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        order_id=order_id,
        share=(1, 1),
        full=True,
        now=now,
    )


def _return_spent(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    share: tuple[int, int],
    full: bool,
    now: datetime,
) -> None:
    spent_entries = list(
        session.scalars(
            select(PointsEntry).where(
                owned(PointsEntry, merchant_id),
                PointsEntry.order_id == order_id,
                PointsEntry.kind == PointsKind.SPEND,
            )
        )
    )
    spent = -sum(e.delta for e in spent_entries)
    if not spent:
        return
    refunded, paid = share
    target = spent if full or paid <= 0 else spent * min(refunded, paid) // paid
    done = _order_sum(session, merchant_id, order_id, ("return_spend",))
    if target <= done:
        return
    # The points come back with the latest expiry of the lots they came from: never longer-lived.
    expires = max(session.get_one(PointsLot, (merchant_id, e.lot_id)).expires_at for e in spent_entries)
    credit(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        points=target - done,
        kind="return_spend",
        now=now,
        expires_at=expires,
        order_id=order_id,
        note="spent points returned",
    )


def expire(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Expire what is left of lots whose time has come; returns the points expired."""
    lots = list(
        session.scalars(
            select(PointsLot)
            .where(PointsLot.expires_at <= now, PointsLot.remaining > 0)
            .order_by(PointsLot.expires_at)
            .limit(limit)
        )
    )
    total = 0
    for lot in lots:
        left = lot.remaining
        taken = changed(
            session.execute(
                update(PointsLot)
                .where(owned(PointsLot, lot.merchant_id), PointsLot.id == lot.id, PointsLot.remaining == left)
                .values(remaining=0)
                .execution_options(synchronize_session=False)
            )
        )
        if not taken:
            continue  # spent at the same moment: the next sweep sees what is left
        balance = _move_balance(session, lot.merchant_id, lot.customer_id, -left)
        if balance is None:
            raise Conflict("points.inconsistent", "The points ledger does not add up.")
        _entry(
            session,
            lot.merchant_id,
            lot.customer_id,
            "expire",
            -left,
            balance,
            now,
            lot_id=lot.id,
            note="expired",
        )
        total += left
    session.flush()
    return total
