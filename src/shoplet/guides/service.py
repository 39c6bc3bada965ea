"""Guide bindings and guide coupon issuing.

A customer has at most one guide per merchant: the binding row's key is the customer, so
two concurrent first scans cannot both win. A re-binding is a conditional UPDATE on the
guide the caller saw, so two concurrent take-overs cannot both win either.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.coupons import service as coupons
from shoplet.coupons.models import Coupon, CouponTemplate
from shoplet.customers.models import Customer
from shoplet.db import changed, new_id
from shoplet.errors import Conflict, Forbidden, NotFound, Unprocessable
from shoplet.events import EventKind
from shoplet.guides.models import (
    GuideBinding,
    GuideBindingChange,
    GuideCouponQuota,
    GuideGroupMember,
    GuidePolicy,
)
from shoplet.scoping import get_owned, owned, same_tenant
from shoplet.tenancy.models import Role, Staff


def policy_of(session: Session, merchant_id: str) -> GuidePolicy:
    """The merchant's binding policy; the defaults (30 days, then last touch) until one is set."""
    policy = session.get(GuidePolicy, merchant_id)
    if policy is None:
        policy = GuidePolicy(
            merchant_id=merchant_id,
            protection_days=30,
            after_protection="last_touch",
            after_sale_days=7,
            revisit_days=30,
            updated_at=None,
        )
    return policy


def set_policy(
    session: Session,
    *,
    merchant_id: str,
    protection_days: int,
    after_protection: str,
    now: datetime,
    after_sale_days: int = 7,
    revisit_days: int = 30,
) -> GuidePolicy:
    policy = session.get(GuidePolicy, merchant_id)
    if policy is None:
        policy = GuidePolicy(merchant_id=merchant_id)
        session.add(policy)
    policy.protection_days, policy.after_protection, policy.updated_at = (
        protection_days,
        after_protection,
        now,
    )
    policy.after_sale_days, policy.revisit_days = after_sale_days, revisit_days
    session.flush()
    return policy


def guide_of(session: Session, merchant_id: str, guide_id: str) -> Staff:
    """An active shopping guide of this merchant, or 404."""
    staff = session.get(Staff, (merchant_id, guide_id))
    if staff is None or staff.role != Role.GUIDE or not staff.active:
        raise NotFound("guide.not_found", "No such shopping guide.")
    return staff


