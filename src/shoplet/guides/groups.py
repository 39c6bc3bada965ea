"""A guide's customer groups: a guide sorts their own customers into named groups
("new parents", "weekend regulars") to follow them up and give a group coupons from the
guide's quota. Groups are the guide's alone; a customer who moves to another guide leaves
the old guide's groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shoplet.coupons import service as coupons
from shoplet.coupons.models import CouponTemplate
from shoplet.db import changed, new_id, number
from shoplet.errors import Conflict, NotFound, ShopletError, Unprocessable
from shoplet.guides.models import GuideBinding, GuideCouponQuota, GuideGroup, GuideGroupMember
from shoplet.guides.schemas import GroupOut, GroupRef
from shoplet.guides.service import issue_coupon, own_customer
from shoplet.scoping import get_owned, owned, same_tenant

MAX_GROUPS = 100  # per guide
MAX_GROUP_ISSUE = 500  # members given a coupon in one request; larger audiences are the merchant's issue jobs


def _members(merchant_id: str, guide_id: str, *columns):
    """``columns`` of the group members still bound to the guide (only they count)."""
    return (
        select(*columns)
        .select_from(GuideGroupMember)
        .join(
            GuideBinding,
            and_(
                same_tenant(GuideBinding, GuideGroupMember),
                GuideBinding.customer_id == GuideGroupMember.customer_id,
            ),
        )
        .where(owned(GuideGroupMember, merchant_id), GuideBinding.guide_id == guide_id)
    )


def group_of(session: Session, *, merchant_id: str, guide_id: str, group_id: str) -> GuideGroup:
    """One of the guide's own groups; another guide's group is as absent as another merchant's."""
    group = session.get(GuideGroup, (merchant_id, group_id))
    if group is None or group.guide_id != guide_id:
        raise NotFound.of("Group", "guide_group")
    return group


def groups(session: Session, *, merchant_id: str, guide_id: str) -> list[GroupOut]:
    """The guide's groups by name, each with how many of the guide's customers it holds."""
    counts = (
        _members(merchant_id, guide_id, GuideGroupMember.group_id, func.count().label("n"))
        .group_by(GuideGroupMember.group_id)
        .subquery()
    )
    rows = session.execute(
        select(GuideGroup, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == GuideGroup.id)
        .where(owned(GuideGroup, merchant_id), GuideGroup.guide_id == guide_id)
        .order_by(GuideGroup.name, GuideGroup.id)
    ).all()
    return [_out(group, n) for group, n in rows]


def _out(group: GuideGroup, members: int) -> GroupOut:
    return GroupOut(id=group.id, name=group.name, members=members, created_at=group.created_at)


def _count(session: Session, group: GuideGroup) -> int:
    return session.scalar(
        _members(group.merchant_id, group.guide_id, func.count()).where(GuideGroupMember.group_id == group.id)
    )


def create(session: Session, *, merchant_id: str, guide_id: str, name: str, now: datetime) -> GroupOut:
    held = number(
        session,
        select(func.count())
        .select_from(GuideGroup)
        .where(owned(GuideGroup, merchant_id), GuideGroup.guide_id == guide_id),
    )
    if held >= MAX_GROUPS:
        raise Unprocessable("guide_group.too_many", f"A guide can keep at most {MAX_GROUPS} groups.")
    group = GuideGroup(merchant_id=merchant_id, id=new_id("ggr"), guide_id=guide_id, created_at=now)
    _save(session, group, name)
    return _out(group, 0)


def rename(session: Session, *, merchant_id: str, guide_id: str, group_id: str, name: str) -> GroupOut:
    group = group_of(session, merchant_id=merchant_id, guide_id=guide_id, group_id=group_id)
    _save(session, group, name)
    return _out(group, _count(session, group))


def _save(session: Session, group: GuideGroup, name: str) -> None:
    """Name and flush the group in a savepoint: the unique (guide, name) index answers a
    taken name, even a racing one, and leaves the rest of the unit of work usable."""
    try:
        with session.begin_nested():
            group.name = name
            session.add(group)
            session.flush()
    except IntegrityError:
        raise Conflict("guide_group.name_taken", f"You already have a group called “{name}”.") from None


def remove(session: Session, *, merchant_id: str, guide_id: str, group_id: str) -> None:
    group = group_of(session, merchant_id=merchant_id, guide_id=guide_id, group_id=group_id)
    session.execute(
        delete(GuideGroupMember).where(
            owned(GuideGroupMember, merchant_id), GuideGroupMember.group_id == group.id
        )
    )
    session.delete(group)
    session.flush()


