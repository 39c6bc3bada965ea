"""A coupon template's page: its figures, issuing it to a segment as a job with a live
progress bar, and code batches downloaded as CSV (the same calls as the API's
``/coupon-templates/{id}/issue-jobs`` and ``/codes``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import func, select

from shoplet.console.web import PageError, Viewer, check_csrf, render, require
from shoplet.coupons import issuing, redemption
from shoplet.coupons.models import CouponCode, CouponIssueJob, CouponTemplate
from shoplet.coupons.schemas import CodeBatchIn, Segment
from shoplet.errors import ShopletError
from shoplet.scoping import get_owned, owned

router = APIRouter(prefix="/console")

SEGMENTS = ("everyone", "members", "light_members", "followers", "tags")


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
