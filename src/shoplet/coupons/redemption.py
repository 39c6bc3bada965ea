"""Using coupons: at checkout through the pricing engine, and in store (核销).

Each step is one conditional UPDATE on the coupon's status, so a coupon is used once:
two verifications of one code race on ``status = 'available'`` and exactly one wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from shoplet import events, pipelined
from shoplet.coupons.codes import normalise
from shoplet.coupons.models import Coupon, CouponStatus, CouponTemplate
from shoplet.coupons.schemas import FiguresOut
from shoplet.db import changed
from shoplet.errors import Conflict, NotFound, Unprocessable
from shoplet.events import EventKind, Fact
from shoplet.outbox import emit
from shoplet.scoping import get_owned, owned

RULE_FIELDS = (
    "kind",
    "off",
    "threshold",
    "percent_off",
    "max_off",
    "sku",
    "price",
    "scope",
    "stackable",
    "exclusive_with_promotions",
    "campaigns",
)


def as_contract(coupon: Coupon) -> dict[str, Any]:
    """The coupon as the pricing contract's input (id = coupon id; validity from the coupon)."""
    rule = {k: v for k, v in coupon.rule.items() if k in RULE_FIELDS}
    rule["id"] = coupon.id
    rule["starts_at"] = coupon.valid_from.isoformat()
    if coupon.valid_until is not None:
        rule["expires_at"] = coupon.valid_until.isoformat()
    return rule


# Built once: every checkout and quote reads the customer's coupons.
_HELD = (
    select(cast(Table, Coupon.__table__))  # rows: pricing only reads them
    .where(
        owned(Coupon, bindparam("m")),
        Coupon.customer_id == bindparam("c"),
        Coupon.status == CouponStatus.AVAILABLE,
    )
    .order_by(Coupon.valid_until, Coupon.id)
)


def held(
    session: Session, *, merchant_id: str, customer_id: str, host_app: str | None, store_id: str | None
) -> list[Coupon]:
    """The customer's available coupons that may be used in this host app at this store: rows
    of the table, every column as an attribute, for reading (each checkout reads them)."""
    rows = session.connection().execute(*held_read(merchant_id, customer_id)).all()
    return held_from(rows, host_app=host_app, store_id=store_id)


def held_read(merchant_id: str, customer_id: str) -> tuple[Any, dict[str, Any]]:
    """The statement of :func:`held` and its values (to send with others)."""
    return _HELD, {"m": merchant_id, "c": customer_id}


def held_from(rows: Any, *, host_app: str | None, store_id: str | None) -> list[Coupon]:
    """:func:`held`'s answer from the rows of :func:`held_read`."""
    return [
        c
        for c in cast(list[Coupon], rows)
        if (not c.rule.get("host_apps") or host_app in c.rule["host_apps"])
        and (not c.rule.get("store_ids") or store_id in c.rule["store_ids"])
    ]


