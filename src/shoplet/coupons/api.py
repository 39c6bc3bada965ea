"""Coupons: templates (merchant), issuing and claiming, in-store verification, figures."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.auth import AsAdmin, AsClerk, AsCustomer, AsOperator, AsStaff, Db, Now, Rt
from shoplet.coupons import claims, issuing, mall, redemption, service
from shoplet.coupons.models import Coupon, CouponEventRule, CouponIssueJob, CouponTemplate, PointsMallItem
from shoplet.coupons.schemas import (
    ClaimIn,
    CodeBatchIn,
    CodeBatchOut,
    CodeIn,
    CouponOut,
    CouponTemplateIn,
    CouponTemplateOut,
    CouponTemplatePatch,
    EventRuleIn,
    EventRuleOut,
    FiguresOut,
    IssueIn,
    IssueJobIn,
    IssueJobOut,
    MallItemIn,
    MallItemOut,
)
from shoplet.coupons.views import coupon_out
from shoplet.customers.models import Customer
from shoplet.errors import Forbidden, NotFound
from shoplet.lifecycle import Lifecycle
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, owned, scoped
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["coupons"])
storefront = APIRouter(route_class=OneHop, prefix="/storefront", tags=["storefront"])
REVERSAL_WINDOW = timedelta(hours=24)


def template_out(template: CouponTemplate) -> CouponTemplateOut:
    return CouponTemplateOut.model_validate(template)


@router.post("/coupon-templates", response_model=CouponTemplateOut, status_code=201)
def create_template(
    body: CouponTemplateIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> CouponTemplateOut:
    """A coupon design: kind and value, scope, stores and host apps, validity, stock, limits, audience."""
    with db.unit_of_work() as s:
        return template_out(service.create_from_request(s, merchant_id=p.tenant, body=body, now=now))


@router.get("/coupon-templates", response_model=Page[CouponTemplateOut])
def list_templates(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(active|paused|stopped)$"),
) -> Page[CouponTemplateOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(CouponTemplate, p.tenant)
        if status:
            stmt = stmt.where(CouponTemplate.status == status)
        rows, cursor = paginate(s, stmt, CouponTemplate.id, page)
        return Page(items=[template_out(r) for r in rows], next_cursor=cursor)


@router.get("/coupon-templates/{template_id}", response_model=CouponTemplateOut)
def get_template(template_id: str, p: AsStaff, db: Db) -> CouponTemplateOut:
    with db.unit_of_work(write=False) as s:
        return template_out(
            get_owned(
                s, CouponTemplate, p.tenant, template_id, what="Coupon template", code="coupon_template"
            )
        )


@router.patch("/coupon-templates/{template_id}", response_model=CouponTemplateOut)
def update_template(
    template_id: str,
    body: CouponTemplatePatch,
    p: AsOperator,
    db: Db,
    now: Now,
) -> CouponTemplateOut:
    """Edit limits, audience, stores, claim window or stock; issued coupons keep their rule."""
    with db.unit_of_work() as s:
        return template_out(
            service.update_template(
                s,
                merchant_id=p.tenant,
                template_id=template_id,
                changes=service.request_fields(s, p.tenant, body),
                now=now,
            )
        )


def _transition(action: str):
    def route(
        template_id: str,
        p: AsOperator,
        db: Db,
        now: Now,
    ) -> CouponTemplateOut:
        with db.unit_of_work() as s:
            return template_out(
                service.transition(s, merchant_id=p.tenant, template_id=template_id, action=action, now=now)
            )

    route.__name__ = f"{action}_coupon_template"
    route.__doc__ = {
        "pause": "Stop giving it out for now.",
        "resume": "Give it out again.",
        "stop": "Stop for good; coupons already issued stay usable.",
    }[action]
    return route


for _action in ("pause", "resume", "stop"):
    router.add_api_route(
        f"/coupon-templates/{{template_id}}/{_action}",
        _transition(_action),
        methods=["POST"],
        response_model=CouponTemplateOut,
    )


@router.get("/coupon-templates/{template_id}/figures", response_model=FiguresOut)
def template_figures(template_id: str, p: AsStaff, db: Db) -> FiguresOut:
    """Issued, claimed, used, use rate (核销率), GMV and discount cost."""
    with db.unit_of_work(write=False) as s:
        return redemption.figures(s, merchant_id=p.tenant, template_id=template_id)


@router.post("/coupon-templates/{template_id}/issue", response_model=CouponOut, status_code=201)
def issue_to_customer(
    template_id: str,
    body: IssueIn,
    p: AsOperator,
    db: Db,
    now: Now,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> CouponOut:
    """Issue one coupon to a customer directly (within stock and limits; audience not checked)."""

    def work(s: Session) -> tuple[int, dict]:
        get_owned(s, Customer, p.tenant, body.customer_id, what="Customer")
        template = get_owned(
            s, CouponTemplate, p.tenant, template_id, what="Coupon template", code="coupon_template"
        )
        coupon = service.issue(
            s, template=template, customer_id=body.customer_id, source="direct", now=now, check_audience=False
        )
        return 201, {"coupon_id": coupon.id}

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation=f"issue:{template_id}",
        payload=body.model_dump(),
        work=work,
    )
    with db.unit_of_work(write=False) as s:
        return coupon_out(get_owned(s, Coupon, p.tenant, stored["coupon_id"], what="Coupon"))


@router.post("/coupon-templates/{template_id}/codes", response_model=CodeBatchOut, status_code=201)
def generate_codes(
    template_id: str,
    body: CodeBatchIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> CodeBatchOut:
    """A batch of unique, unguessable codes, each redeemable once for one coupon."""
    with db.unit_of_work() as s:
        batch = issuing.generate_codes(
            s, merchant_id=p.tenant, template_id=template_id, count=body.count, now=now
        )
        return CodeBatchOut(batch_id=batch, count=body.count)


@router.get(
    "/coupon-templates/{template_id}/codes.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_codes(
    template_id: str,
    p: AsOperator,
    db: Db,
    batch_id: str | None = Query(None, max_length=32),
) -> Response:
    """The template's codes as CSV, for printing or a partner."""
    with db.unit_of_work(write=False) as s:
        text = issuing.export_codes(s, merchant_id=p.tenant, template_id=template_id, batch_id=batch_id)
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{template_id}-codes.csv"'},
    )


