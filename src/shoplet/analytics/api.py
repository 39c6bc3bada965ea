"""Figures for the merchant's operators, over local days ``[since, until)`` (default: the
last 30 days, today included). Definitions: docs/analytics.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from shoplet.analytics import figures, service
from shoplet.analytics.calendar import local_day
from shoplet.analytics.figures import Source
from shoplet.analytics.schemas import (
    ActiveOut,
    BeforeAfterOut,
    CouponUseRow,
    DashboardOut,
    FunnelOut,
    GuideRow,
    LightMembershipFiguresOut,
    NewCustomersOut,
    RepeatOut,
    RetentionOut,
    SalesOut,
)
from shoplet.analytics.service import DayRange
from shoplet.auth import AsOperator, Db, Now, Rt
from shoplet.inventory.models import StockLocation
from shoplet.scoping import get_owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/analytics", tags=["analytics"])

T = TypeVar("T")

SINCE = Query(None, max_length=10, description="First local day (YYYY-MM-DD); default: 30 days before until.")
UNTIL = Query(None, max_length=10, description="Day after the last (YYYY-MM-DD); default: tomorrow.")
TZ = Query(None, max_length=64, description="Optional: must be the shop's own time zone.")


@dataclass(frozen=True)
class Ask:
    """One request for figures: the operator, where to read, and the range as written."""

    tenant: str
    db: Any
    warehouse: Any
    now: datetime
    since: str | None
    until: str | None
    tz: str | None

    def answer(self, work: Callable[[Session, Source, DayRange], T], *, grain: str = "day") -> T:
        """Check the range, pick the engine, and compute ``work`` in one read-only transaction."""
        with self.db.unit_of_work(write=False) as s:
            zone = service.check_zone(s, self.tenant, self.tz)
            r = service.day_range(self.since, self.until, tz=zone, now=self.now, grain=grain)
            return work(s, service.source_for(s, self.tenant, self.warehouse), r)


async def ask(
    p: AsOperator,
    db: Db,
    rt: Rt,
    now: Now,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    tz: str | None = TZ,
) -> Ask:
    return Ask(tenant=p.tenant, db=db, warehouse=rt.warehouse, now=now, since=since, until=until, tz=tz)


AskQuery = Annotated[Ask, Depends(ask)]
"""``q: AskQuery`` — an operator's question over ``since`` / ``until`` (and ``tz``)."""


@router.get("/active-customers", response_model=ActiveOut)
def active_customers(
    q: AskQuery, grain: str = Query("day", max_length=8, description="day, week or month")
) -> ActiveOut:
    """DAU, WAU or MAU: distinct customers with any event in each day, week (from Monday) or
    month overlapping the range."""
    return q.answer(lambda s, src, r: figures.active(src, r.since, r.until, grain), grain=grain)


@router.get("/new-customers", response_model=NewCustomersOut)
def new_customers(q: AskQuery) -> NewCustomersOut:
    """Customers first seen in the range, by the host app and entry scene they came by."""
    return q.answer(lambda s, src, r: figures.new_customers(src, r.since, r.until))


@router.get("/retention", response_model=RetentionOut)
def retention(
    q: AskQuery,
    offsets: str | None = Query(None, max_length=40, description="Days after, e.g. 1,7,30 (the default)."),
) -> RetentionOut:
    """Cohorts by first day: of each day's new customers, those active again 1, 7, 30 days later."""
    wanted = service.offsets_of(offsets)
    return q.answer(lambda s, src, r: figures.retention(src, r.since, r.until, wanted, r.today))


@router.get("/funnel", response_model=FunnelOut)
def funnel(
    q: AskQuery,
    steps: str | None = Query(
        None,
        max_length=300,
        description="Event kinds in order (default: visit,coupon.claimed,order.placed,order.paid).",
    ),
) -> FunnelOut:
    """Journeys (a customer's local day) that did the steps in order, and the drop at each step."""
    wanted = service.steps_of(steps)
    return q.answer(lambda s, src, r: figures.funnel(src, r.since, r.until, wanted))


@router.get("/coupons", response_model=list[CouponUseRow])
def coupon_use(q: AskQuery) -> list[CouponUseRow]:
    """Use rate (核销率) per coupon template: of the coupons claimed in the range, the uses
    (online or verified in store) and expiries so far."""

    def work(s: Session, src: Source, r: DayRange) -> list[CouponUseRow]:
        rows = figures.coupons(src, r.since, r.until)
        names = service.template_names(s, q.tenant, [c.template_id for c in rows])
        return [c.model_copy(update={"name": names.get(c.template_id)}) for c in rows]

    return q.answer(work)


@router.get("/sales", response_model=SalesOut)
def sales(
    q: AskQuery, by: str = Query("store", max_length=16, description="store, host_app, guide or all")
) -> SalesOut:
    """GMV, orders, average order value and refunds (of these orders) by store, host app or guide."""
    dim = service.dimension_of(by)
    return q.answer(
        lambda s, src, r: service.named_sales(s, q.tenant, figures.sales(src, r.since, r.until, dim))
    )


@router.get("/repeat-purchase", response_model=RepeatOut)
def repeat_purchase(q: AskQuery) -> RepeatOut:
    """Of the customers who paid in the range, the share who paid two or more orders."""
    return q.answer(lambda s, src, r: figures.repeat_purchase(src, r.since, r.until))


@router.get("/light-memberships", response_model=LightMembershipFiguresOut)
def light_memberships(q: AskQuery) -> LightMembershipFiguresOut:
    """Light memberships joined, periods settled (charged or owed nothing) and gone overdue, the
    fees charged against the benefits enjoyed."""
    return q.answer(lambda s, src, r: figures.light_memberships(src, r.since, r.until))


@router.get("/guides", response_model=list[GuideRow])
def guide_leaderboard(
    q: AskQuery, top: int = Query(20, ge=1, le=100, description="How many guides, best first.")
) -> list[GuideRow]:
    """Guides ranked by the GMV of the orders attributed to them, with commission and bindings."""

    def work(s: Session, src: Source, r: DayRange) -> list[GuideRow]:
        rows = figures.guides(src, r.since, r.until, top)
        names = service.staff_names(s, q.tenant, [g.guide_id for g in rows])
        return [g.model_copy(update={"name": names.get(g.guide_id)}) for g in rows]

    return q.answer(work)


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
    q: AskQuery,
    figures_: str | None = Query(
        None,
        alias="figures",
        max_length=300,
        description=f"Figures, comma separated (default: all of {', '.join(service.DASHBOARD)}).",
    ),
) -> DashboardOut:
    """Several figures over one range in one request (the console's home page)."""
    names = service.figures_of(figures_)
    return q.answer(lambda s, src, r: service.dashboard(s, src, q.tenant, r, names))
