"""Asking for figures: the range and options a request names, checked, and the engine that
answers (ClickHouse when configured, the rollups otherwise)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shoplet.analytics import figures
from shoplet.analytics.calendar import GRAINS, local_day
from shoplet.analytics.clickhouse import ClickHouseSource, Warehouse
from shoplet.analytics.embedded import RollupSource
from shoplet.analytics.figures import DEFAULT_FUNNEL, DEFAULT_OFFSETS, SALES_DIMENSIONS, Source
from shoplet.analytics.rollups import MAX_OFFSET
from shoplet.analytics.schemas import DashboardOut
from shoplet.coupons.models import CouponTemplate
from shoplet.errors import InvalidInput
from shoplet.events import CODES
from shoplet.inventory.models import StockLocation
from shoplet.scoping import owned
from shoplet.tenancy.models import Merchant, Staff
from shoplet.tenancy.service import zone

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_DAYS = 30
MAX_DAYS = {"day": 366, "week": 5 * 366, "month": 5 * 366}
MAX_STEPS = 8
DASHBOARD = (
    "mau",
    "dau",
    "retention",
    "funnel",
    "sales_by_store",
    "new_customers",
    "coupons",
    "repeat_purchase",
    "light_memberships",
    "guides",
)
HOME = ("mau", "retention", "funnel", "sales_by_store")
"""The home dashboard's figures (what ``bench/analytics.py`` times)."""


@dataclass(frozen=True)
class DayRange:
    """Local days ``[since, until)`` and the merchant's today."""

    since: date
    until: date
    today: date


def parse_day(value: str, name: str) -> date:
    try:
        if not _DATE.match(value):
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "analytics.bad_date", f"'{name}' must be a date, YYYY-MM-DD.", parameter=name
        ) from None
    if not 2000 <= parsed.year <= 2100:
        raise InvalidInput("analytics.bad_date", f"'{name}' must be between 2000 and 2100.", parameter=name)
    return parsed


def check_zone(session: Session, merchant_id: str, tz: str | None) -> ZoneInfo:
    """The merchant's zone; a ``tz`` given must be a real zone and the merchant's own (the
    rollups are kept by the merchant's local days)."""
    own = zone(session, merchant_id)
    if tz is None:
        return own
    try:
        asked = ZoneInfo(tz)
    except (ValueError, KeyError, OSError):
        raise InvalidInput(
            "analytics.unknown_time_zone", f"There is no time zone '{tz}'.", parameter="tz"
        ) from None
    if str(asked) != str(own):
        raise InvalidInput(
            "analytics.other_time_zone",
            f"Figures are kept by the shop's local days ({own}); ask in that time zone or leave tz out.",
            parameter="tz",
        )
    return own


def day_range(
    since: str | None, until: str | None, *, tz: ZoneInfo, now: datetime, grain: str = "day"
) -> DayRange:
    """The range asked for (default: the last 30 days, today included), checked."""
    if grain not in GRAINS:
        raise InvalidInput(
            "analytics.unknown_grain", f"'grain' must be one of {', '.join(GRAINS)}.", parameter="grain"
        )
    today = local_day(now, tz)
    end = parse_day(until, "until") if until else today + timedelta(days=1)
    start = parse_day(since, "since") if since else end - timedelta(days=DEFAULT_DAYS)
    if end <= start:
        raise InvalidInput("analytics.bad_range", "'until' must be after 'since'.", parameter="until")
    if (end - start).days > MAX_DAYS[grain]:
        raise InvalidInput(
            "analytics.range_too_long",
            f"A range by {grain} may cover at most {MAX_DAYS[grain]} days; ask for a shorter one or a coarser grain.",
            parameter="since",
        )
    return DayRange(since=start, until=end, today=today)


def steps_of(text: str | None) -> list[str]:
    if not text:
        return [str(k) for k in DEFAULT_FUNNEL]
    steps = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in steps if s not in CODES]
    if unknown:
        raise InvalidInput(
            "analytics.unknown_step",
            f"'{unknown[0]}' is not an event; steps are among: {', '.join(CODES)}.",
            parameter="steps",
        )
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidInput("analytics.bad_steps", f"A funnel has 1 to {MAX_STEPS} steps.", parameter="steps")
    if any(a == b for a, b in zip(steps, steps[1:], strict=False)):
        raise InvalidInput(
            "analytics.repeated_step", "A step cannot follow itself; name another event.", parameter="steps"
        )
    return steps


