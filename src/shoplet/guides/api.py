"""Shopping guides: binding policy, customer bindings (scan or in-store assignment), guide
coupon quotas, commission rules, and the guide's workbench (my customers and my groups of
them, revisit reminders, my quotas, issue to my customers or a group, my sales and
commissions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.auth import (
    AsAdmin,
    AsCustomer,
    AsOperator,
    AsOperatorOrClerk,
    AsStaff,
    Db,
    Now,
    Principal,
    require_staff,
)
from shoplet.coupons.models import Coupon, CouponTemplate
from shoplet.coupons.schemas import CouponOut
from shoplet.coupons.views import coupon_out
from shoplet.customers.models import Customer
from shoplet.db import Database
from shoplet.errors import Forbidden, NotFound
from shoplet.guides import commissions, groups, revisits, service
from shoplet.guides.models import Commission, GuideBinding, GuideBindingChange, GuideCouponQuota
from shoplet.guides.schemas import (
    AssignIn,
    BindIn,
    BindingChangeOut,
    CommissionOut,
    CommissionRuleIn,
    CommissionRuleOut,
    GroupIn,
    GroupIssueIn,
    GroupIssueOut,
    GroupOut,
    GuideBindingOut,
    GuideFiguresOut,
    GuideIssueIn,
    GuidePolicyIn,
    GuidePolicyOut,
    GuideVisitIn,
    MyCustomerOut,
    QuotaIn,
    QuotaOut,
    ReminderOut,
    VisitOut,
)
from shoplet.guides.views import my_customers_out
from shoplet.pagination import Page, PageParams, PageQuery, paginate
from shoplet.periods import PeriodQuery
from shoplet.scoping import get_owned, owned, scoped
from shoplet.tenancy.models import Role, Staff
from shoplet.tenancy.service import zone
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["guides"])
storefront = APIRouter(route_class=OneHop, prefix="/storefront", tags=["storefront"])
admin = require_staff()


async def require_guide(p: Principal = Depends(require_staff("guide"))) -> Principal:
    """The workbench is a guide's own: it needs a key bound to a shopping guide."""
    if p.role != Role.GUIDE or p.staff_id is None:
        raise Forbidden("guide.workbench_only", "The workbench needs a shopping guide's key.")
    return p


AsGuide = Annotated[Principal, Depends(require_guide)]


def binding_out(s: Session, binding: GuideBinding) -> GuideBindingOut:
    guide = s.get_one(Staff, (binding.merchant_id, binding.guide_id))
    return GuideBindingOut(
        customer_id=binding.customer_id,
        guide_id=binding.guide_id,
        guide_name=guide.name,
        store_id=binding.store_id,
        source=binding.source,
        bound_at=binding.bound_at,
        protected_until=binding.protected_until,
        first_bound_at=binding.first_bound_at,
    )


@router.get("/guide-policy", response_model=GuidePolicyOut)
def get_policy(p: AsStaff, db: Db) -> GuidePolicyOut:
    with db.unit_of_work(write=False) as s:
        return GuidePolicyOut.model_validate(service.policy_of(s, p.tenant))


@router.put("/guide-policy", response_model=GuidePolicyOut)
def put_policy(
    body: GuidePolicyIn,
    p: AsAdmin,
    db: Db,
    now: Now,
) -> GuidePolicyOut:
    """How long a first binding is protected, whether a later scan may take a customer over,
    how long commissions stay frozen after hand-over, and when guides are reminded to revisit."""
    with db.unit_of_work() as s:
        return GuidePolicyOut.model_validate(
            service.set_policy(s, merchant_id=p.tenant, now=now, **body.model_dump())
        )


@router.put("/customers/{customer_id}/guide", response_model=GuideBindingOut)
def assign_guide(
    customer_id: str,
    body: AssignIn,
    p: AsOperatorOrClerk,
    db: Db,
    now: Now,
) -> GuideBindingOut:
    """Assign a customer to a guide in store (protection holds unless an admin forces it)."""
    if body.force and p.role != Role.ADMIN:
        raise Forbidden("guide.force_needs_admin", "Only an admin can reassign a protected binding.")
    with db.unit_of_work() as s:
        binding = service.bind(
            s,
            merchant_id=p.tenant,
            customer_id=customer_id,
            guide_id=body.guide_id,
            source="admin" if body.force else "store",
            by=p.scope,
            now=now,
            force=body.force,
        )
        return binding_out(s, binding)