def add_member(
    session: Session, *, merchant_id: str, guide_id: str, group_id: str, customer_id: str, now: datetime
) -> GroupOut:
    """Put one of the guide's customers in one of their groups (again is a no-op)."""
    group = group_of(session, merchant_id=merchant_id, guide_id=guide_id, group_id=group_id)
    own_customer(session, merchant_id=merchant_id, guide_id=guide_id, customer_id=customer_id)
    if session.get(GuideGroupMember, (merchant_id, group.id, customer_id)) is None:
        try:
            with session.begin_nested():
                session.add(
                    GuideGroupMember(
                        merchant_id=merchant_id, group_id=group.id, customer_id=customer_id, added_at=now
                    )
                )
                session.flush()
        except IntegrityError:
            pass  # the same customer added a moment ago
    return _out(group, _count(session, group))


def remove_member(
    session: Session, *, merchant_id: str, guide_id: str, group_id: str, customer_id: str
) -> None:
    group = group_of(session, merchant_id=merchant_id, guide_id=guide_id, group_id=group_id)
    gone = changed(
        session.execute(
            delete(GuideGroupMember).where(
                owned(GuideGroupMember, merchant_id),
                GuideGroupMember.group_id == group.id,
                GuideGroupMember.customer_id == customer_id,
            )
        )
    )
    if not gone:
        raise NotFound("guide_group.not_member", "This customer is not in the group.")


def groups_by_customer(
    session: Session, *, merchant_id: str, customer_ids: list[str]
) -> dict[str, list[GroupRef]]:
    """The groups each of these customers is in (for a page of the guide's customers)."""
    found: dict[str, list[GroupRef]] = {c: [] for c in customer_ids}
    if not customer_ids:
        return found
    rows = session.execute(
        select(GuideGroupMember.customer_id, GuideGroup.id, GuideGroup.name)
        .join(
            GuideGroup,
            and_(
                same_tenant(GuideGroup, GuideGroupMember),
                GuideGroup.id == GuideGroupMember.group_id,
            ),
        )
        .where(owned(GuideGroupMember, merchant_id), GuideGroupMember.customer_id.in_(customer_ids))
        .order_by(GuideGroup.name, GuideGroup.id)
    )
    for customer_id, group_id, name in rows:
        found[customer_id].append(GroupRef(id=group_id, name=name))
    return found


def issue_coupons(
    session: Session, *, merchant_id: str, guide_id: str, group_id: str, template_id: str, now: datetime
) -> dict[str, Any]:
    """Give every member of the group one coupon of the template from the guide's quota.

    Refused whole (nothing issued) when the group is empty or too large, the template
    cannot be claimed now, or the quota left cannot cover every member. A member the
    template's own limits refuse (already holds the most allowed) is skipped, with the
    reason, and takes no quota."""
    group = group_of(session, merchant_id=merchant_id, guide_id=guide_id, group_id=group_id)
    members = list(
        session.scalars(
            _members(merchant_id, guide_id, GuideGroupMember.customer_id)
            .where(GuideGroupMember.group_id == group.id)
            .order_by(GuideGroupMember.customer_id)
        )
    )
    if not members:
        raise Unprocessable("guide_group.empty", "The group has no customers.")
    if len(members) > MAX_GROUP_ISSUE:
        raise Unprocessable(
            "guide_group.too_large", f"A group coupon reaches at most {MAX_GROUP_ISSUE} customers at once."
        )
    template = get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    refusal = coupons.claimable_refusal(template, now)
    if refusal is not None:
        raise refusal
    quota = session.get(GuideCouponQuota, (merchant_id, template_id, guide_id))
    left = 0 if quota is None else quota.quota - quota.issued
    if left < len(members):
        raise Conflict(
            "guide.quota_exhausted",
            f"The group has {len(members)} customers and your quota has {left} left.",
            needed=len(members),
            left=left,
        )
    issued, skipped = [], []
    for customer_id in members:
        try:
            with session.begin_nested():
                coupon = issue_coupon(
                    session,
                    merchant_id=merchant_id,
                    guide_id=guide_id,
                    template_id=template_id,
                    customer_id=customer_id,
                    now=now,
                )
            issued.append({"customer_id": customer_id, "coupon_id": coupon.id})
        except ShopletError as exc:  # that customer's limit, or a racing issue took the last of the quota
            skipped.append({"customer_id": customer_id, "code": exc.code})
    return {"group_id": group.id, "template_id": template_id, "issued": issued, "skipped": skipped}
