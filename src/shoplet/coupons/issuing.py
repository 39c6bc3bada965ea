"""Other ways to issue coupons (C2): batches of unique codes, and event rules."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet.coupons import service
from shoplet.coupons.codes import display, new_code, normalise
from shoplet.coupons.models import Coupon, CouponCode, CouponEventGrant, CouponEventRule, CouponTemplate
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput, ShopletError, Unprocessable
from shoplet.scoping import get_owned

MAX_BATCH = 100_000


def generate_codes(session: Session, *, merchant_id: str, template_id: str, count: int, now: datetime) -> str:
    """A batch of ``count`` unique, unguessable codes (60 random bits and a check symbol each)."""
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput("coupon.batch_size", f"A batch has 1 to {MAX_BATCH} codes.")
    get_owned(session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template")
    batch_id = new_id("ccb")
    table = CouponCode.__table__
    for _ in range(3):
        codes = {new_code() for _ in range(count)}
        while len(codes) < count:
            codes.add(new_code())
        rows = [{"merchant_id": merchant_id, "code": code, "template_id": template_id, "batch_id": batch_id,
                 "created_at": now, "redeemed_by": None, "redeemed_at": None, "coupon_id": None} for code in codes]
        try:
            with session.begin_nested():
                session.connection().execute(table.insert(), rows)
            return batch_id
        except IntegrityError:
            continue  # a 60-bit collision with an earlier batch: draw the batch again
    raise Conflict("coupon.codes_busy", "Could not generate unique codes; try again.")


def export_codes(session: Session, *, merchant_id: str, template_id: str, batch_id: str | None) -> str:
    """The codes as CSV (code, batch, redeemed_at, coupon_id) for printing or distribution."""
    get_owned(session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template")
    stmt = select(CouponCode).where(CouponCode.merchant_id == merchant_id, CouponCode.template_id == template_id)
    if batch_id:
        stmt = stmt.where(CouponCode.batch_id == batch_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "batch_id", "redeemed_at", "coupon_id"])
    for row in session.scalars(stmt.order_by(CouponCode.batch_id, CouponCode.code)):
        writer.writerow([display(row.code), row.batch_id, row.redeemed_at.isoformat() if row.redeemed_at else "",
                         row.coupon_id or ""])
    return out.getvalue()


def redeem_unique_code(session: Session, *, merchant_id: str, text: str, customer_id: str,
                       now: datetime) -> Coupon | None:
    """Redeem a code of a batch: once, for one coupon. None when ``text`` is not such a code."""
    code = normalise(text)
    if code is None:
        return None
    row = session.get(CouponCode, (merchant_id, code))
    if row is None:
        return None
    won = session.execute(
        update(CouponCode).where(CouponCode.merchant_id == merchant_id, CouponCode.code == code,
                                 CouponCode.redeemed_by.is_(None))
        .values(redeemed_by=customer_id, redeemed_at=now)
    ).rowcount
    if not won:
        raise Conflict("coupon.code_used", "This code has already been used.")
    template = get_owned(session, CouponTemplate, merchant_id, row.template_id, what="Coupon", code="coupon")
    coupon = service.issue(session, template=template, customer_id=customer_id, source="bulk", now=now)
    session.execute(update(CouponCode).where(CouponCode.merchant_id == merchant_id, CouponCode.code == code)
                    .values(coupon_id=coupon.id))
    return coupon


def create_rule(session: Session, *, merchant_id: str, event: str, template_id: str,
                min_order_amount: int | None, now: datetime) -> CouponEventRule:
    get_owned(session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template")
    if event == "order_at_least" and not min_order_amount:
        raise InvalidInput("coupon.rule_needs_amount", "An 'order_at_least' rule needs 'min_order_amount'.")
    rule = CouponEventRule(merchant_id=merchant_id, id=new_id("cer"), event=event, template_id=template_id,
                           min_order_amount=min_order_amount, active=True, created_at=now)
    session.add(rule)
    session.flush()
    return rule


def on_event(session: Session, *, merchant_id: str, customer_id: str, events: dict[str, str],
             order_amount: int | None, now: datetime) -> list[str]:
    """Fire the active rules for ``events`` ({event: event key}); each rule issues at most once
    per event key (a customer's joining, an order), however often this runs. A coupon that
    cannot be issued (sold out, stopped) is recorded as such and not retried."""
    rules = list(session.scalars(select(CouponEventRule).where(
        CouponEventRule.merchant_id == merchant_id, CouponEventRule.active.is_(True),
        CouponEventRule.event.in_(list(events))).order_by(CouponEventRule.id)))
    issued = []
    for rule in rules:
        if rule.event == "order_at_least" and (order_amount or 0) < (rule.min_order_amount or 0):
            continue
        key = events[rule.event]
        try:
            with session.begin_nested():
                session.add(CouponEventGrant(merchant_id=merchant_id, rule_id=rule.id, event_key=key,
                                             customer_id=customer_id, outcome="pending", created_at=now))
                session.flush()
        except IntegrityError:
            continue  # this rule already fired for this event
        grant = session.get(CouponEventGrant, (merchant_id, rule.id, key))
        template = session.get(CouponTemplate, (merchant_id, rule.template_id))
        try:
            with session.begin_nested():
                coupon = service.issue(session, template=template, customer_id=customer_id, source="event",
                                       now=now, check_audience=False)
            grant.coupon_id, grant.outcome = coupon.id, "issued"
            issued.append(coupon.id)
        except (ShopletError, Unprocessable) as exc:
            grant.outcome = exc.code[:32]
    session.flush()
    return issued


def claim_by_code(session: Session, *, merchant_id: str, code: str, customer_id: str, now: datetime) -> Coupon:
    """Redeem a unique code from a batch, or a public discount code (优惠码) from marketing."""
    coupon = redeem_unique_code(session, merchant_id=merchant_id, text=code, customer_id=customer_id, now=now)
    if coupon is not None:
        return coupon
    template = session.scalar(select(CouponTemplate).where(CouponTemplate.merchant_id == merchant_id,
                                                           CouponTemplate.public_code == code.strip().upper()))
    if template is None:
        raise Unprocessable("coupon.code_unknown", "That discount code is not valid.")
    return service.issue(session, template=template, customer_id=customer_id, source="code", now=now)
