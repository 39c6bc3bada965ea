"""Guide commissions and the guide's own figures.

A paid order of a customer bound to a guide gets one :class:`Commission` at payment: the
rate of the most specific rule (the guide's, the guide's store's, the merchant's) on the
goods paid. It stays frozen until the after-sale window closes (``after_sale_days`` after
the order is handed over), refunds reduce it proportionally (cumulative rounding, so a
full refund reverses exactly all of it), and the sweep then settles it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.db import changed, new_id
from shoplet.errors import NotFound
from shoplet.events import EventKind
from shoplet.guides.models import Commission, CommissionRule, CommissionStatus
from shoplet.guides.schemas import GuideFiguresOut
from shoplet.guides.service import guide_of, policy_of
from shoplet.inventory.models import LocationKind, StockLocation
from shoplet.scoping import get_owned, owned


def set_rule(
    session: Session, *, merchant_id: str, scope: str, target_id: str | None, rate_bp: int, now: datetime
) -> CommissionRule:
    """Set the merchant's default rate, a store's, or a guide's (basis points of goods paid)."""
    target = _target(session, merchant_id, scope, target_id)
    rule = session.get(CommissionRule, (merchant_id, scope, target))
    if rule is None:
        rule = CommissionRule(merchant_id=merchant_id, scope=scope, target_id=target)
        session.add(rule)
    rule.rate_bp, rule.updated_at = rate_bp, now
    session.flush()
    return rule


def delete_rule(session: Session, *, merchant_id: str, scope: str, target_id: str | None) -> None:
    rule = session.get(CommissionRule, (merchant_id, scope, _target(session, merchant_id, scope, target_id)))
    if rule is None:
        raise NotFound("commission.rule_not_found", "There is no such commission rule.")
    session.delete(rule)
    session.flush()


def _target(session: Session, merchant_id: str, scope: str, target_id: str | None) -> str:
    if scope == "merchant":
        return ""
    if not target_id:
        raise NotFound("commission.target_not_found", f"Say which {scope} the rule is for.")
    if scope == "store":
        location = get_owned(session, StockLocation, merchant_id, target_id, what="Store", code="store")
        if location.kind != LocationKind.STORE:
            raise NotFound("store.not_found", "No such store.")
    else:
        guide_of(session, merchant_id, target_id)
    return target_id


def rules(session: Session, merchant_id: str) -> list[CommissionRule]:
    return list(
        session.scalars(
            select(CommissionRule)
            .where(owned(CommissionRule, merchant_id))
            .order_by(CommissionRule.scope, CommissionRule.target_id)
        )
    )


def rate_for(session: Session, merchant_id: str, guide_id: str, store_id: str | None) -> int:
    found = {(r.scope, r.target_id): r.rate_bp for r in rules(session, merchant_id)}
    for key in (("guide", guide_id), ("store", store_id or ""), ("merchant", "")):
        if key in found:
            return found[key]
    return 0