@router.post("/coupon-event-rules", response_model=EventRuleOut, status_code=201)
def create_event_rule(
    body: EventRuleIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> EventRuleOut:
    """Issue a coupon automatically, once per event: on joining, on the first paid order, or
    on every paid order of at least ``min_order_amount``."""
    with db.unit_of_work() as s:
        return EventRuleOut.model_validate(
            issuing.create_rule(
                s,
                merchant_id=p.tenant,
                event=body.event,
                template_id=body.template_id,
                min_order_amount=body.min_order_amount,
                now=now,
            )
        )


@router.get("/coupon-event-rules", response_model=Page[EventRuleOut])
def list_event_rules(p: AsStaff, db: Db, page: PageQuery) -> Page[EventRuleOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(CouponEventRule, p.tenant), CouponEventRule.id, page)
        return Page(items=[EventRuleOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/coupon-event-rules/{rule_id}/deactivate", response_model=EventRuleOut)
def deactivate_event_rule(rule_id: str, p: AsOperator, db: Db) -> EventRuleOut:
    with db.unit_of_work() as s:
        return EventRuleOut.model_validate(issuing.deactivate_rule(s, merchant_id=p.tenant, rule_id=rule_id))


@router.post("/coupon-templates/{template_id}/issue-jobs", response_model=IssueJobOut, status_code=202)
def start_issue_job(
    template_id: str,
    body: IssueJobIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> IssueJobOut:
    """Issue the coupon to a segment of customers, as a background job with progress."""
    with db.unit_of_work() as s:
        job = issuing.start_issue_job(
            s, merchant_id=p.tenant, template_id=template_id, segment=body.segment.model_dump(), now=now
        )
        out = IssueJobOut.model_validate(job)
    return out


@router.get("/coupon-templates/{template_id}/issue-jobs/{job_id}", response_model=IssueJobOut)
def issue_job(template_id: str, job_id: str, p: AsStaff, db: Db) -> IssueJobOut:
    """How far an issue job has got."""
    with db.unit_of_work(write=False) as s:
        job = get_owned(s, CouponIssueJob, p.tenant, job_id, what="Issue job", code="coupon_issue_job")
        if job.template_id != template_id:
            raise NotFound("coupon_issue_job.not_found", "No such issue job.")
        return IssueJobOut.model_validate(job)


@router.get("/coupons", response_model=Page[CouponOut])
def list_coupons(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    template_id: str | None = Query(None, max_length=40, description="Only coupons of this template."),
    customer_id: str | None = Query(None, max_length=40, description="Only this customer's coupons."),
    status: str | None = Query(None, pattern="^(available|locked|used|expired)$"),
) -> Page[CouponOut]:
    """Issued coupons, newest last: by template, customer and status (a clerk sees the same list)."""
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Coupon, p.tenant)
        if template_id:
            stmt = stmt.where(Coupon.template_id == template_id)
        if customer_id:
            stmt = stmt.where(Coupon.customer_id == customer_id)
        if status:
            stmt = stmt.where(Coupon.status == status)
        rows, cursor = paginate(s, stmt, Coupon.id, page)
        return Page(items=[coupon_out(r) for r in rows], next_cursor=cursor)


@router.get("/coupons/by-code/{code}", response_model=CouponOut)
def coupon_by_code(code: str, p: AsStaff, db: Db) -> CouponOut:
    """What a code the customer shows is, before verifying it."""
    with db.unit_of_work(write=False) as s:
        return coupon_out(redemption.find_by_code(s, p.tenant, code))


@router.post("/coupons/verify", response_model=CouponOut)
def verify(
    body: CodeIn,
    p: AsClerk,
    db: Db,
    now: Now,
) -> CouponOut:
    """In-store verification (核销): a clerk uses the coupon at their store, exactly once."""
    if p.store_id is None:
        raise Forbidden("coupon.clerk_only", "Coupons are verified by a clerk at their store.")
    with db.unit_of_work() as s:
        return coupon_out(
            redemption.verify(
                s, merchant_id=p.tenant, code=body.code, store_id=p.store_id, staff_id=p.staff_id, now=now
            )
        )


@router.post("/coupons/{coupon_id}/reverse-verification", response_model=CouponOut)
def reverse(
    coupon_id: str,
    p: AsAdmin,
    db: Db,
    now: Now,
) -> CouponOut:
    """An admin undoes a mistaken in-store verification within 24 hours."""
    with db.unit_of_work() as s:
        return coupon_out(
            redemption.reverse(s, merchant_id=p.tenant, coupon_id=coupon_id, now=now, window=REVERSAL_WINDOW)
        )


@storefront.get("/coupon-centre", response_model=list[CouponTemplateOut])
def coupon_centre(p: AsCustomer, db: Db, now: Now) -> list[CouponTemplateOut]:
    """Coupons this customer can claim now (in stock, in the claim window, in their audience)."""
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            scoped(CouponTemplate, p.tenant)
            .where(CouponTemplate.status == Lifecycle.ACTIVE, CouponTemplate.public_code.is_(None))
            .order_by(CouponTemplate.id)
            .limit(200)
        )
        return [
            template_out(t)
            for t in rows
            if service.claimable_refusal(t, now) is None
            and (t.total_stock is None or t.issued_count < t.total_stock)
            and service.audience_refusal(s, t, p.customer, now) is None
        ]


@storefront.post("/coupons", response_model=CouponOut, status_code=201)
def claim(
    body: ClaimIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> CouponOut:
    """Claim a coupon (领券). Never beyond its stock or your limits, however many tap at once."""
    return claims.claim_for_customer(
        db,
        rt.coupon_gate,
        merchant_id=p.tenant,
        customer_id=p.customer,
        scope=p.scope,
        template_id=body.template_id,
        idempotency_key=idempotency_key,
        now=now,
    )


@storefront.post("/coupons/redeem-code", response_model=CouponOut, status_code=201)
def redeem_code(
    body: CodeIn,
    p: AsCustomer,
    db: Db,
    now: Now,
) -> CouponOut:
    """Enter a discount code (优惠码) or a unique code from a printed batch to claim its coupon."""
    with db.unit_of_work() as s:
        return coupon_out(
            issuing.claim_by_code(s, merchant_id=p.tenant, code=body.code, customer_id=p.customer, now=now)
        )


@storefront.get("/coupons", response_model=Page[CouponOut])
def my_coupons(
    p: AsCustomer,
    db: Db,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(available|locked|used|expired)$"),
) -> Page[CouponOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Coupon, p.tenant).where(Coupon.customer_id == p.customer_id)
        if status:
            stmt = stmt.where(Coupon.status == status)
        rows, cursor = paginate(s, stmt, Coupon.id, page)
        return Page(items=[coupon_out(r) for r in rows], next_cursor=cursor)


def mall_items_out(s: Session, items: list[PointsMallItem]) -> list[MallItemOut]:
    """Mall items with their coupon's name: one statement for the templates of any page."""
    if not items:
        return []
    rows = s.execute(
        select(CouponTemplate.id, CouponTemplate.name).where(
            owned(CouponTemplate, items[0].merchant_id), CouponTemplate.id.in_({i.template_id for i in items})
        )
    )
    names = {template_id: name for template_id, name in rows}
    return [
        MallItemOut(
            id=i.id, template_id=i.template_id, name=names[i.template_id], points=i.points, active=i.active
        )
        for i in items
    ]


def mall_item_out(s: Session, item: PointsMallItem) -> MallItemOut:
    return mall_items_out(s, [item])[0]


@router.post("/points-mall/items", response_model=MallItemOut, status_code=201)
def create_mall_item(
    body: MallItemIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> MallItemOut:
    """Offer a coupon in the points mall (积分商城) for a number of points."""
    with db.unit_of_work() as s:
        return mall_item_out(
            s,
            mall.create_item(
                s, merchant_id=p.tenant, template_id=body.template_id, points_price=body.points, now=now
            ),
        )


@router.get("/points-mall/items", response_model=Page[MallItemOut])
def list_mall_items(p: AsStaff, db: Db, page: PageQuery) -> Page[MallItemOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(PointsMallItem, p.tenant), PointsMallItem.id, page)
        return Page(items=mall_items_out(s, list(rows)), next_cursor=cursor)


@router.post("/points-mall/items/{item_id}/close", response_model=MallItemOut)
def close_mall_item(item_id: str, p: AsOperator, db: Db) -> MallItemOut:
    with db.unit_of_work() as s:
        item = get_owned(
            s, PointsMallItem, p.tenant, item_id, what="Points mall item", code="points_mall_item"
        )
        item.active = False
        s.flush()
        return mall_item_out(s, item)


@storefront.get("/points-mall", response_model=list[MallItemOut])
def points_mall(p: AsCustomer, db: Db) -> list[MallItemOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            scoped(PointsMallItem, p.tenant)
            .where(PointsMallItem.active.is_(True))
            .order_by(PointsMallItem.points, PointsMallItem.id)
        )
        return mall_items_out(s, list(rows))


@storefront.post("/points-mall/{item_id}/exchange", response_model=CouponOut, status_code=201)
def exchange_points(
    item_id: str,
    p: AsCustomer,
    db: Db,
    now: Now,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> CouponOut:
    """Exchange my points for the item's coupon (both or neither)."""

    def work(s: Session) -> tuple[int, dict]:
        coupon = mall.exchange(s, merchant_id=p.tenant, item_id=item_id, customer_id=p.customer, now=now)
        return 201, {"coupon_id": coupon.id}

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation=f"points-exchange:{item_id}",
        payload={},
        work=work,
    )
    with db.unit_of_work(write=False) as s:
        return coupon_out(get_owned(s, Coupon, p.tenant, stored["coupon_id"], what="Coupon"))