# Setting coupons aside for an order and using them when it is paid: statements built once.
# They run without synchronising the session; a coupon the session holds is given the values
# written (:func:`_sync_held`).
_LOCK = (
    update(Coupon)
    .where(
        owned(Coupon, bindparam("m")), Coupon.id == bindparam("c"), Coupon.status == CouponStatus.AVAILABLE
    )
    .values(status="locked", order_id=bindparam("o"), discount=bindparam("d"), order_amount=bindparam("a"))
    .execution_options(synchronize_session=False)
)
_LOCKED_FOR = select(
    Coupon.id, Coupon.template_id, Coupon.customer_id, Coupon.claimed_at, Coupon.discount
).where(
    owned(Coupon, bindparam("m")), Coupon.order_id == bindparam("o"), Coupon.status == CouponStatus.LOCKED
)
_USE = (
    update(Coupon)
    .where(
        owned(Coupon, bindparam("m")), Coupon.order_id == bindparam("o"), Coupon.status == CouponStatus.LOCKED
    )
    .values(status="used", used_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def _sync_held(session: Session, merchant_id: str, coupon_ids: Any, **values: Any) -> None:
    """What an UPDATE wrote, onto the coupons the session holds (as its own synchronising would)."""
    for coupon_id in coupon_ids:
        held = session.identity_map.get((Coupon, (merchant_id, coupon_id), None))
        if held is not None:
            for key, value in values.items():
                set_committed_value(held, key, value)


def lock(
    session: Session, *, merchant_id: str, order_id: str, order_amount: int, discounts: dict[str, int]
) -> None:
    """The order's coupons are set aside until it is paid or cancelled (on PostgreSQL with the
    order's other writes, :mod:`shoplet.pipelined`: one used elsewhere raises before COMMIT)."""
    for coupon_id, discount in sorted(discounts.items()):
        params = {"m": merchant_id, "c": coupon_id, "o": order_id, "d": discount, "a": order_amount}
        pipelined.later(session, _LOCK, params, check=_locked)
        _sync_held(
            session,
            merchant_id,
            [coupon_id],
            status="locked",
            order_id=order_id,
            discount=discount,
            order_amount=order_amount,
        )


def _locked(rowcount: int) -> None:
    if rowcount != 1:
        raise Conflict(
            "coupon.not_available", "One of the coupons was just used elsewhere; please try again."
        )


def use_for_order(
    session: Session, *, merchant_id: str, order_id: str, now: datetime, store_id: str | None = None
) -> int:
    """The order was paid: the coupons set aside for it are used."""
    held = session.execute(_LOCKED_FOR, {"m": merchant_id, "o": order_id}).all()
    used = changed(session.execute(_USE, {"m": merchant_id, "o": order_id, "now": now}))
    _sync_held(session, merchant_id, [row[0] for row in held], status="used", used_at=now)
    events.record_many(
        session,
        merchant_id,
        [
            Fact(
                kind=EventKind.COUPON_USED,
                occurred_at=now,
                # a coupon returned by a refund may be used again, on another order
                id=f"{EventKind.COUPON_USED}:{coupon_id}:{order_id}",
                customer_id=customer_id,
                store_id=store_id,
                subject_id=coupon_id,
                ref=template_id,
                benefit=discount,
                subject_at=claimed_at,
            )
            for coupon_id, template_id, customer_id, claimed_at, discount in held
        ],
    )
    return used


def release_for_order(session: Session, *, merchant_id: str, order_id: str) -> int:
    """An unpaid order was cancelled: its coupons can be used again."""
    return changed(
        session.execute(
            update(Coupon)
            .where(
                owned(Coupon, merchant_id), Coupon.order_id == order_id, Coupon.status == CouponStatus.LOCKED
            )
            .values(status="available", order_id=None, discount=0, order_amount=0)
        )
    )


def return_for_order(session: Session, *, merchant_id: str, order_id: str, now: datetime) -> int:
    """The whole order was refunded: coupons still within their validity come back."""
    return changed(
        session.execute(
            update(Coupon)
            .where(
                owned(Coupon, merchant_id),
                Coupon.order_id == order_id,
                Coupon.status == CouponStatus.USED,
                (Coupon.valid_until.is_(None)) | (Coupon.valid_until > now),
            )
            .values(status="available", order_id=None, used_at=None, discount=0, order_amount=0)
        )
    )


def find_by_code(session: Session, merchant_id: str, text: str) -> Coupon:
    code = normalise(text)
    if code is None:
        raise Unprocessable("coupon.code_invalid", "That code is not valid; check it for typos.")
    coupon = session.scalar(select(Coupon).where(owned(Coupon, merchant_id), Coupon.code == code))
    if coupon is None:
        raise NotFound("coupon.not_found", "No coupon has this code.")
    return coupon


def refusal(coupon: Coupon, store_id: str, now: datetime) -> Conflict | Unprocessable | None:
    """Why this coupon cannot be verified at this store now (None: it can)."""
    if coupon.status == CouponStatus.USED:
        return Conflict("coupon.already_used", "This coupon has already been used.")
    if coupon.status == CouponStatus.LOCKED:
        return Conflict("coupon.in_use", "This coupon is set aside for an unpaid online order.")
    if coupon.status == CouponStatus.EXPIRED or (
        coupon.valid_until is not None and now >= coupon.valid_until
    ):
        return Unprocessable("coupon.expired", "This coupon has expired.")
    if now < coupon.valid_from:
        return Unprocessable("coupon.not_yet_valid", "This coupon cannot be used yet.")
    if coupon.rule.get("store_ids") and store_id not in coupon.rule["store_ids"]:
        return Unprocessable("coupon.wrong_store", "This coupon cannot be used at this store.")
    return None


def verify(
    session: Session, *, merchant_id: str, code: str, store_id: str, staff_id: str | None, now: datetime
) -> Coupon:
    """A clerk verifies a code at their store: it is used there, once."""
    coupon = find_by_code(session, merchant_id, code)
    refused = refusal(coupon, store_id, now)
    if refused is not None:
        raise refused
    won = changed(
        session.execute(
            update(Coupon)
            .where(
                owned(Coupon, merchant_id), Coupon.id == coupon.id, Coupon.status == CouponStatus.AVAILABLE
            )
            .values(status="used", used_at=now, verified_store_id=store_id, verified_by=staff_id)
        )
    )
    if not won:
        raise Conflict("coupon.already_used", "This coupon has already been used.")
    session.refresh(coupon)
    events.record(
        session,
        merchant_id,
        EventKind.COUPON_VERIFIED,
        now,
        # a reversed verification may be verified again later: each is its own event
        id=f"{EventKind.COUPON_VERIFIED}:{coupon.id}:{now.isoformat()}",
        customer_id=coupon.customer_id,
        store_id=store_id,
        guide_id=None,
        subject_id=coupon.id,
        ref=coupon.template_id,
        subject_at=coupon.claimed_at,
    )
    return coupon


def reverse(
    session: Session, *, merchant_id: str, coupon_id: str, now: datetime, window: timedelta
) -> Coupon:
    """An admin undoes a mistaken in-store verification, within the window."""
    coupon = get_owned(session, Coupon, merchant_id, coupon_id, what="Coupon")
    if coupon.status != CouponStatus.USED or coupon.verified_store_id is None:
        raise Conflict(
            "coupon.not_verified", "Only a coupon verified in store can have its verification reversed."
        )
    if coupon.used_at is None or now - coupon.used_at > window:
        raise Conflict(
            "coupon.reversal_window_passed",
            f"Verifications can be reversed for {int(window.total_seconds() // 3600)} hours only.",
        )
    session.execute(
        update(Coupon)
        .where(owned(Coupon, merchant_id), Coupon.id == coupon_id, Coupon.status == CouponStatus.USED)
        .values(status="available", used_at=None, verified_store_id=None, verified_by=None)
    )
    session.refresh(coupon)
    return coupon


def expire(session: Session, *, now: datetime) -> int:
    """Lifecycle sweep: available coupons past their validity become expired."""
    due = [
        Coupon.status == CouponStatus.AVAILABLE,
        Coupon.valid_until.is_not(None),
        Coupon.valid_until <= now,
    ]
    rows = session.execute(
        select(
            Coupon.merchant_id, Coupon.id, Coupon.template_id, Coupon.customer_id, Coupon.claimed_at
        ).where(*due)
    ).all()
    expired = 0
    for merchant_id, coupon_id, template_id, customer_id, claimed_at in rows:
        if changed(
            session.execute(
                update(Coupon)
                .where(owned(Coupon, merchant_id), Coupon.id == coupon_id, *due)
                .values(status="expired")
            )
        ):
            expired += 1
            events.record(
                session,
                merchant_id,
                EventKind.COUPON_EXPIRED,
                now,
                customer_id=customer_id,
                subject_id=coupon_id,
                ref=template_id,
                subject_at=claimed_at,
            )
    return expired


EXPIRING_TOPIC = "coupon.expiring"
"""Outbox topic: a coupon expires in 3 days ({merchant_id, coupon_id, customer_id, valid_until})."""


def remind(session: Session, *, now: datetime, days: int = 3, limit: int = 1000) -> int:
    """Queue one "expires in 3 days" reminder per coupon, for messaging to deliver."""
    due = list(
        session.scalars(
            select(Coupon)
            .where(
                Coupon.status == CouponStatus.AVAILABLE,
                Coupon.reminded_at.is_(None),
                Coupon.valid_until.is_not(None),
                Coupon.valid_until > now,
                Coupon.valid_until <= now + timedelta(days=days),
            )
            .limit(limit)
        )
    )
    for coupon in due:
        marked = changed(
            session.execute(
                update(Coupon)
                .where(
                    owned(Coupon, coupon.merchant_id), Coupon.id == coupon.id, Coupon.reminded_at.is_(None)
                )
                .values(reminded_at=now)
            )
        )
        if marked:
            emit(
                session,
                merchant_id=coupon.merchant_id,
                topic=EXPIRING_TOPIC,
                now=now,
                payload={
                    "merchant_id": coupon.merchant_id,
                    "coupon_id": coupon.id,
                    "customer_id": coupon.customer_id,
                    "valid_until": coupon.valid_until.isoformat() if coupon.valid_until else None,
                },
            )
    return len(due)


def figures(session: Session, *, merchant_id: str, template_id: str) -> FiguresOut:
    """A template's figures: issued, claimed, used, use rate (核销率), GMV of orders using it, discount cost."""
    template = get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    return figures_of(session, merchant_id=merchant_id, templates=[template])[0]


def figures_of(session: Session, *, merchant_id: str, templates: list[CouponTemplate]) -> list[FiguresOut]:
    """The figures of several templates in one statement (the console's template list)."""
    ids = [t.id for t in templates]
    used = Coupon.status == CouponStatus.USED
    rows = {
        row.template_id: row
        for row in session.execute(
            select(
                Coupon.template_id,
                func.count().filter(Coupon.source.in_(("claim", "code"))).label("claimed"),
                func.count().filter(used).label("used"),
                func.coalesce(func.sum(Coupon.discount).filter(used), 0).label("cost"),
                func.coalesce(func.sum(Coupon.order_amount).filter(used), 0).label("gmv"),
                func.count().filter(used, Coupon.verified_store_id.is_not(None)).label("in_store"),
            )
            .where(owned(Coupon, merchant_id), Coupon.template_id.in_(ids))
            .group_by(Coupon.template_id)
        )
    }
    out = []
    for template in templates:
        row = rows.get(template.id)
        issued, n_used = template.issued_count, int(row.used) if row else 0
        out.append(
            FiguresOut(
                template_id=template.id,
                issued=issued,
                claimed=int(row.claimed) if row else 0,
                used=n_used,
                use_rate=round(n_used / issued, 4) if issued else 0.0,
                gmv=int(row.gmv) if row else 0,
                discount_cost=int(row.cost) if row else 0,
                verified_in_store=int(row.in_store) if row else 0,
            )
        )
    return out
