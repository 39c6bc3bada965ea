"""Membership: loyalty settings, tiers, members and their points, light membership plans
and memberships (merchant side), and the customer's own view (storefront)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.auth import (
    AsAdmin,
    AsCustomer,
    AsOperator,
    AsStaff,
    Db,
    Now,
    Principal,
    Rt,
)
from shoplet.errors import InvalidInput, NotFound
from shoplet.membership import light, points, tiers
from shoplet.membership.models import (
    LightMembership,
    LightPlan,
    Member,
    PlanStatus,
    PointsEntry,
    TierChange,
)
from shoplet.membership.schemas import (
    AutoRenewIn,
    JoinIn,
    LightFiguresOut,
    LightMembershipOut,
    LightPlanIn,
    LightPlanOut,
    LightPlanPatch,
    LoyaltySettingsIn,
    LoyaltySettingsOut,
    MemberOut,
    PointsAdjustIn,
    PointsEntryOut,
    TierChangeOut,
    TierIn,
    TierOut,
    TierPatch,
)
from shoplet.membership.views import member_out, members_out, membership_out, memberships_out
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, owned, scoped
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["membership"])
storefront = APIRouter(route_class=OneHop, prefix="/storefront", tags=["storefront"])


def _member(s: Session, merchant_id: str, customer_id: str) -> Member:
    member = s.get(Member, (merchant_id, customer_id))
    if member is None:
        raise NotFound(
            "member.not_found", "This customer is not a member yet (the first paid order makes one)."
        )
    return member


# --- settings and tiers ------------------------------------------------------------------
@router.get("/loyalty-settings", response_model=LoyaltySettingsOut)
def get_settings(p: AsStaff, db: Db) -> LoyaltySettingsOut:
    with db.unit_of_work(write=False) as s:
        return LoyaltySettingsOut.model_validate(points.settings_of(s, p.tenant))


@router.put("/loyalty-settings", response_model=LoyaltySettingsOut)
def put_settings(
    body: LoyaltySettingsIn,
    p: AsAdmin,
    db: Db,
    now: Now,
) -> LoyaltySettingsOut:
    """How points and growth are earned and what points are worth at checkout."""
    with db.unit_of_work() as s:
        return LoyaltySettingsOut.model_validate(
            points.set_settings(s, merchant_id=p.tenant, values=body.model_dump(), now=now)
        )


@router.post("/member-tiers", response_model=TierOut, status_code=201)
def create_tier(
    body: TierIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> TierOut:
    """A tier reached at a growth value, with its benefits (members move on their next change)."""
    with db.unit_of_work() as s:
        return TierOut.model_validate(
            tiers.create_tier(s, merchant_id=p.tenant, fields=body.model_dump(), now=now)
        )


@router.get("/member-tiers", response_model=list[TierOut])
def list_tiers(p: AsStaff, db: Db) -> list[TierOut]:
    with db.unit_of_work(write=False) as s:
        return [TierOut.model_validate(t) for t in tiers.tiers_of(s, p.tenant)]


@router.patch("/member-tiers/{tier_id}", response_model=TierOut)
def update_tier(tier_id: str, body: TierPatch, p: AsOperator, db: Db) -> TierOut:
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise InvalidInput("request.null_field", "A tier's fields cannot be cleared; give them a value.")
    with db.unit_of_work() as s:
        return TierOut.model_validate(
            tiers.update_tier(s, merchant_id=p.tenant, tier_id=tier_id, changes=changes)
        )


# --- members and points ------------------------------------------------------------------
@router.get("/members", response_model=Page[MemberOut])
def list_members(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    tier: str | None = Query(None, max_length=32),
) -> Page[MemberOut]:
    with db.unit_of_work(write=False) as s:
        stmt = select(Member).where(owned(Member, p.tenant))
        if tier:
            stmt = stmt.where(Member.tier == tier)
        rows, cursor = paginate(s, stmt, Member.customer_id, page)
        return Page(items=members_out(s, list(rows)), next_cursor=cursor)


@router.get("/members/{customer_id}", response_model=MemberOut)
def get_member(customer_id: str, p: AsStaff, db: Db) -> MemberOut:
    with db.unit_of_work(write=False) as s:
        return member_out(s, _member(s, p.tenant, customer_id))


@router.get("/members/{customer_id}/points", response_model=Page[PointsEntryOut])
def member_points(
    customer_id: str,
    p: AsStaff,
    db: Db,
    page: PageQuery,
) -> Page[PointsEntryOut]:
    """The member's points ledger, oldest first: every movement with the balance after it."""
    with db.unit_of_work(write=False) as s:
        _member(s, p.tenant, customer_id)
        stmt = scoped(PointsEntry, p.tenant).where(PointsEntry.customer_id == customer_id)
        rows, cursor = paginate(s, stmt, PointsEntry.id, page)
        return Page(items=[PointsEntryOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/members/{customer_id}/points/adjustments", response_model=MemberOut)
def adjust_points(
    customer_id: str,
    body: PointsAdjustIn,
    p: AsAdmin,
    db: Db,
    now: Now,
) -> MemberOut:
    """Add or take points by hand, with a reason (taking never goes below zero)."""
    with db.unit_of_work() as s:
        member = points.adjust(
            s,
            merchant_id=p.tenant,
            customer_id=customer_id,
            delta=body.delta,
            note=f"{body.note} (by {p.scope})",
            now=now,
        )
        return member_out(s, member)


@router.get("/members/{customer_id}/tier-changes", response_model=list[TierChangeOut])
def tier_changes(customer_id: str, p: AsStaff, db: Db) -> list[TierChangeOut]:
    with db.unit_of_work(write=False) as s:
        _member(s, p.tenant, customer_id)
        rows = s.scalars(
            scoped(TierChange, p.tenant)
            .where(TierChange.customer_id == customer_id)
            .order_by(TierChange.at, TierChange.id)
        )
        return [TierChangeOut.model_validate(r) for r in rows]


# --- light membership (merchant) -----------------------------------------------------------
@router.post("/light-plans", response_model=LightPlanOut, status_code=201)
def create_plan(
    body: LightPlanIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> LightPlanOut:
    """A light membership plan (轻会员): members join free and pay min(fee, enjoyed) per period."""
    with db.unit_of_work() as s:
        return LightPlanOut.model_validate(
            light.create_plan(s, merchant_id=p.tenant, fields=body.model_dump(), now=now)
        )


@router.get("/light-plans", response_model=Page[LightPlanOut])
def list_plans(p: AsStaff, db: Db, page: PageQuery) -> Page[LightPlanOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(LightPlan, p.tenant), LightPlan.id, page)
        return Page(items=[LightPlanOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/light-plans/{plan_id}", response_model=LightPlanOut)
def get_plan(plan_id: str, p: AsStaff, db: Db) -> LightPlanOut:
    with db.unit_of_work(write=False) as s:
        return LightPlanOut.model_validate(
            get_owned(s, LightPlan, p.tenant, plan_id, what="Light membership plan", code="light_plan")
        )


@router.patch("/light-plans/{plan_id}", response_model=LightPlanOut)
def update_plan(plan_id: str, body: LightPlanPatch, p: AsOperator, db: Db) -> LightPlanOut:
    changes = body.model_dump(exclude_unset=True)
    if any(v is None for v in changes.values()):
        raise InvalidInput("request.null_field", "A plan's fields cannot be cleared; give them a value.")
    with db.unit_of_work() as s:
        return LightPlanOut.model_validate(
            light.update_plan(s, merchant_id=p.tenant, plan_id=plan_id, changes=changes)
        )


@router.post("/light-plans/{plan_id}/close", response_model=LightPlanOut)
def close_plan(plan_id: str, p: AsOperator, db: Db) -> LightPlanOut:
    """Stop new joins and renewals; current periods run to their end and settle as usual."""
    with db.unit_of_work() as s:
        return LightPlanOut.model_validate(light.close_plan(s, merchant_id=p.tenant, plan_id=plan_id))


@router.get("/light-plans/{plan_id}/figures", response_model=LightFiguresOut)
def plan_figures(plan_id: str, p: AsStaff, db: Db) -> LightFiguresOut:
    with db.unit_of_work(write=False) as s:
        get_owned(s, LightPlan, p.tenant, plan_id, what="Light membership plan", code="light_plan")
        return light.figures(s, merchant_id=p.tenant, plan_id=plan_id)


@router.get("/light-membership-figures", response_model=LightFiguresOut)
def all_figures(p: AsStaff, db: Db) -> LightFiguresOut:
    """Joins, enjoyed against fees, charged and overdue, over every plan."""
    with db.unit_of_work(write=False) as s:
        return light.figures(s, merchant_id=p.tenant)


@router.get("/light-memberships", response_model=Page[LightMembershipOut])
def list_memberships(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(active|settling|overdue|ended)$"),
    customer_id: str | None = Query(None, max_length=32),
) -> Page[LightMembershipOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(LightMembership, p.tenant)
        if status:
            stmt = stmt.where(LightMembership.status == status)
        if customer_id:
            stmt = stmt.where(LightMembership.customer_id == customer_id)
        rows, cursor = paginate(s, stmt, LightMembership.id, page)
        return Page(items=memberships_out(s, list(rows)), next_cursor=cursor)


@router.get("/light-memberships/{membership_id}", response_model=LightMembershipOut)
def get_membership(membership_id: str, p: AsStaff, db: Db) -> LightMembershipOut:
    with db.unit_of_work(write=False) as s:
        return membership_out(
            s,
            get_owned(
                s, LightMembership, p.tenant, membership_id, what="Light membership", code="light_membership"
            ),
        )


@router.post("/light-memberships/{membership_id}/cancel", response_model=LightMembershipOut)
def cancel_membership(
    membership_id: str,
    p: AsAdmin,
    db: Db,
    now: Now,
    rt: Rt,
) -> LightMembershipOut:
    """End a light membership now; its period settles at once by the same rule."""
    membership = light.cancel_and_settle(
        db, rt.agreements, merchant_id=p.tenant, membership_id=membership_id, now=now
    )
    with db.unit_of_work(write=False) as s:
        return membership_out(s, membership)


# --- the customer's own view ---------------------------------------------------------------
@storefront.get("/member", response_model=MemberOut)
def my_membership(p: AsCustomer, db: Db) -> MemberOut:
    """My tier, growth, what the next tier needs, and my points balance."""
    with db.unit_of_work(write=False) as s:
        return member_out(s, _member(s, p.tenant, p.customer))


@storefront.get("/points", response_model=Page[PointsEntryOut])
def my_points(
    p: AsCustomer,
    db: Db,
    page: PageQuery,
) -> Page[PointsEntryOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(PointsEntry, p.tenant).where(PointsEntry.customer_id == p.customer_id)
        rows, cursor = paginate(s, stmt, PointsEntry.id, page)
        return Page(items=[PointsEntryOut.model_validate(r) for r in rows], next_cursor=cursor)


@storefront.get("/light-plans", response_model=list[LightPlanOut])
def open_plans(p: AsCustomer, db: Db) -> list[LightPlanOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            scoped(LightPlan, p.tenant).where(LightPlan.status == PlanStatus.ACTIVE).order_by(LightPlan.id)
        )
        return [LightPlanOut.model_validate(r) for r in rows]


@storefront.post("/light-membership", response_model=LightMembershipOut, status_code=201)
def join(
    body: JoinIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
) -> LightMembershipOut:
    """Join a light membership without paying: enjoy now, pay min(fee, enjoyed) at the end."""
    membership = light.enrol(
        db,
        credit=rt.credit,
        agreements=rt.agreements,
        merchant_id=p.tenant,
        customer_id=p.customer,
        plan_id=body.plan_id,
        auto_renew=body.auto_renew,
        now=now,
    )
    with db.unit_of_work(write=False) as s:
        return membership_out(s, membership)


def _mine(s: Session, p: Principal) -> LightMembership:
    membership = light.current_of(s, p.tenant, p.customer)
    if membership is None:
        raise NotFound("light_membership.not_found", "You have no light membership.")
    return membership


@storefront.get("/light-membership", response_model=LightMembershipOut)
def my_light_membership(p: AsCustomer, db: Db) -> LightMembershipOut:
    """My period, what I have enjoyed, and what would be charged: min(fee, enjoyed)."""
    with db.unit_of_work(write=False) as s:
        return membership_out(s, _mine(s, p))


@storefront.put("/light-membership/auto-renew", response_model=LightMembershipOut)
def set_auto_renew(
    body: AutoRenewIn,
    p: AsCustomer,
    db: Db,
) -> LightMembershipOut:
    with db.unit_of_work() as s:
        membership = light.set_auto_renew(s, _mine(s, p), auto_renew=body.auto_renew)
        return membership_out(s, membership)


@storefront.post("/light-membership/cancel", response_model=LightMembershipOut)
def cancel_mine(
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
) -> LightMembershipOut:
    """Cancel now: the benefits end and I am charged min(fee, enjoyed) for this period."""
    with db.unit_of_work(write=False) as s:
        membership_id = _mine(s, p).id
    membership = light.cancel_and_settle(
        db, rt.agreements, merchant_id=p.tenant, membership_id=membership_id, customer_id=p.customer, now=now
    )
    with db.unit_of_work(write=False) as s:
        return membership_out(s, membership)


@storefront.post("/light-membership/pay", response_model=LightMembershipOut)
def pay_overdue(
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
) -> LightMembershipOut:
    """Pay an overdue (or retrying) period now through the agreement, after topping up."""
    membership = light.pay_overdue(db, rt.agreements, merchant_id=p.tenant, customer_id=p.customer, now=now)
    with db.unit_of_work(write=False) as s:
        return membership_out(s, membership)