@router.get("/customers/{customer_id}/guide", response_model=GuideBindingOut)
def get_binding(customer_id: str, p: AsStaff, db: Db) -> GuideBindingOut:
    with db.unit_of_work(write=False) as s:
        get_owned(s, Customer, p.tenant, customer_id, what="Customer")
        binding = service.binding_of(s, p.tenant, customer_id)
        if binding is None:
            raise NotFound("guide_binding.not_found", "This customer has no guide.")
        return binding_out(s, binding)


@router.get("/customers/{customer_id}/guide/history", response_model=list[BindingChangeOut])
def binding_history(customer_id: str, p: AsOperator, db: Db) -> list[BindingChangeOut]:
    with db.unit_of_work(write=False) as s:
        get_owned(s, Customer, p.tenant, customer_id, what="Customer")
        rows = s.scalars(
            select(GuideBindingChange)
            .where(owned(GuideBindingChange, p.tenant), GuideBindingChange.customer_id == customer_id)
            .order_by(GuideBindingChange.at, GuideBindingChange.id)
        )
        return [BindingChangeOut.model_validate(r) for r in rows]


@router.put("/coupon-templates/{template_id}/guide-quotas/{guide_id}", response_model=QuotaOut)
def put_quota(
    template_id: str,
    guide_id: str,
    body: QuotaIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> QuotaOut:
    """Let a guide give out up to ``quota`` coupons of this template to their own customers."""
    with db.unit_of_work() as s:
        return QuotaOut.model_validate(
            service.set_quota(
                s, merchant_id=p.tenant, template_id=template_id, guide_id=guide_id, quota=body.quota, now=now
            )
        )


@router.get("/coupon-templates/{template_id}/guide-quotas", response_model=list[QuotaOut])
def list_quotas(template_id: str, p: AsOperator, db: Db) -> list[QuotaOut]:
    with db.unit_of_work(write=False) as s:
        get_owned(s, CouponTemplate, p.tenant, template_id, what="Coupon template", code="coupon_template")
        rows = s.scalars(
            select(GuideCouponQuota)
            .where(owned(GuideCouponQuota, p.tenant), GuideCouponQuota.template_id == template_id)
            .order_by(GuideCouponQuota.guide_id)
        )
        return [QuotaOut.model_validate(r) for r in rows]


@router.get("/workbench/customers", response_model=Page[MyCustomerOut])
def my_customers(
    p: AsGuide,
    db: Db,
    page: PageQuery,
    tag: str | None = Query(None, max_length=64),
    group_id: str | None = Query(None, max_length=32),
) -> Page[MyCustomerOut]:
    """The customers bound to me, with their tags and my groups (phone numbers masked);
    optionally only those with a tag or in one of my groups."""
    with db.unit_of_work(write=False) as s:
        if group_id:
            groups.group_of(s, merchant_id=p.tenant, guide_id=p.staff, group_id=group_id)
        stmt = service.customers_of(merchant_id=p.tenant, guide_id=p.staff, tag=tag, group_id=group_id)
        rows, cursor = paginate(s, stmt, Customer.id, page)
        return Page(items=my_customers_out(s, p.tenant, list(rows)), next_cursor=cursor)


@router.get("/workbench/groups", response_model=list[GroupOut])
def my_groups(p: AsGuide, db: Db) -> list[GroupOut]:
    """My customer groups by name, each with how many of my customers it holds."""
    with db.unit_of_work(write=False) as s:
        return groups.groups(s, merchant_id=p.tenant, guide_id=p.staff)


@router.post("/workbench/groups", response_model=GroupOut, status_code=201)
def create_group(
    body: GroupIn,
    p: AsGuide,
    db: Db,
    now: Now,
) -> GroupOut:
    with db.unit_of_work() as s:
        return groups.create(s, merchant_id=p.tenant, guide_id=p.staff, name=body.name, now=now)


@router.patch("/workbench/groups/{group_id}", response_model=GroupOut)
def rename_group(group_id: str, body: GroupIn, p: AsGuide, db: Db) -> GroupOut:
    with db.unit_of_work() as s:
        return groups.rename(s, merchant_id=p.tenant, guide_id=p.staff, group_id=group_id, name=body.name)


@router.delete("/workbench/groups/{group_id}", status_code=204)
def delete_group(group_id: str, p: AsGuide, db: Db) -> None:
    """Delete the group (its customers stay mine)."""
    with db.unit_of_work() as s:
        groups.remove(s, merchant_id=p.tenant, guide_id=p.staff, group_id=group_id)


@router.put("/workbench/groups/{group_id}/customers/{customer_id}", response_model=GroupOut)
def add_to_group(
    group_id: str,
    customer_id: str,
    p: AsGuide,
    db: Db,
    now: Now,
) -> GroupOut:
    """Put one of my customers in one of my groups (again changes nothing)."""
    with db.unit_of_work() as s:
        return groups.add_member(
            s,
            merchant_id=p.tenant,
            guide_id=p.staff,
            group_id=group_id,
            customer_id=customer_id,
            now=now,
        )


@router.delete("/workbench/groups/{group_id}/customers/{customer_id}", status_code=204)
def remove_from_group(group_id: str, customer_id: str, p: AsGuide, db: Db) -> None:
    with db.unit_of_work() as s:
        groups.remove_member(
            s, merchant_id=p.tenant, guide_id=p.staff, group_id=group_id, customer_id=customer_id
        )


@router.post("/workbench/groups/{group_id}/coupons", response_model=GroupIssueOut, status_code=201)
def give_group_coupons(
    group_id: str,
    body: GroupIssueIn,
    p: AsGuide,
    db: Db,
    now: Now,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> GroupIssueOut:
    """Give every customer in my group one coupon from my quota: refused whole when the quota
    left cannot cover the group; members the coupon's own limits refuse are skipped."""

    def work(s: Session) -> tuple[int, dict]:
        return 201, groups.issue_coupons(
            s,
            merchant_id=p.tenant,
            guide_id=p.staff,
            group_id=group_id,
            template_id=body.template_id,
            now=now,
        )

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation="guide-group-coupons",
        payload={"group_id": group_id, **body.model_dump()},
        work=work,
    )
    return GroupIssueOut(**stored)


@router.get("/workbench/coupon-quotas", response_model=list[QuotaOut])
def my_quotas(p: AsGuide, db: Db) -> list[QuotaOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            select(GuideCouponQuota)
            .where(owned(GuideCouponQuota, p.tenant), GuideCouponQuota.guide_id == p.staff_id)
            .order_by(GuideCouponQuota.template_id)
        )
        return [QuotaOut.model_validate(r) for r in rows]


@router.post("/workbench/coupons", response_model=CouponOut, status_code=201)
def give_coupon(
    body: GuideIssueIn,
    p: AsGuide,
    db: Db,
    now: Now,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> CouponOut:
    """Give one of my customers a coupon from my quota."""

    def work(s: Session) -> tuple[int, dict]:
        coupon = service.issue_coupon(
            s,
            merchant_id=p.tenant,
            guide_id=p.staff,
            template_id=body.template_id,
            customer_id=body.customer_id,
            now=now,
        )
        return 201, {"coupon_id": coupon.id}

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation="guide-coupon",
        payload=body.model_dump(),
        work=work,
    )
    with db.unit_of_work(write=False) as s:
        return coupon_out(get_owned(s, Coupon, p.tenant, stored["coupon_id"], what="Coupon"))


def commission_out(c: Commission) -> CommissionOut:
    return CommissionOut(
        **{k: getattr(c, k) for k in CommissionOut.model_fields if k != "net"},
        net=c.amount - c.reversed_amount,
    )


def rule_out(rule) -> CommissionRuleOut:
    return CommissionRuleOut(
        scope=rule.scope, target_id=rule.target_id or None, rate_bp=rule.rate_bp, updated_at=rule.updated_at
    )


@router.get("/commission-rules", response_model=list[CommissionRuleOut])
def list_rules(p: AsOperator, db: Db) -> list[CommissionRuleOut]:
    with db.unit_of_work(write=False) as s:
        return [rule_out(r) for r in commissions.rules(s, p.tenant)]


@router.put("/commission-rules", response_model=CommissionRuleOut)
def put_rule(
    body: CommissionRuleIn,
    p: AsAdmin,
    db: Db,
    now: Now,
) -> CommissionRuleOut:
    """Set a commission rate: the merchant's default, a store's (its guides), or one guide's.
    The most specific applies when an order is paid."""
    with db.unit_of_work() as s:
        return rule_out(
            commissions.set_rule(
                s,
                merchant_id=p.tenant,
                scope=body.scope,
                target_id=body.target_id,
                rate_bp=body.rate_bp,
                now=now,
            )
        )


@router.delete("/commission-rules/{scope}", status_code=204)
def delete_rule(
    scope: str,
    p: AsAdmin,
    db: Db,
    target_id: str | None = Query(None, max_length=32),
) -> None:
    if scope not in ("merchant", "store", "guide"):
        raise NotFound("commission.rule_not_found", "There is no such commission rule.")
    with db.unit_of_work() as s:
        commissions.delete_rule(s, merchant_id=p.tenant, scope=scope, target_id=target_id)


@router.get("/commissions", response_model=Page[CommissionOut])
def list_commissions(
    p: AsOperator,
    db: Db,
    page: PageQuery,
    guide_id: str | None = Query(None, max_length=32),
    status: str | None = Query(None, pattern="^(frozen|settled|reversed)$"),
) -> Page[CommissionOut]:
    return _commission_page(db, p.tenant, page, guide_id=guide_id, status=status)


def _commission_page(
    db: Database, merchant_id: str, page: PageParams, *, guide_id: str | None, status: str | None
) -> Page[CommissionOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Commission, merchant_id)
        if guide_id:
            stmt = stmt.where(Commission.guide_id == guide_id)
        if status:
            stmt = stmt.where(Commission.status == status)
        rows, cursor = paginate(s, stmt, Commission.id, page)
        return Page(items=[commission_out(r) for r in rows], next_cursor=cursor)


@router.get("/workbench/commissions", response_model=Page[CommissionOut])
def my_commissions(
    p: AsGuide,
    db: Db,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(frozen|settled|reversed)$"),
) -> Page[CommissionOut]:
    """The orders attributed to me, each with its commission."""
    return _commission_page(db, p.tenant, page, guide_id=p.staff_id, status=status)


@router.get("/workbench/sales", response_model=GuideFiguresOut)
def my_sales(
    p: AsGuide,
    db: Db,
    period: PeriodQuery,
) -> GuideFiguresOut:
    """My sales and commission for orders paid in [since, until) (default: all time)."""
    with db.unit_of_work(write=False) as s:
        since, until = period.resolve(zone(s, p.tenant))
        return commissions.guide_figures(s, merchant_id=p.tenant, guide_id=p.staff, since=since, until=until)


@router.get("/workbench/reminders", response_model=list[ReminderOut])
def my_reminders(
    p: AsGuide,
    db: Db,
    now: Now,
    limit: int = Query(100, ge=1, le=500),
) -> list[ReminderOut]:
    """My customers due a revisit: not seen (no order, no recorded visit) for the merchant's
    ``revisit_days``, longest first."""
    with db.unit_of_work(write=False) as s:
        return revisits.reminders(s, merchant_id=p.tenant, guide_id=p.staff, now=now, limit=limit)


@router.post("/workbench/customers/{customer_id}/visits", response_model=VisitOut, status_code=201)
def record_visit(
    customer_id: str,
    body: GuideVisitIn,
    p: AsGuide,
    db: Db,
    now: Now,
) -> VisitOut:
    """I contacted one of my customers: the reminder is silenced for another ``revisit_days``."""
    with db.unit_of_work() as s:
        return VisitOut.model_validate(
            revisits.record_visit(
                s, merchant_id=p.tenant, guide_id=p.staff, customer_id=customer_id, note=body.note, now=now
            )
        )


@storefront.post("/guide", response_model=GuideBindingOut)
def scan_guide_code(
    body: BindIn,
    p: AsCustomer,
    db: Db,
    now: Now,
) -> GuideBindingOut:
    """Scanning a guide's code binds me to them (unless another guide's binding is protected)."""
    with db.unit_of_work() as s:
        binding = service.bind(
            s,
            merchant_id=p.tenant,
            customer_id=p.customer,
            guide_id=body.guide_id,
            source="scan",
            by=p.scope,
            now=now,
        )
        return binding_out(s, binding)


@storefront.get("/guide", response_model=GuideBindingOut)
def my_guide(p: AsCustomer, db: Db) -> GuideBindingOut:
    with db.unit_of_work(write=False) as s:
        binding = service.binding_of(s, p.tenant, p.customer)
        if binding is None:
            raise NotFound("guide_binding.not_found", "You have no shopping guide yet.")
        return binding_out(s, binding)
