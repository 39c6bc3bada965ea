"""Local days, weeks and months of a merchant's time zone, and their bounds in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

GRAINS = ("day", "week", "month")


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of a local day, in UTC (a DST day may be 23 or 25 hours long)."""
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end


def range_bounds(since: date, until: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return day_bounds(since, zone)[0], day_bounds(until, zone)[0]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_period(start: date, grain: str) -> date:
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_start(day: date, grain: str) -> date:
    if grain == "week":
        return week_start(day)
    if grain == "month":
        return month_start(day)
    return day


def periods(since: date, until: date, grain: str) -> list[date]:
    """The starts of the calendar periods of ``grain`` that overlap ``[since, until)``."""
    out, start = [], period_start(since, grain)
    while start < until:
        out.append(start)
        start = next_period(start, grain)
    return out


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days)]
