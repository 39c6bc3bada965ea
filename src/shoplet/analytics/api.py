"""Figures for the merchant's operators, over local days ``[since, until)`` (default: the
last 30 days, today included). Definitions: docs/analytics.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Query

from shoplet.analytics import figures, service
from shoplet.analytics.calendar import local_day
from shoplet.analytics.schemas import (
    ActiveOut,
    BeforeAfterOut,
    CouponUseRow,
    DashboardOut,
    FunnelOut,
    GuideRow,
    LightFiguresOut,
    NewCustomersOut,
    RepeatOut,
    RetentionOut,
    SalesOut,
)
from shoplet.analytics.service import DayRange
from shoplet.auth import AsOperator, Db, Now, Rt
from shoplet.inventory.models import StockLocation
from shoplet.scoping import get_owned

router = APIRouter(prefix="/analytics", tags=["analytics"])

T = TypeVar("T")

SINCE = Query(None, max_length=10, description="First local day (YYYY-MM-DD); default: 30 days before until.")
UNTIL = Query(None, max_length=10, description="Day after the last (YYYY-MM-DD); default: tomorrow.")
TZ = Query(None, max_length=64, description="Optional: must be the shop's own time zone.")


def _answer(
    p: Any,
    db: Any,
    rt: Any,
    now: Any,
    since: str | None,
    until: str | None,
    tz: str | None,
    grain: str,
    work: Callable[..., T],
) -> T:
    with db.unit_of_work(write=False) as s:
        zone = service.check_zone(s, p.tenant, tz)
        r = service.day_range(since, until, tz=zone, now=now, grain=grain)
        return work(s, service.source_for(s, p.tenant, rt.warehouse), r)


@router.get("/active-customers", response_model=ActiveOut)
def active_customers(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
    grain: str = Query("day", max_length=8, description="day, week or month"),
) -> ActiveOut:
    """DAU, WAU or MAU: distinct customers with any event in each day, week (from Monday) or
    month overlapping the range."""
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        grain,
        lambda s, src, r: figures.active(src, r.since, r.until, grain),
    )


@router.get("/new-customers", response_model=NewCustomersOut)
def new_customers(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
) -> NewCustomersOut:
    """Customers first seen in the range, by the host app and entry scene they came by."""
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: figures.new_customers(src, r.since, r.until),
    )


@router.get("/retention", response_model=RetentionOut)
def retention(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
    offsets: str | None = Query(None, max_length=40, description="Days after, e.g. 1,7,30 (the default)."),
) -> RetentionOut:
    """Cohorts by first day: of each day's new customers, those active again 1, 7, 30 days later."""
    wanted = service.offsets_of(offsets)
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: figures.retention(src, r.since, r.until, wanted, r.today),
    )


@router.get("/funnel", response_model=FunnelOut)
def funnel(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
    steps: str | None = Query(
        None,
        max_length=300,
        description="Event kinds in order (default: visit,coupon.claimed,order.placed,order.paid).",
    ),
) -> FunnelOut:
    """Customers who did the steps in order within one local day, and the drop at each step."""
    wanted = service.steps_of(steps)
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: figures.funnel(src, r.since, r.until, wanted),
    )


@router.get("/coupons", response_model=list[CouponUseRow])
def coupon_use(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
) -> list[CouponUseRow]:
    """Use rate (核销率) per coupon template: of the coupons claimed in the range, the uses
    (online or verified in store) and expiries so far."""

    def work(s, src, r: DayRange) -> list[CouponUseRow]:
        rows = figures.coupons(src, r.since, r.until)
        names = service.template_names(s, p.tenant, [c.template_id for c in rows])
        return [c.model_copy(update={"name": names.get(c.template_id)}) for c in rows]

    return _answer(p, db, rt, now, since, until, tz, "day", work)


@router.get("/sales", response_model=SalesOut)
def sales(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
    by: str = Query("store", max_length=16, description="store, host_app, guide or all"),
) -> SalesOut:
    """GMV, orders, average order value and refunds (of these orders) by store, host app or guide."""
    dim = service.dimension_of(by)
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: service.named_sales(s, p.tenant, figures.sales(src, r.since, r.until, dim)),
    )


@router.get("/repeat-purchase", response_model=RepeatOut)
def repeat_purchase(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
) -> RepeatOut:
    """Of the customers who paid in the range, the share who paid two or more orders."""
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: figures.repeat_purchase(src, r.since, r.until),
    )


@router.get("/light-memberships", response_model=LightFiguresOut)
def light_memberships(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
) -> LightFiguresOut:
    """Light memberships joined, periods settled (charged or owed nothing) and gone overdue, the
    fees charged against the benefits enjoyed."""
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: figures.light_memberships(src, r.since, r.until),
    )


@router.get("/guides", response_model=list[GuideRow])
def guide_leaderboard(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
    top: int = Query(20, ge=1, le=100, description="How many guides, best first."),
) -> list[GuideRow]:
    """Guides ranked by the GMV of the orders attributed to them, with commission and bindings."""

    def work(s, src, r: DayRange) -> list[GuideRow]:
        rows = figures.guides(src, r.since, r.until, top)
        names = service.staff_names(s, p.tenant, [g.guide_id for g in rows])
        return [g.model_copy(update={"name": names.get(g.guide_id)}) for g in rows]

    return _answer(p, db, rt, now, since, until, tz, "day", work)


@router.get("/stores/{store_id}/before-after", response_model=BeforeAfterOut)
def store_before_after(
    store_id: str,
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    date: str | None = Query(
        None,
        max_length=10,
        description="The day it changed, YYYY-MM-DD (e.g. it started pickup or delivery); default: it opened here.",
    ),
    days: int = Query(30, ge=1, le=183, description="Days compared on each side."),
    tz: str | None = TZ,
) -> BeforeAfterOut:
    """A store's revenue in the ``days`` before a date and the ``days`` from it."""
    with db.unit_of_work(write=False) as s:
        store = get_owned(s, StockLocation, p.tenant, store_id, what="Store", code="store")
        zone = service.check_zone(s, p.tenant, tz)
        day = service.parse_day(date, "date") if date else local_day(store.created_at, zone)
        return figures.before_after(service.source_for(s, p.tenant, rt.warehouse), store_id, day, days)


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
    figures_: str | None = Query(
        None,
        alias="figures",
        max_length=300,
        description=f"Figures, comma separated (default: all of {', '.join(service.DASHBOARD)}).",
    ),
) -> DashboardOut:
    """Several figures over one range in one request (the console's home page)."""
    names = service.figures_of(figures_)
    return _answer(
        p,
        db,
        rt,
        now,
        since,
        until,
        tz,
        "day",
        lambda s, src, r: service.dashboard(s, src, p.tenant, r, names),
    )