def offsets_of(text: str | None) -> list[int]:
    if not text:
        return list(DEFAULT_OFFSETS)
    try:
        offsets = [int(x) for x in text.split(",")]
    except ValueError:
        offsets = []
    if not offsets or len(offsets) > 10 or any(not 1 <= k <= MAX_OFFSET for k in offsets):
        raise InvalidInput(
            "analytics.bad_offsets",
            f"'offsets' are 1 to 10 day counts between 1 and {MAX_OFFSET}, separated by commas.",
            parameter="offsets",
        )
    return sorted(set(offsets))


def dimension_of(by: str) -> str:
    if by not in SALES_DIMENSIONS:
        raise InvalidInput(
            "analytics.unknown_dimension",
            f"'by' must be one of {', '.join(SALES_DIMENSIONS)}.",
            parameter="by",
        )
    return by


def figures_of(text: str | None) -> list[str]:
    if not text:
        return list(DASHBOARD)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DASHBOARD]
    if unknown or not names:
        raise InvalidInput(
            "analytics.unknown_figure",
            f"'{unknown[0] if unknown else text}' is not a figure; figures are: {', '.join(DASHBOARD)}.",
            parameter="figures",
        )
    return names


def source_for(session: Session, merchant_id: str, warehouse: Warehouse | None) -> Source:
    if warehouse is None:
        return RollupSource(session, merchant_id)
    merchant = session.get_one(Merchant, merchant_id)
    return ClickHouseSource(warehouse, merchant_id, merchant.timezone)


def template_names(session: Session, merchant_id: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(CouponTemplate.id, CouponTemplate.name).where(
            owned(CouponTemplate, merchant_id), CouponTemplate.id.in_(ids)
        )
    )
    return {key: name for key, name in rows}


def staff_names(session: Session, merchant_id: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(select(Staff.id, Staff.name).where(owned(Staff, merchant_id), Staff.id.in_(ids)))
    return {key: name for key, name in rows}


_LOCATION_NAMES = select(StockLocation.id, StockLocation.name).where(
    owned(StockLocation, bindparam("m")), StockLocation.id.in_(bindparam("ids", expanding=True))
)  # built once: the home dashboard reads it every time


def location_names(session: Session, merchant_id: str, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {key: name for key, name in session.execute(_LOCATION_NAMES, {"m": merchant_id, "ids": ids})}


def named_sales(session: Session, merchant_id: str, out: Any) -> Any:
    """Put store and guide names on a sales figure (a read of the names, after the figure)."""
    keys = [r.key for r in out.rows if r.key]
    names = (
        location_names(session, merchant_id, keys)
        if out.by == "store"
        else staff_names(session, merchant_id, keys)
        if out.by == "guide"
        else {}
    )
    for row in out.rows:
        row.name = names.get(row.key or "")
    return out


def dashboard(
    session: Session, source: Source, merchant_id: str, r: DayRange, names: list[str]
) -> DashboardOut:
    """The figures asked for over one range (the console's home page)."""
    out = DashboardOut(since=r.since, until=r.until, engine=source.name)
    prefetch = getattr(source, "prefetch", None)
    if prefetch is not None:  # the rollups read the day sums of every figure asked for at once
        prefetch(r.since, r.until, [*figures.SALES_METRICS, "journeys"], ["store", "all", "funnel"])
    for name in names:
        if name == "mau":
            out.mau = figures.active(source, r.since, r.until, "month")
        elif name == "dau":
            out.dau = figures.active(source, r.since, r.until, "day")
        elif name == "retention":
            out.retention = figures.retention(source, r.since, r.until, list(DEFAULT_OFFSETS), r.today)
        elif name == "funnel":
            out.funnel = figures.funnel(source, r.since, r.until, [str(k) for k in DEFAULT_FUNNEL])
        elif name == "sales_by_store":
            out.sales_by_store = named_sales(
                session, merchant_id, figures.sales(source, r.since, r.until, "store")
            )
        elif name == "new_customers":
            out.new_customers = figures.new_customers(source, r.since, r.until)
        elif name == "coupons":
            rows = figures.coupons(source, r.since, r.until)
            names_ = template_names(session, merchant_id, [c.template_id for c in rows])
            out.coupons = [c.model_copy(update={"name": names_.get(c.template_id)}) for c in rows]
        elif name == "repeat_purchase":
            out.repeat_purchase = figures.repeat_purchase(source, r.since, r.until)
        elif name == "light_memberships":
            out.light_memberships = figures.light_memberships(source, r.since, r.until)
        elif name == "guides":
            rows_ = figures.guides(source, r.since, r.until, 10)
            who = staff_names(session, merchant_id, [g.guide_id for g in rows_])
            out.guides = [g.model_copy(update={"name": who.get(g.guide_id)}) for g in rows_]
    return out
