"""Other ways to issue coupons: batches of unique codes, and event rules."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet.coupons import service
from shoplet.coupons.codes import display, new_code, normalise
from shoplet.coupons.models import (
    Coupon,
    CouponCode,
    CouponEventGrant,
    CouponEventRule,
    CouponIssueJob,
    CouponPackGrant,
    CouponTemplate,
    IssueJobStatus,
)
from shoplet.customers.models import Customer, Follower
from shoplet.db import changed, new_id
from shoplet.errors import Conflict, InvalidInput, ShopletError, Unprocessable
from shoplet.membership.models import LightMembership, LightStatus, Member
from shoplet.outbox import emit
from shoplet.scoping import get_owned, owned

MAX_BATCH = 100_000


def generate_codes(session: Session, *, merchant_id: str, template_id: str, count: int, now: datetime) -> str:
    """A batch of ``count`` unique, unguessable codes (60 random bits and a check symbol each)."""
    if not 1 <= count <= MAX_BATCH:
        raise InvalidInput("coupon.batch_size", f"A batch has 1 to {MAX_BATCH} codes.")
    get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    batch_id = new_id("ccb")
    table = cast(Table, CouponCode.__table__)
    for _ in range(3):
        codes = {new_code() for _ in range(count)}
        while len(codes) < count:
            codes.add(new_code())
        rows = [
            {
                "merchant_id": merchant_id,
                "code": code,
                "template_id": template_id,
                "batch_id": batch_id,
                "created_at": now,
                "redeemed_by": None,
                "redeemed_at": None,
                "coupon_id": None,
            }
            for code in codes
        ]
        try:
            with session.begin_nested():
                session.connection().execute(table.insert(), rows)
            return batch_id
        except IntegrityError:
            continue  # a 60-bit collision with an earlier batch: draw the batch again
    raise Conflict("coupon.codes_busy", "Could not generate unique codes; try again.")


def export_codes(session: Session, *, merchant_id: str, template_id: str, batch_id: str | None) -> str:
    """The codes as CSV (code, batch, redeemed_at, coupon_id) for printing or distribution."""
    get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    stmt = select(CouponCode).where(owned(CouponCode, merchant_id), CouponCode.template_id == template_id)
    if batch_id:
        stmt = stmt.where(CouponCode.batch_id == batch_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "batch_id", "redeemed_at", "coupon_id"])
    for row in session.scalars(stmt.order_by(CouponCode.batch_id, CouponCode.code)):
        writer.writerow(
            [
                display(row.code),
                row.batch_id,
                row.redeemed_at.isoformat() if row.redeemed_at else "",
                row.coupon_id or "",
            ]
        )
    return out.getvalue()


def redeem_unique_code(
    session: Session, *, merchant_id: str, text: str, customer_id: str, now: datetime
) -> Coupon | None:
    """Redeem a code of a batch: once, for one coupon. None when ``text`` is not such a code."""
    code = normalise(text)
    if code is None:
        return None
    row = session.get(CouponCode, (merchant_id, code))
    if row is None:
        return None
    won = changed(
        session.execute(
            update(CouponCode)
            .where(owned(CouponCode, merchant_id), CouponCode.code == code, CouponCode.redeemed_by.is_(None))
            .values(redeemed_by=customer_id, redeemed_at=now)
        )
    )
    if not won:
        raise Conflict("coupon.code_used", "This code has already been used.")
    template = get_owned(session, CouponTemplate, merchant_id, row.template_id, what="Coupon", code="coupon")
    coupon = service.issue(session, template=template, customer_id=customer_id, source="bulk", now=now)
    session.execute(
        update(CouponCode)
        .where(owned(CouponCode, merchant_id), CouponCode.code == code)
        .values(coupon_id=coupon.id)
    )
    return coupon


def deactivate_rule(session: Session, *, merchant_id: str, rule_id: str) -> CouponEventRule:
    """Stop a rule issuing; coupons it issued stay."""
    rule = get_owned(
        session, CouponEventRule, merchant_id, rule_id, what="Coupon event rule", code="coupon_event_rule"
    )
    rule.active = False
    session.flush()
    return rule


def create_rule(
    session: Session,
    *,
    merchant_id: str,
    event: str,
    template_id: str,
    min_order_amount: int | None,
    now: datetime,
) -> CouponEventRule:
    get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    if event == "order_at_least" and not min_order_amount:
        raise InvalidInput("coupon.rule_needs_amount", "An 'order_at_least' rule needs 'min_order_amount'.")
    rule = CouponEventRule(
        merchant_id=merchant_id,
        id=new_id("cer"),
        event=event,
        template_id=template_id,
        min_order_amount=min_order_amount,
        active=True,
        created_at=now,
    )
    session.add(rule)
    session.flush()
    return rule


def _issue_once(
    session: Session, grant, template: CouponTemplate | None, *, customer_id: str, source: str, now: datetime
) -> str | None:
    """Record ``grant`` (its key makes it once) and issue one coupon of ``template`` for it.
    The coupon id, or None when the grant already existed or the coupon could not be issued
    (sold out, stopped, gone: the grant's outcome says which, and it is not retried)."""
    try:
        with session.begin_nested():
            session.add(grant)
            session.flush()
    except IntegrityError:
        return None  # already given for this key
    if template is None:
        grant.outcome = "coupon_template.not_found"
        return None
    try:
        with session.begin_nested():
            coupon = service.issue(
                session,
                template=template,
                customer_id=customer_id,
                source=source,
                now=now,
                check_audience=False,
            )
    except ShopletError as exc:
        grant.outcome = exc.code[:32]
        return None
    grant.coupon_id, grant.outcome = coupon.id, "issued"
    return coupon.id


_ACTIVE_RULES = (
    select(CouponEventRule)
    .where(
        owned(CouponEventRule, bindparam("m")),
        CouponEventRule.active.is_(True),
        CouponEventRule.event.in_(bindparam("events", expanding=True)),
    )
    .order_by(CouponEventRule.id)
)


def on_event(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    events: dict[str, str],
    order_amount: int | None,
    now: datetime,
) -> list[str]:
    """Fire the active rules for ``events`` ({event: event key}); each rule issues at most once
    per event key (a customer's joining, an order), however often this runs. A coupon that
    cannot be issued (sold out, stopped) is recorded as such and not retried."""
    rules = list(session.scalars(_ACTIVE_RULES, {"m": merchant_id, "events": list(events)}))
    issued = []
    for rule in rules:
        if rule.event == "order_at_least" and (order_amount or 0) < (rule.min_order_amount or 0):
            continue
        grant = CouponEventGrant(
            merchant_id=merchant_id,
            rule_id=rule.id,
            event_key=events[rule.event],
            customer_id=customer_id,
            outcome="pending",
            created_at=now,
        )
        coupon_id = _issue_once(
            session,
            grant,
            session.get(CouponTemplate, (merchant_id, rule.template_id)),
            customer_id=customer_id,
            source="event",
            now=now,
        )
        if coupon_id:
            issued.append(coupon_id)
    session.flush()
    return issued


def issue_pack(
    session: Session, *, merchant_id: str, customer_id: str, template_ids: list[str], key: str, now: datetime
) -> list[str]:
    """Issue a pack of coupons once per ``key`` (a tier reached, a light membership period).
    A template that cannot give (sold out, stopped, deleted) is recorded, not retried."""
    issued = []
    for template_id in dict.fromkeys(template_ids):
        grant = CouponPackGrant(
            merchant_id=merchant_id,
            pack_key=key,
            template_id=template_id,
            customer_id=customer_id,
            outcome="pending",
            created_at=now,
        )
        coupon_id = _issue_once(
            session,
            grant,
            session.get(CouponTemplate, (merchant_id, template_id)),
            customer_id=customer_id,
            source="pack",
            now=now,
        )
        if coupon_id:
            issued.append(coupon_id)
    session.flush()
    return issued


def claim_by_code(
    session: Session, *, merchant_id: str, code: str, customer_id: str, now: datetime
) -> Coupon:
    """Redeem a unique code from a batch, or a public discount code (优惠码) from marketing."""
    coupon = redeem_unique_code(session, merchant_id=merchant_id, text=code, customer_id=customer_id, now=now)
    if coupon is not None:
        return coupon
    template = session.scalar(
        select(CouponTemplate).where(
            owned(CouponTemplate, merchant_id), CouponTemplate.public_code == code.strip().upper()
        )
    )
    if template is None:
        raise Unprocessable("coupon.code_unknown", "That discount code is not valid.")
    return service.issue(session, template=template, customer_id=customer_id, source="code", now=now)


ISSUE_JOB_TOPIC = "coupon.issue_job"
CHUNK = 200


def _window(session: Session, merchant_id: str, segment: dict, cursor: str | None, limit: int | None):
    """The next customers (id, tags) after ``cursor`` that may be in the segment, by id."""
    stmt = select(Customer.id, Customer.tags).where(owned(Customer, merchant_id))
    if segment.get("kind") == "members":
        stmt = stmt.where(Customer.id.in_(select(Member.customer_id).where(owned(Member, merchant_id))))
    if segment.get("kind") == "light_members":
        stmt = stmt.where(
            Customer.id.in_(
                select(LightMembership.customer_id).where(
                    owned(LightMembership, merchant_id), LightMembership.status == LightStatus.ACTIVE
                )
            )
        )
    if segment.get("kind") == "followers":
        stmt = stmt.where(
            Customer.id.in_(
                select(Follower.customer_id).where(
                    owned(Follower, merchant_id), Follower.unfollowed_at.is_(None)
                )
            )
        )
    if cursor:
        stmt = stmt.where(Customer.id > cursor)
    return session.execute(stmt.order_by(Customer.id).limit(limit)).all()


def _in_segment(segment: dict, tags: list[str] | None) -> bool:
    """Tags live in a JSON list, so the tag test is made here rather than in SQL."""
    return segment.get("kind") != "tags" or bool(set(segment.get("tags") or []) & set(tags or []))


def start_issue_job(
    session: Session, *, merchant_id: str, template_id: str, segment: dict, now: datetime
) -> CouponIssueJob:
    """Queue issuing to a segment (everyone, members, or customers with any of some tags)."""
    get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    total = sum(
        1 for _, tags in _window(session, merchant_id, segment, None, None) if _in_segment(segment, tags)
    )
    job = CouponIssueJob(
        merchant_id=merchant_id,
        id=new_id("cij"),
        template_id=template_id,
        segment=segment,
        status="pending",
        total=total,
        processed=0,
        issued=0,
        skipped={},
        created_at=now,
    )
    session.add(job)
    session.flush()
    emit(
        session,
        merchant_id=merchant_id,
        topic=ISSUE_JOB_TOPIC,
        now=now,
        payload={"merchant_id": merchant_id, "job_id": job.id},
    )
    return job


def run_issue_job(
    db, *, merchant_id: str, job_id: str, now: datetime, max_chunks: int | None = None
) -> CouponIssueJob:
    """Work through the job a chunk per transaction; safe to stop and to run again."""
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        with db.unit_of_work() as session:
            job = get_owned(
                session, CouponIssueJob, merchant_id, job_id, what="Issue job", code="coupon_issue_job"
            )
            if job.status == IssueJobStatus.DONE:
                return job
            template = get_owned(
                session,
                CouponTemplate,
                merchant_id,
                job.template_id,
                what="Coupon template",
                code="coupon_template",
            )
            window = _window(session, merchant_id, job.segment, job.cursor, CHUNK)
            if not window:
                job.status, job.finished_at = "done", now
                return job
            skipped = dict(job.skipped)
            for customer_id, tags in window:
                if not _in_segment(job.segment, tags):
                    continue
                try:
                    with session.begin_nested():
                        service.issue(
                            session,
                            template=template,
                            customer_id=customer_id,
                            source="segment",
                            now=now,
                            check_audience=False,
                        )
                    job.issued += 1
                except ShopletError as exc:
                    skipped[exc.code] = skipped.get(exc.code, 0) + 1
                job.processed += 1
            job.skipped, job.cursor, job.status = skipped, window[-1][0], "running"
        chunks += 1
    with db.unit_of_work(write=False) as session:
        return get_owned(
            session, CouponIssueJob, merchant_id, job_id, what="Issue job", code="coupon_issue_job"
        )


def birthday_coupons(session: Session, *, now: datetime) -> int:
    """Fire the birthday rules for customers whose birthday is today in their merchant's time
    zone; the event key carries the year, so each birthday is celebrated once."""
    rules = session.scalars(
        select(CouponEventRule).where(CouponEventRule.event == "birthday", CouponEventRule.active.is_(True))
    )
    fired = 0
    for merchant_id in sorted({rule.merchant_id for rule in rules}):
        today = service.local_day(session, merchant_id, now)  # YYYY-MM-DD
        customers = session.scalars(
            select(Customer.id).where(owned(Customer, merchant_id), Customer.birthday == today[5:])
        )
        for customer_id in customers:
            fired += len(
                on_event(
                    session,
                    merchant_id=merchant_id,
                    customer_id=customer_id,
                    events={"birthday": f"birthday:{customer_id}:{today[:4]}"},
                    order_amount=None,
                    now=now,
                )
            )
    return fired
