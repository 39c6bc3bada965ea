"""Tiers by growth value: growth is earned from paid amounts and reversed on
refund (every movement a :class:`GrowthEntry`); the tier follows the growth, up or down,
and every change is a :class:`TierChange`. Reaching a tier with a coupon pack asks for the
pack once per tier, ever (dropping and climbing back does not pay it twice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput
from shoplet.events import EventKind
from shoplet.membership.models import GrowthEntry, Member, Tier, TierChange
from shoplet.membership.points import add_to_member, settings_of
from shoplet.membership.service import check_pack, emit_pack
from shoplet.scoping import get_owned, owned

BASE = "base"


_TIERS = select(Tier).where(owned(Tier, bindparam("m"))).order_by(Tier.threshold)


def tiers_of(session: Session, merchant_id: str) -> list[Tier]:
    return list(session.scalars(_TIERS, {"m": merchant_id}))


def create_tier(session: Session, *, merchant_id: str, fields: dict[str, Any], now: datetime) -> Tier:
    check_pack(session, merchant_id, fields.get("coupon_template_ids"), "tier.unknown_coupon")
    if fields["code"] == BASE and fields["threshold"] != 0:
        raise InvalidInput("tier.base_threshold", "The base tier starts at 0 growth.")
    if session.scalar(select(Tier.id).where(owned(Tier, merchant_id), Tier.code == fields["code"])):
        raise Conflict("tier.code_taken", f"There is already a tier '{fields['code']}'.")
    if session.scalar(select(Tier.id).where(owned(Tier, merchant_id), Tier.threshold == fields["threshold"])):
        raise Conflict("tier.threshold_taken", "Another tier starts at the same growth value.")
    tier = Tier(merchant_id=merchant_id, id=new_id("tir"), created_at=now, **fields)
    session.add(tier)
    session.flush()
    return tier


def update_tier(session: Session, *, merchant_id: str, tier_id: str, changes: dict[str, Any]) -> Tier:
    """Edit a tier's name and benefits (its code and threshold are its identity: members
    already placed by them would move silently)."""
    check_pack(session, merchant_id, changes.get("coupon_template_ids"), "tier.unknown_coupon")
    tier = get_owned(session, Tier, merchant_id, tier_id, what="Tier")
    for field, value in changes.items():
        if field in ("code", "threshold"):
            raise InvalidInput("tier.not_editable", f"'{field}' cannot be changed; create another tier.")
        setattr(tier, field, value)
    session.flush()
    return tier


def tier_for(tiers: list[Tier], growth: int) -> str:
    code = BASE
    for tier in tiers:  # by threshold, ascending
        if tier.threshold <= growth:
            code = tier.code
    return code


_TIER = select(Tier).where(owned(Tier, bindparam("m")), Tier.code == bindparam("code"))  # every checkout


def benefits_of(session: Session, merchant_id: str, tier_code: str) -> Tier | None:
    """The tier's row (None: the implicit base tier — member price, 1× points)."""
    return session.scalar(_TIER, {"m": merchant_id, "code": tier_code})


_ORDER_GROWTH = select(func.coalesce(func.sum(GrowthEntry.delta), 0)).where(
    owned(GrowthEntry, bindparam("m")),
    GrowthEntry.order_id == bindparam("o"),
    GrowthEntry.kind == bindparam("k"),
)
_INSERT_GROWTH = cast(Table, GrowthEntry.__table__).insert()


def _order_growth(session: Session, merchant_id: str, order_id: str, kind: str) -> int:
    return int(session.scalar(_ORDER_GROWTH, {"m": merchant_id, "o": order_id, "k": kind}) or 0)


# Growth moves unless it would fall below zero; the member comes back as the UPDATE left it.
_ADD_GROWTH = add_to_member(Member.growth).returning(Member).execution_options(populate_existing=True)


def _move(
    session: Session,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    kind: str,
    delta: int,
    reason: str,
    now: datetime,
) -> None:
    member = session.execute(_ADD_GROWTH, {"m": merchant_id, "c": customer_id, "d": delta}).scalar()
    if member is None:
        return
    growth = member.growth
    session.connection().execute(
        _INSERT_GROWTH,
        {
            "merchant_id": merchant_id,
            "id": new_id("gre"),
            "customer_id": customer_id,
            "order_id": order_id,
            "kind": kind,
            "delta": delta,
            "at": now,
        },
    )
    target = tier_for(tiers_of(session, merchant_id), growth)
    if target != member.tier:
        change_id = new_id("tch")
        if delta > 0:
            events.record(
                session,
                merchant_id,
                EventKind.TIER_REACHED,
                now,
                customer_id=customer_id,
                subject_id=change_id,
                ref=target,
            )
        session.add(
            TierChange(
                merchant_id=merchant_id,
                id=change_id,
                customer_id=customer_id,
                from_tier=member.tier,
                to_tier=target,
                growth=growth,
                reason=reason,
                at=now,
            )
        )
        member.tier = target
        tier = benefits_of(session, merchant_id, target)
        if tier is not None and delta > 0:
            emit_pack(
                session,
                merchant_id=merchant_id,
                customer_id=customer_id,
                template_ids=tier.coupon_template_ids,
                key=f"tier:{customer_id}:{target}",
                now=now,
            )
    session.flush()


def earn_for_order(
    session: Session, *, merchant_id: str, customer_id: str, order_id: str, paid: int, now: datetime
) -> None:
    if _order_growth(session, merchant_id, order_id, "earn"):
        return
    delta = (paid // 100) * settings_of(session, merchant_id).growth_per_yuan
    if delta > 0:
        _move(session, merchant_id, customer_id, order_id, "earn", delta, "order_paid", now)


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
    earned = _order_growth(session, merchant_id, order_id, "earn")
    if not earned or paid <= 0:
        return
    target = earned if full else earned * min(refunded, paid) // paid
    done = -_order_growth(session, merchant_id, order_id, "reverse")
    if target > done:
        _move(session, merchant_id, customer_id, order_id, "reverse", -(target - done), "order_refunded", now)