def bind(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    guide_id: str,
    source: str,
    by: str,
    now: datetime,
    force: bool = False,
) -> GuideBinding:
    """Bind the customer to the guide under the merchant's policy; ``force`` (an admin's
    reassignment, e.g. when a guide leaves) ignores protection."""
    get_owned(session, Customer, merchant_id, customer_id, what="Customer")
    guide = guide_of(session, merchant_id, guide_id)
    policy = policy_of(session, merchant_id)
    protected_until = now + timedelta(days=policy.protection_days)
    current = session.get(GuideBinding, (merchant_id, customer_id))
    if current is None:
        try:
            with session.begin_nested():
                current = GuideBinding(
                    merchant_id=merchant_id,
                    customer_id=customer_id,
                    guide_id=guide.id,
                    store_id=guide.store_id,
                    source=source,
                    bound_at=now,
                    protected_until=protected_until,
                    first_bound_at=now,
                )
                session.add(current)
                session.flush()
            _record(session, merchant_id, customer_id, None, guide.id, source, by, now)
            return current
        except IntegrityError:  # someone else's first binding landed a moment earlier
            current = session.get_one(GuideBinding, (merchant_id, customer_id), populate_existing=True)
    if current.guide_id == guide.id:
        return current
    if not force:
        if now < current.protected_until:
            raise Conflict(
                "guide.binding_protected",
                f"This customer is bound to another guide until {current.protected_until:%Y-%m-%d}.",
                protected_until=current.protected_until.isoformat(),
            )
        if policy.after_protection == "first_touch":
            raise Conflict("guide.binding_kept", "This customer stays with the guide who served them first.")
    previous = current.guide_id
    moved = changed(
        session.execute(
            update(GuideBinding)
            .where(
                owned(GuideBinding, merchant_id),
                GuideBinding.customer_id == customer_id,
                GuideBinding.guide_id == previous,
            )
            .values(
                guide_id=guide.id,
                store_id=guide.store_id,
                source=source,
                bound_at=now,
                protected_until=protected_until,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if not moved:
        raise Conflict("guide.binding_changed", "The customer's guide changed a moment ago; look again.")
    # Groups are the old guide's own: the customer leaves them.
    session.execute(
        delete(GuideGroupMember).where(
            owned(GuideGroupMember, merchant_id), GuideGroupMember.customer_id == customer_id
        )
    )
    _record(session, merchant_id, customer_id, previous, guide.id, source, by, now)
    return session.get_one(GuideBinding, (merchant_id, customer_id), populate_existing=True)


def _record(
    session: Session,
    merchant_id: str,
    customer_id: str,
    previous: str | None,
    guide_id: str,
    source: str,
    by: str,
    now: datetime,
) -> None:
    change_id = new_id("gbc")
    store_id = session.get_one(Staff, (merchant_id, guide_id)).store_id
    events.record(
        session,
        merchant_id,
        EventKind.GUIDE_BOUND,
        now,
        customer_id=customer_id,
        store_id=store_id,
        guide_id=guide_id,
        subject_id=change_id,
        ref=source[:64],
    )
    session.add(
        GuideBindingChange(
            merchant_id=merchant_id,
            id=change_id,
            customer_id=customer_id,
            from_guide_id=previous,
            to_guide_id=guide_id,
            source=source,
            by=by,
            at=now,
        )
    )
    session.flush()


def binding_of(session: Session, merchant_id: str, customer_id: str) -> GuideBinding | None:
    return session.get(GuideBinding, (merchant_id, customer_id))


def own_customer(session: Session, *, merchant_id: str, guide_id: str, customer_id: str) -> GuideBinding:
    """The binding of one of the guide's own customers; anyone else's customer is a 404."""
    binding = session.get(GuideBinding, (merchant_id, customer_id))
    if binding is None or binding.guide_id != guide_id:
        raise NotFound.of("Customer")
    return binding


def set_quota(
    session: Session, *, merchant_id: str, template_id: str, guide_id: str, quota: int, now: datetime
) -> GuideCouponQuota:
    """Give a guide a quota of a template (setting it again changes it; never below what was issued)."""
    get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    guide_of(session, merchant_id, guide_id)
    row = session.get(GuideCouponQuota, (merchant_id, template_id, guide_id))
    if row is None:
        row = GuideCouponQuota(merchant_id=merchant_id, template_id=template_id, guide_id=guide_id, issued=0)
        session.add(row)
    elif quota < row.issued:
        raise Unprocessable(
            "guide.quota_below_issued",
            f"This guide has already issued {row.issued}; the quota cannot be lower.",
        )
    row.quota, row.updated_at = quota, now
    session.flush()
    return row


def issue_coupon(
    session: Session, *, merchant_id: str, guide_id: str, template_id: str, customer_id: str, now: datetime
) -> Coupon:
    """A guide gives one coupon to one of their own customers, within their quota and every
    limit of the template; a refusal anywhere takes nothing (the quota included)."""
    get_owned(session, Customer, merchant_id, customer_id, what="Customer")
    binding = session.get(GuideBinding, (merchant_id, customer_id))
    if binding is None or binding.guide_id != guide_id:
        raise Forbidden("guide.not_your_customer", "This customer is not bound to you.")
    template = get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    quota = session.get(GuideCouponQuota, (merchant_id, template_id, guide_id))
    if quota is None:
        raise Forbidden("guide.no_quota", "You have no quota for this coupon.")
    taken = changed(
        session.execute(
            update(GuideCouponQuota)
            .where(
                owned(GuideCouponQuota, merchant_id),
                GuideCouponQuota.template_id == template_id,
                GuideCouponQuota.guide_id == guide_id,
                GuideCouponQuota.issued < GuideCouponQuota.quota,
            )
            .values(issued=GuideCouponQuota.issued + 1)
            .execution_options(synchronize_session=False)
        )
    )
    if not taken:
        raise Conflict(
            "guide.quota_exhausted", f"You have used all {quota.quota} of your quota for this coupon."
        )
    return coupons.issue(
        session, template=template, customer_id=customer_id, source="guide", now=now, check_audience=False
    )


def bound_counts(session: Session, merchant_id: str) -> dict[str, int]:
    """How many customers each guide has bound now, by guide id."""
    return {
        guide_id: int(n)
        for guide_id, n in session.execute(
            select(GuideBinding.guide_id, func.count())
            .where(owned(GuideBinding, merchant_id))
            .group_by(GuideBinding.guide_id)
        )
    }


def customers_of(*, merchant_id: str, guide_id: str, tag: str | None = None, group_id: str | None = None):
    """The guide's customers (optionally those with ``tag``, or in one of the guide's groups)
    as a statement for pagination. Tags are a JSON list; matching its quoted text works
    alike on SQLite and PostgreSQL."""
    stmt = (
        select(Customer)
        .join(
            GuideBinding,
            (same_tenant(GuideBinding, Customer)) & (GuideBinding.customer_id == Customer.id),
        )
        .where(owned(Customer, merchant_id), GuideBinding.guide_id == guide_id)
    )
    if tag:
        stmt = stmt.where(cast(Customer.tags, String).contains(json.dumps(tag), autoescape=True))
    if group_id:
        stmt = stmt.join(
            GuideGroupMember,
            (same_tenant(GuideGroupMember, Customer)) & (GuideGroupMember.customer_id == Customer.id),
        ).where(GuideGroupMember.group_id == group_id)
    return stmt
