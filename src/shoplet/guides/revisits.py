"""Revisit reminders: a guide is reminded of their customers not seen for the
merchant's ``revisit_days`` — no attributed order and no recorded visit since."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from shoplet.customers.models import Customer
from shoplet.db import new_id
from shoplet.guides.models import Commission, GuideBinding, GuideVisit
from shoplet.guides.schemas import ReminderOut
from shoplet.guides.service import own_customer, policy_of
from shoplet.scoping import owned, same_tenant


def record_visit(
    session: Session, *, merchant_id: str, guide_id: str, customer_id: str, note: str, now: datetime
) -> GuideVisit:
    """A guide contacted one of their own customers (silences the revisit reminder)."""
    own_customer(session, merchant_id=merchant_id, guide_id=guide_id, customer_id=customer_id)
    visit = GuideVisit(
        merchant_id=merchant_id,
        id=new_id("vis"),
        guide_id=guide_id,
        customer_id=customer_id,
        note=note,
        at=now,
    )
    session.add(visit)
    session.flush()
    return visit


def reminders(
    session: Session, *, merchant_id: str, guide_id: str, now: datetime, limit: int = 100
) -> list[ReminderOut]:
    """The guide's customers not seen for the merchant's ``revisit_days`` — no attributed
    order and no recorded visit since — longest unseen first."""
    days = policy_of(session, merchant_id).revisit_days
    last_order = (
        select(Commission.customer_id, func.max(Commission.created_at).label("at"))
        .where(owned(Commission, merchant_id), Commission.guide_id == guide_id)
        .group_by(Commission.customer_id)
        .subquery()
    )
    last_visit = (
        select(GuideVisit.customer_id, func.max(GuideVisit.at).label("at"))
        .where(owned(GuideVisit, merchant_id), GuideVisit.guide_id == guide_id)
        .group_by(GuideVisit.customer_id)
        .subquery()
    )
    cutoff = now - timedelta(days=days)
    rows = session.execute(
        select(
            GuideBinding.customer_id, Customer.name, GuideBinding.bound_at, last_order.c.at, last_visit.c.at
        )
        .join(
            Customer,
            and_(same_tenant(Customer, GuideBinding), Customer.id == GuideBinding.customer_id),
        )
        .outerjoin(last_order, last_order.c.customer_id == GuideBinding.customer_id)
        .outerjoin(last_visit, last_visit.c.customer_id == GuideBinding.customer_id)
        .where(
            owned(GuideBinding, merchant_id),
            GuideBinding.guide_id == guide_id,
            GuideBinding.bound_at <= cutoff,
            or_(last_order.c.at.is_(None), last_order.c.at <= cutoff),
            or_(last_visit.c.at.is_(None), last_visit.c.at <= cutoff),
        )
    ).all()
    found = []
    for customer_id, name, bound_at, ordered_at, visited_at in rows:
        seen = max(t for t in (bound_at, ordered_at, visited_at) if t is not None)
        found.append(
            ReminderOut(
                customer_id=customer_id,
                name=name,
                last_order_at=ordered_at,
                last_visit_at=visited_at,
                last_seen_at=seen,
                days_unseen=(now - seen).days,
            )
        )
    found.sort(key=lambda r: (r.last_seen_at, r.customer_id))
    return found[:limit]
