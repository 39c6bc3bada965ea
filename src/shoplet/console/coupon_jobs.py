"""A coupon template's page: its figures, editing its limits, issuing it to a segment as a
job with a live progress bar, code batches downloaded as CSV, the event rules that issue it
and the guides' quotas of it (the same calls as the API's ``/coupon-templates/{id}``,
``/issue-jobs``, ``/codes``, ``/coupon-event-rules`` and ``/guide-quotas``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select

from shoplet.console.forms import whole_number, yuan_to_fen
from shoplet.console.web import PageError, Viewer, attempt, check_csrf, redirect, render, require
from shoplet.coupons import issuing, redemption
from shoplet.coupons import service as coupons
from shoplet.coupons.models import CouponCode, CouponEventRule, CouponIssueJob, CouponTemplate
from shoplet.coupons.schemas import CodeBatchIn, CouponTemplatePatch, EventRuleIn, Segment
from shoplet.errors import ShopletError
from shoplet.guides import service as guides
from shoplet.guides.models import GuideCouponQuota
from shoplet.scoping import get_owned, owned
from shoplet.tenancy.models import Role, Staff
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

SEGMENTS = ("everyone", "members", "light_members", "followers", "tags")
EVENTS = ("joined", "first_order", "order_at_least", "birthday")


def _template(session: Any, viewer: Viewer, template_id: str) -> CouponTemplate:
    try:
        return get_owned(
            session,
            CouponTemplate,
            viewer.tenant,
            template_id,
            what="Coupon template",
            code="coupon_template",
        )
    except ShopletError as error:
        raise PageError(404, error.detail) from None


def _batches(session: Any, merchant_id: str, template_id: str) -> list[tuple[str, int, int]]:
    """(batch id, codes, redeemed) of a template, oldest first."""
    return [
        (row[0], int(row[1]), int(row[2]))
        for row in session.execute(
            select(
                CouponCode.batch_id,
                func.count(),
                func.count(CouponCode.redeemed_at),
            )
            .where(owned(CouponCode, merchant_id), CouponCode.template_id == template_id)
            .group_by(CouponCode.batch_id)
            .order_by(CouponCode.batch_id)
        )
    ]


def _page(request: Request, viewer: Viewer, template_id: str, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        template = _template(s, viewer, template_id)
        figures = redemption.figures_of(s, merchant_id=viewer.tenant, templates=[template])[0]
        batches = _batches(s, viewer.tenant, template_id)
        rules = list(
            s.scalars(
                select(CouponEventRule)
                .where(owned(CouponEventRule, viewer.tenant), CouponEventRule.template_id == template_id)
                .order_by(CouponEventRule.created_at)
            )
        )
        quotas = {
            q.guide_id: q
            for q in s.scalars(
                select(GuideCouponQuota).where(
                    owned(GuideCouponQuota, viewer.tenant), GuideCouponQuota.template_id == template_id
                )
            )
        }
        guide_staff = list(
            s.scalars(
                select(Staff)
                .where(owned(Staff, viewer.tenant), Staff.role == Role.GUIDE, Staff.active.is_(True))
                .order_by(Staff.name)
            )
        )
        jobs = list(
            s.scalars(
                select(CouponIssueJob)
                .where(owned(CouponIssueJob, viewer.tenant), CouponIssueJob.template_id == template_id)
                .order_by(CouponIssueJob.created_at.desc())
                .limit(10)
            )
        )
    return render(
        request,
        viewer,
        "coupon.html",
        status=status,
        template=template,
        f=figures,
        batches=batches,
        jobs=jobs,
        rules=rules,
        quotas=quotas,
        guides=guide_staff,
        events=EVENTS,
        segments=SEGMENTS,
        **extra,
    )


@router.get("/coupons/{template_id}")
def coupon_page(request: Request, template_id: str) -> Response:
    return _page(request, require(request, "coupons"), template_id)


@router.post("/coupons/{template_id}/issue-jobs")
async def start_job(request: Request, template_id: str) -> Response:
    viewer = require(request, "coupons")
    form = await check_csrf(request, viewer)
    tags = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
    rt = request.app.state.runtime
    try:
        segment = Segment.model_validate({"kind": form.get("segment", "everyone"), "tags": tags})
        with rt.db.unit_of_work() as s:
            _template(s, viewer, template_id)
            job = issuing.start_issue_job(
                s,
                merchant_id=viewer.tenant,
                template_id=template_id,
                segment=segment.model_dump(),
                now=rt.clock(),
            )
            job_id = job.id
    except ValidationError:
        return _page(request, viewer, template_id, status=422, job_error="Choose a segment (tags: up to 50).")
    except ShopletError as error:
        return _page(request, viewer, template_id, status=error.status, job_error=error.detail)
    return job_progress(request, template_id, job_id)


@router.get("/coupons/{template_id}/issue-jobs/{job_id}")
def job_progress(request: Request, template_id: str, job_id: str) -> Response:
    """The progress fragment; while the job runs it asks again every second (HTMX polling)."""
    viewer = require(request, "coupons")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        job = s.get(CouponIssueJob, (viewer.tenant, job_id))
        if job is None or job.template_id != template_id:
            raise PageError(404, "No such issue job.")
    return render(request, viewer, "coupon_job.html", template_id=template_id, job=job)


@router.post("/coupons/{template_id}/codes")
async def make_codes(request: Request, template_id: str) -> Response:
    viewer = require(request, "coupons")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    count = form.get("count", "").strip()
    try:
        body = CodeBatchIn.model_validate({"count": int(count) if count.isdigit() else -1})
        with rt.db.unit_of_work() as s:
            _template(s, viewer, template_id)
            batch = issuing.generate_codes(
                s, merchant_id=viewer.tenant, template_id=template_id, count=body.count, now=rt.clock()
            )
    except ValidationError:
        return _page(
            request, viewer, template_id, status=422, codes_error="Give a number of codes from 1 to 100,000."
        )
    except ShopletError as error:
        return _page(request, viewer, template_id, status=error.status, codes_error=error.detail)
    return _page(request, viewer, template_id, status=201, new_batch=batch)


@router.get("/coupons/{template_id}/codes.csv")
def codes_csv(request: Request, template_id: str, batch: str = "") -> Response:
    viewer = require(request, "coupons")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        _template(s, viewer, template_id)
        text = issuing.export_codes(
            s, merchant_id=viewer.tenant, template_id=template_id, batch_id=batch[:32] or None
        )
    name = f"{template_id}-{batch[:32]}" if batch else template_id
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-codes.csv"'},
    )


def _settle(request: Request, viewer: Viewer, template_id: str, work, error_key: str) -> Response:
    """Run a change to this template; back to its page, or the page with the problem."""

    def checked(s, now):
        _template(s, viewer, template_id)
        work(s, now)

    refused = attempt(request, checked)
    if refused is not None:
        return _page(request, viewer, template_id, status=refused.status, **{error_key: refused.detail})
    return redirect(f"/console/coupons/{template_id}", request)


@router.post("/coupons/{template_id}/edit")
async def edit_template(request: Request, template_id: str) -> Response:
    """Name and limits; issued coupons keep the rule they were issued with."""
    viewer = require(request, "coupons")
    form = await check_csrf(request, viewer)
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {  # a blank limit is no limit; a blank name keeps the name
        "total_stock": whole_number(form.get("total_stock", ""), "total_stock", errors),
        "per_customer_limit": whole_number(form.get("per_customer_limit", ""), "per_customer_limit", errors),
        "per_day_limit": whole_number(form.get("per_day_limit", ""), "per_day_limit", errors),
        "budget": yuan_to_fen(form.get("budget", ""), "budget", errors),
    }
    if form.get("name", "").strip():
        fields["name"] = form["name"].strip()
    patch = None
    if not errors:
        try:
            patch = CouponTemplatePatch.model_validate(fields)
        except ValidationError as exc:
            for err in exc.errors():
                errors.setdefault(str(err["loc"][0]) if err.get("loc") else "form", str(err.get("msg")))
    if patch is None:
        message = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return _page(request, viewer, template_id, status=422, edit_error=message)

    def work(s, now):
        coupons.update_template(
            s,
            merchant_id=viewer.tenant,
            template_id=template_id,
            changes=coupons.request_fields(s, viewer.tenant, patch),
            now=now,
        )

    return _settle(request, viewer, template_id, work, "edit_error")


@router.post("/coupons/{template_id}/event-rules")
async def add_event_rule(request: Request, template_id: str) -> Response:
    viewer = require(request, "coupons")
    form = await check_csrf(request, viewer)
    errors: dict[str, str] = {}
    minimum = yuan_to_fen(form.get("min_order_amount", ""), "min_order_amount", errors)
    try:
        body = EventRuleIn.model_validate(
            {"event": form.get("event", ""), "template_id": template_id, "min_order_amount": minimum}
        )
    except ValidationError:
        errors["event"] = "Choose an event (and, for 'order at least', the amount)."
    if errors:
        return _page(request, viewer, template_id, status=422, rule_error=next(iter(errors.values())))

    def work(s, now):
        issuing.create_rule(
            s,
            merchant_id=viewer.tenant,
            event=body.event,
            template_id=template_id,
            min_order_amount=body.min_order_amount,
            now=now,
        )

    return _settle(request, viewer, template_id, work, "rule_error")


@router.post("/coupons/{template_id}/event-rules/{rule_id}/deactivate")
async def stop_event_rule(request: Request, template_id: str, rule_id: str) -> Response:
    viewer = require(request, "coupons")
    await check_csrf(request, viewer)
    return _settle(
        request,
        viewer,
        template_id,
        lambda s, now: issuing.deactivate_rule(s, merchant_id=viewer.tenant, rule_id=rule_id),
        "rule_error",
    )


@router.post("/coupons/{template_id}/quotas/{guide_id}")
async def set_quota(request: Request, template_id: str, guide_id: str) -> Response:
    viewer = require(request, "coupons")
    form = await check_csrf(request, viewer)
    quota = form.get("quota", "").strip()
    if not quota.isdigit() or int(quota) > 1_000_000:
        return _page(
            request, viewer, template_id, status=422, quota_error="A quota is a whole number of coupons."
        )
    return _settle(
        request,
        viewer,
        template_id,
        lambda s, now: guides.set_quota(
            s,
            merchant_id=viewer.tenant,
            template_id=template_id,
            guide_id=guide_id,
            quota=int(quota),
            now=now,
        ),
        "quota_error",
    )
