"""Membership enrolment (paying is joining: the first paid order makes a member)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shoplet import references
from shoplet.db import insert_new
from shoplet.membership.models import Member
from shoplet.outbox import emit


def enrol_on_payment(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    order_id: str,
    host_app: str | None,
    scene: str | None,
    now: datetime,
) -> bool:
    """Enrol the customer as a base-tier member on their first paid order.

    Returns True when this call enrolled them. Idempotent: the primary key
    ``(merchant_id, customer_id)`` makes a second enrolment a no-op.
    """
    row = {
        "merchant_id": merchant_id,
        "customer_id": customer_id,
        "tier": "base",
        "host_app": host_app,
        "scene": scene,
        "first_order_id": order_id,
        "joined_at": now,
    }
    return insert_new(session, Member, [row]) == 1


PACK_TOPIC = "coupon.pack"


def check_pack(session: Session, merchant_id: str, template_ids: list[str] | None, code: str) -> None:
    """A coupon pack (of a tier or a light-membership plan) may only name this merchant's templates."""
    references.require(
        session, "coupon_template", merchant_id, template_ids or [], code=code, what="coupon template"
    )


def emit_pack(
    session: Session, *, merchant_id: str, customer_id: str, template_ids: list[str], key: str, now: datetime
) -> None:
    """Ask for a coupon pack (a tier reached, a light membership period begun). Coupons sit
    above membership, so the request goes through the outbox; ``key`` makes it once only."""
    if template_ids:
        emit(
            session,
            merchant_id=merchant_id,
            topic=PACK_TOPIC,
            now=now,
            payload={
                "merchant_id": merchant_id,
                "customer_id": customer_id,
                "template_ids": list(template_ids),
                "key": key,
            },
        )
