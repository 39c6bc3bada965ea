"""The home dashboard: today against yesterday, the month's trend, the default funnel, the
retention heat map, GMV by store and by host app, and what is waiting to be done."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shoplet.analytics import figures
from shoplet.analytics import service as analytics
from shoplet.analytics.calendar import local_day
from shoplet.analytics.figures import Source
from shoplet.console.web import render, require
from shoplet.reports import todo
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

TREND_DAYS = 30


def _day_cards(source: Source, day: date) -> dict[str, int]:
    after = day + timedelta(days=1)
    sales = figures.sales(source, day, after, "all").total
    active = figures.active(source, day, after, "day").points
    return {
        "gmv": sales.gmv,
        "orders": sales.orders,
        "visitors": active[0].customers if active else 0,
        "new_customers": figures.new_customers(source, day, after).total,
        "coupons_used": sum(source.sums(day, after, "coupon_used", "template").values()),  # kept per template
    }


def dashboard(session: Any, rt: Any, merchant_id: str) -> dict[str, Any]:
    """Everything the home page shows, from the analytics figures (rollups or ClickHouse)."""
    source = analytics.source_for(session, merchant_id, rt.warehouse)
    tz = analytics.check_zone(session, merchant_id, None)
    today = local_day(rt.clock(), tz)
    since, until = today - timedelta(days=TREND_DAYS - 1), today + timedelta(days=1)
    days = [since + timedelta(days=n) for n in range(TREND_DAYS)]
    daily_gmv = [sum(source.sums(d, d + timedelta(days=1), "gmv", "all").values()) for d in days]
    active = {p.period: p.customers for p in figures.active(source, since, until, "day").points}
    funnel = figures.funnel(source, since, until, [str(k) for k in figures.DEFAULT_FUNNEL])
    retention = figures.retention(source, since, until, list(figures.DEFAULT_OFFSETS), today)
    by_store = analytics.named_sales(session, merchant_id, figures.sales(source, since, until, "store"))
    by_host = figures.sales(source, since, until, "host_app")
    cohorts = [c for c in retention.cohorts if c.customers]
    charts = {
        "trend": {
            "days": [d.isoformat() for d in days],
            "gmv": [round(v / 100, 2) for v in daily_gmv],
            "visitors": [active.get(d, 0) for d in days],
        },
        "funnel": [{"step": s.step, "journeys": s.journeys} for s in funnel.steps],
        "retention": {  # the days on which somebody new came
            "offsets": retention.offsets,
            "cohorts": [c.day.isoformat() for c in cohorts],
            "sizes": [c.customers for c in cohorts],
            "rates": [[None if r is None else round(r * 100, 1) for r in c.rates] for c in cohorts],
        },
        "by_store": [{"name": r.name or r.key or "–", "gmv": round(r.gmv / 100, 2)} for r in by_store.rows],
        "by_host": [{"name": r.key or "–", "gmv": round(r.gmv / 100, 2)} for r in by_host.rows],
    }
    return {
        "today": _day_cards(source, today),
        "yesterday": _day_cards(source, today - timedelta(days=1)),
        "since": since,
        "until": until,
        "engine": source.name,
        "funnel": funnel,
        "by_store": by_store,
        "by_host": by_host,
        "charts": json.dumps(charts).replace("<", "\\u003c"),  # safe inside <script>
    }


@router.get("/home")
def home(request: Request) -> Response:
    viewer = require(request, "home")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        data = dashboard(s, rt, viewer.tenant)
        counters = todo.counts(s, merchant_id=viewer.tenant)
    return render(request, viewer, "home.html", todo=counters, **data)
