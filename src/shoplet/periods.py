"""Date filters of reports and figures: ``?since=&until=`` as a date or a moment.

A date (``2026-11-01``) means midnight at the start of that day in the merchant's time
zone; a moment is ISO 8601 with an offset (``2026-11-01T08:00:00+08:00``). Anything
else, and anything outside 2000–2100, is a 422 ``request.bad_time``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Query

from shoplet.errors import InvalidInput
from shoplet.schemas import in_sane_range

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DESCRIPTION = (
    "A date (YYYY-MM-DD: midnight in the shop's time zone) or an ISO 8601 time with an offset, "
    "between 2000 and 2100."
)


def parse_moment(value: str, zone: ZoneInfo, *, name: str) -> datetime:
    """The moment a date filter names, in the merchant's ``zone`` for a plain date."""
    refused = InvalidInput(
        "request.bad_time",
        f"'{name}' must be a date (YYYY-MM-DD) or an ISO 8601 time with "
        f"an offset (e.g. 2026-11-01T08:00:00+08:00), between 2000 and 2100.",
        parameter=name,
    )
    try:
        if _DATE.match(value):
            moment = datetime.combine(date.fromisoformat(value), time(), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise refused from None
    if moment.tzinfo is None or moment.utcoffset() is None or not in_sane_range(moment):
        raise refused
    return moment


@dataclass(frozen=True)
class Period:
    """``[since, until)`` as the caller wrote them; :meth:`resolve` turns them into moments."""

    since: str | None
    until: str | None

    def resolve(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        since = parse_moment(self.since, zone, name="since") if self.since else None
        until = parse_moment(self.until, zone, name="until") if self.until else None
        return since, until


async def period_params(
    since: str | None = Query(None, max_length=40, description="From (inclusive). " + _DESCRIPTION),
    until: str | None = Query(None, max_length=40, description="Until (exclusive). " + _DESCRIPTION),
) -> Period:
    return Period(since=since, until=until)


PeriodQuery = Annotated[Period, Depends(period_params)]
"""``period: PeriodQuery`` — the ``since`` and ``until`` query parameters of a report."""
