"""Reports for the merchant's operators: revenue, refunds and commissions per store and per
guide (O5)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends

from shoplet.auth import Principal, get_db, require_staff
from shoplet.db import Database
from shoplet.reports import service
from shoplet.reports.schemas import GuideReportOut, StoreFiguresOut

router = APIRouter(prefix="/reports", tags=["reports"])
reader = require_staff("operator")


@router.get("/stores", response_model=list[StoreFiguresOut])
def stores(p: Principal = Depends(reader), db: Database = Depends(get_db), since: datetime | None = None,
           until: datetime | None = None) -> list[StoreFiguresOut]:
    """Each store and warehouse, direct or franchise: orders paid in [since, until), revenue,
    refunds and guide commission."""
    with db.unit_of_work(write=False) as s:
        return [StoreFiguresOut(**row) for row in service.by_store(s, merchant_id=p.tenant, since=since, until=until)]


@router.get("/guides", response_model=list[GuideReportOut])
def guides(p: Principal = Depends(reader), db: Database = Depends(get_db), since: datetime | None = None,
           until: datetime | None = None) -> list[GuideReportOut]:
    """Each shopping guide with attributed orders paid in [since, until)."""
    with db.unit_of_work(write=False) as s:
        return [GuideReportOut(**row) for row in service.by_guide(s, merchant_id=p.tenant, since=since, until=until)]
