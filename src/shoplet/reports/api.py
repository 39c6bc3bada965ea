"""Reports for the merchant's operators: revenue, refunds and commissions per store and per
guide."""

from __future__ import annotations

from fastapi import APIRouter

from shoplet.auth import AsOperator, Db
from shoplet.periods import PeriodQuery
from shoplet.reports import service
from shoplet.reports.schemas import GuideReportOut, StoreFiguresOut
from shoplet.tenancy.service import zone
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/reports", tags=["reports"])


@router.get("/stores", response_model=list[StoreFiguresOut])
def stores(p: AsOperator, db: Db, period: PeriodQuery) -> list[StoreFiguresOut]:
    """Each store and warehouse, direct or franchise: orders paid in [since, until), revenue,
    refunds and guide commission."""
    with db.unit_of_work(write=False) as s:
        since, until = period.resolve(zone(s, p.tenant))
        return service.by_store(s, merchant_id=p.tenant, since=since, until=until)


@router.get("/guides", response_model=list[GuideReportOut])
def guides(p: AsOperator, db: Db, period: PeriodQuery) -> list[GuideReportOut]:
    """Each shopping guide with attributed orders paid in [since, until)."""
    with db.unit_of_work(write=False) as s:
        since, until = period.resolve(zone(s, p.tenant))
        return service.by_guide(s, merchant_id=p.tenant, since=since, until=until)