def on_paid(
    session: Session,
    *,
    merchant_id: str,
    order_id: str,
    customer_id: str,
    guide_id: str | None,
    store_id: str | None,
    goods_paid: int,
    now: datetime,
) -> Commission | None:
    """Attribute a paid order to its guide: the commission is created once per order."""
    if guide_id is None:
        return None
    existing = session.scalar(
        select(Commission).where(owned(Commission, merchant_id), Commission.order_id == order_id)
    )
    if existing is not None:
        return existing
    rate = rate_for(session, merchant_id, guide_id, store_id)
    commission = Commission(
        merchant_id=merchant_id,
        id=new_id("com"),
        order_id=order_id,
        guide_id=guide_id,
        store_id=store_id,
        customer_id=customer_id,
        base=goods_paid,
        rate_bp=rate,
        amount=goods_paid * rate // 10_000,
        reversed_amount=0,
        refunded=0,
        status="frozen",
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(commission)
            session.flush()
    except IntegrityError:  # created concurrently (a replayed notification)
        return session.scalar(
            select(Commission).where(owned(Commission, merchant_id), Commission.order_id == order_id)
        )
    events.record(
        session,
        merchant_id,
        EventKind.COMMISSION_CREATED,
        now,
        customer_id=customer_id,
        store_id=store_id,
        guide_id=guide_id,
        subject_id=commission.id,
        ref=order_id,
        amount=commission.amount,
    )
    return commission


def on_refund(session: Session, *, merchant_id: str, order_id: str, goods_refunded: int) -> None:
    """The order's goods refunded so far are ``goods_refunded``: reverse that share of the
    commission (all of it when everything came back)."""
    commission = session.scalar(
        select(Commission).where(owned(Commission, merchant_id), Commission.order_id == order_id)
    )
    if commission is None:
        return
    refunded = min(goods_refunded, commission.base)
    reversed_amount = (
        commission.amount
        if refunded == commission.base
        else commission.amount * refunded // max(commission.base, 1)
    )
    values: dict[str, Any] = {"refunded": refunded, "reversed_amount": reversed_amount}
    if refunded == commission.base:
        values["status"] = case(
            (Commission.status == CommissionStatus.FROZEN, CommissionStatus.REVERSED), else_=Commission.status
        )
    session.execute(
        update(Commission)
        .where(
            owned(Commission, merchant_id),
            Commission.id == commission.id,
            Commission.refunded < refunded,
        )
        .values(**values)
    )
    session.flush()


def start_after_sale(session: Session, *, merchant_id: str, order_id: str, now: datetime) -> None:
    """The order was handed over: its commission settles when the after-sale window closes."""
    days = policy_of(session, merchant_id).after_sale_days
    session.execute(
        update(Commission)
        .where(
            owned(Commission, merchant_id),
            Commission.order_id == order_id,
            Commission.status == CommissionStatus.FROZEN,
            Commission.frozen_until.is_(None),
        )
        .values(frozen_until=now + timedelta(days=days))
    )


def settle_due(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Settle frozen commissions whose after-sale window has closed."""
    due = (
        select(
            Commission.merchant_id,
            Commission.id,
            Commission.guide_id,
            Commission.store_id,
            Commission.customer_id,
            Commission.amount - Commission.reversed_amount,
        )
        .where(Commission.status == CommissionStatus.FROZEN, Commission.frozen_until <= now)
        .limit(limit)
    )
    rows = session.execute(due).all()
    settled = 0
    for merchant_id, commission_id, guide_id, store_id, customer_id, amount in rows:
        won = changed(
            session.execute(
                update(Commission)
                .where(
                    owned(Commission, merchant_id),
                    Commission.id == commission_id,
                    Commission.status == CommissionStatus.FROZEN,
                )
                .values(status="settled", settled_at=now)
            )
        )
        if won:
            events.record(
                session,
                merchant_id,
                EventKind.COMMISSION_SETTLED,
                now,
                customer_id=customer_id,
                store_id=store_id,
                guide_id=guide_id,
                subject_id=commission_id,
                amount=amount,
            )
        settled += won
    return settled


def figures(
    session: Session,
    *,
    merchant_id: str,
    guide_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[GuideFiguresOut]:
    """Per guide (or one guide): attributed orders, goods sold and refunded, and commission
    frozen, settled (net of refunds) and reversed — for orders paid in [since, until)."""
    net = Commission.amount - Commission.reversed_amount
    stmt = (
        select(
            Commission.guide_id,
            func.count(),
            func.sum(Commission.base),
            func.sum(Commission.refunded),
            func.sum(case((Commission.status == CommissionStatus.FROZEN, net), else_=0)),
            func.sum(case((Commission.status == CommissionStatus.SETTLED, net), else_=0)),
            func.sum(Commission.reversed_amount),
        )
        .where(owned(Commission, merchant_id))
        .group_by(Commission.guide_id)
        .order_by(Commission.guide_id)
    )
    if guide_id is not None:
        stmt = stmt.where(Commission.guide_id == guide_id)
    if since is not None:
        stmt = stmt.where(Commission.created_at >= since)
    if until is not None:
        stmt = stmt.where(Commission.created_at < until)
    return [
        GuideFiguresOut(
            guide_id=g,
            orders=n,
            sales=sales or 0,
            refunded=refunded or 0,
            commission_frozen=frozen or 0,
            commission_settled=settled or 0,
            commission_reversed=reversed_ or 0,
        )
        for g, n, sales, refunded, frozen, settled, reversed_ in session.execute(stmt)
    ]


def guide_figures(
    session: Session, *, merchant_id: str, guide_id: str, since: datetime | None, until: datetime | None
) -> GuideFiguresOut:
    """One guide's figures; zeros when nothing was attributed to them in the period."""
    found = figures(session, merchant_id=merchant_id, guide_id=guide_id, since=since, until=until)
    if found:
        return found[0]
    return GuideFiguresOut(
        guide_id=guide_id,
        orders=0,
        sales=0,
        refunded=0,
        commission_frozen=0,
        commission_settled=0,
        commission_reversed=0,
    )
