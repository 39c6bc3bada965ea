"""Claiming coupons (领券): a customer's claim by every path — through the Redis gate for
templates with a stock when it is configured, read-first otherwise, and in one transaction
under an Idempotency-Key — and the gate's reconciliation with the database.

Whatever the path, :func:`shoplet.coupons.service.issue` writes the coupon with every
condition (status, stock, budget, the customer's limits) checked in SQL: the gate and the
reads before it only answer refusals early.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shoplet import idempotency, pipelined
from shoplet.coupons.gate import RedisGate
from shoplet.coupons.models import Coupon, CouponClaimCount, CouponTemplate
from shoplet.coupons.schemas import CouponOut
from shoplet.coupons.service import (
    audience_refusal,
    cached_zone,
    claim,
    claimable_refusal,
    issue,
    local_day,
    stock_refusal,
)
from shoplet.coupons.views import coupon_out
from shoplet.db import Database
from shoplet.errors import Conflict, Forbidden, NotFound
from shoplet.lifecycle import Lifecycle
from shoplet.scoping import get_owned, owned

GATE_REFUSALS = {
    -1: ("coupon.sold_out", "All of these coupons have been claimed."),
    -2: ("coupon.limit_reached", "You have reached the limit for this coupon."),
    -3: ("coupon.daily_limit_reached", "You have reached today's limit for this coupon."),
}


_FLASH_CACHE: dict[tuple[str, str], tuple[float, CouponTemplate]] = {}
FLASH_CACHE_SECONDS = 1.0


def flash_template(db, merchant_id: str, template_id: str) -> CouponTemplate:
    """The template for a gated claim, read from the database at most once a second per
    process: under a flash claim thousands of requests a second ask for the same row. A
    stale copy is harmless — status, stock and budget are re-checked in SQL by the write,
    and only the claim window, the audience and a stock or budget the merchant raises can
    lag an edit by up to a second."""
    key = (merchant_id, template_id)
    hit = _FLASH_CACHE.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    with db.unit_of_work(write=False) as session:
        template = get_owned(session, CouponTemplate, merchant_id, template_id, what="Coupon", code="coupon")
    if len(_FLASH_CACHE) > 10_000:
        _FLASH_CACHE.clear()
    _FLASH_CACHE[key] = (time.monotonic() + FLASH_CACHE_SECONDS, template)
    return template


_TEMPLATE_ROW = select(CouponTemplate.__table__).where(
    owned(CouponTemplate, bindparam("m")), CouponTemplate.id == bindparam("t")
)


def fresh_template(db: Database, merchant_id: str, template_id: str) -> CouponTemplate:
    """The template as it is now, read with one statement outside any transaction (no
    Session; on SQLite no BEGIN, and no writer lock): a detached copy for a claim to check and
    to issue from (the write re-checks status, stock and budget in SQL)."""
    with db.read_once() as connection:
        found = pipelined.execute(connection, _TEMPLATE_ROW, {"m": merchant_id, "t": template_id})
    if not found:
        raise NotFound.of("Coupon", "coupon")
    return CouponTemplate(**found[0]._mapping)


def claim_for_customer(
    db: Database,
    gate: RedisGate | None,
    *,
    merchant_id: str,
    customer_id: str,
    scope: str,
    template_id: str,
    idempotency_key: str | None,
    now: datetime,
) -> CouponOut:
    """A customer's claim, one entry point for every path. With the Redis gate configured, a
    template with a stock is claimed through the gate (refusals answered by Redis, the
    database still the record); otherwise the template is read first and a claim it would
    refuse (not claimable, sold out, over budget) is answered from that read, the rest
    written in one transaction; under an Idempotency-Key, read and written in one
    transaction whose response a retry with the same key gets back."""
    if gate is not None and idempotency_key is None:
        template = flash_template(db, merchant_id, template_id)
        if template.total_stock is not None:
            return coupon_out(
                claim_through_gate(db, gate, template=template, customer_id=customer_id, now=now)
            )

    if idempotency_key is None:
        # Most claims in a rush are refused (sold out): read first, and answer those without
        # taking the writer's place (SQLite has one writer; PostgreSQL's hot row one lock).
        # The refusal stands as of that read; a claim that may go through is written with
        # every condition checked again in SQL. Sold out is answered before a customer's own
        # limit, as the gate answers it.
        template = fresh_template(db, merchant_id, template_id)
        refusal = claimable_refusal(template, now) or stock_refusal(template)
        if refusal is not None:
            raise refusal
        with db.unit_of_work() as session:
            return coupon_out(
                issue(session, template=template, customer_id=customer_id, source="claim", now=now)
            )

    def work(session: Session) -> tuple[int, dict[str, Any]]:
        coupon = claim(
            session, merchant_id=merchant_id, template_id=template_id, customer_id=customer_id, now=now
        )
        return 201, coupon_out(coupon).model_dump(mode="json")

    _, stored = idempotency.run(
        db,
        merchant_id=merchant_id,
        scope=scope,
        key=idempotency_key,
        operation="claim",
        payload={"template_id": template_id},
        work=work,
    )
    return CouponOut.model_validate(stored)


def claim_through_gate(db, gate, *, template: CouponTemplate, customer_id: str, now: datetime) -> Coupon:
    """A claim that asks the Redis gate first (templates with a stock only); the database
    transaction remains the record, and a refusal there gives the slot back. ``template`` is
    the caller's fresh read; the write below re-checks everything that matters in SQL."""
    merchant_id, template_id = template.merchant_id, template.id
    # Sold out in the database is sold out (issued coupons never go back to stock): a rush's
    # late refusals are answered without asking Redis.
    refusal = claimable_refusal(template, now) or stock_refusal(template)
    if refusal is not None:
        raise refusal
    everyone = (template.audience or {}).get("kind", "everyone") == "everyone"
    zone = cached_zone(merchant_id)
    if everyone and zone is not None:  # the common flash case: nothing to read
        day = now.astimezone(zone).date().isoformat()
    else:
        with db.unit_of_work(write=False) as session:
            reason = audience_refusal(session, template, customer_id, now)
            if reason:
                raise Forbidden("coupon.not_eligible", reason)
            day = local_day(session, merchant_id, now)

    def prime() -> tuple[int, int, int]:
        with db.unit_of_work(write=False) as session:
            fresh = session.get(CouponTemplate, (merchant_id, template_id))
            counts = {
                row.period: row.claimed
                for row in session.scalars(
                    select(CouponClaimCount).where(
                        owned(CouponClaimCount, merchant_id),
                        CouponClaimCount.template_id == template_id,
                        CouponClaimCount.customer_id == customer_id,
                        CouponClaimCount.period.in_(("all", day)),
                    )
                )
            }
            return fresh.total_stock - fresh.issued_count, counts.get("all", 0), counts.get(day, 0)

    code, slot = gate.take(
        merchant_id=merchant_id,
        template_id=template_id,
        customer_id=customer_id,
        day=day,
        total_limit=template.per_customer_limit,
        day_limit=template.per_day_limit,
        prime=prime,
    )
    if slot is None:
        raise Conflict(*GATE_REFUSALS[code])
    try:
        with db.unit_of_work() as session:
            return issue(session, template=template, customer_id=customer_id, source="claim", now=now)
    except BaseException:
        gate.give_back(slot)
        raise


def reconcile_gate(db, gate) -> int:
    """Re-prime the gate's stock keys from the database for every active template with a stock."""
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(
                CouponTemplate.merchant_id,
                CouponTemplate.id,
                CouponTemplate.total_stock,
                CouponTemplate.issued_count,
            ).where(CouponTemplate.status == Lifecycle.ACTIVE, CouponTemplate.total_stock.is_not(None))
        ).all()
    for merchant_id, template_id, stock, issued in rows:
        gate.reconcile(merchant_id, template_id, stock - issued)
    return len(rows)
