"""Opening hours and distances: validating a store's hours, whether it is open at a local
time, great-circle distance. Pure functions, shared by the store schemas, the nearby search
and fulfilment."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from shoplet.schemas import zone_named

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Great-circle distance (haversine) in whole metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(math.sqrt(a)))


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def check_hours(hours: dict[str, Any]) -> dict[str, list[str]]:
    """Opening hours as ``{"mon": ["07:30", "21:00"], ...}``; a closing time at or before the
    opening time runs past midnight (``["18:00", "02:00"]``); ``["00:00", "24:00"]`` is all
    day; a missing day is closed. Raises ValueError with a sentence when malformed."""
    clean = {}
    for day, span in hours.items():
        if day not in DAYS:
            raise ValueError(f"'{day}' is not a day; use {', '.join(DAYS)}")
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(t, str) for t in span)):
            raise ValueError(f'{day}: give [opening, closing] as two "HH:MM" times')
        for t in span:
            parts = t.split(":")
            if (
                len(parts) != 2
                or not all(p.isdigit() and len(p) == 2 for p in parts)
                or not (0 <= int(parts[0]) <= 24 and 0 <= int(parts[1]) < 60)
                or _minutes(t) > 24 * 60
            ):
                raise ValueError(f"{day}: '{t}' is not a time of day (HH:MM)")
        if span[0] == span[1]:
            raise ValueError(f"{day}: opening and closing times are the same")
        clean[day] = list(span)
    return clean


def open_at(hours: dict[str, list[str]], local: datetime) -> bool | None:
    """Whether the store is open at a local time (None: hours are not set)."""
    if not hours:
        return None
    now = local.hour * 60 + local.minute
    today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
    if today in hours:
        start, end = (_minutes(t) for t in hours[today])
        if start < end and start <= now < end:
            return True
        if end <= start and now >= start:  # opened today, closes after midnight
            return True
    if yesterday in hours:
        start, end = (_minutes(t) for t in hours[yesterday])
        if end <= start and now < end:  # yesterday's late opening runs into today
            return True
    return False


def local_time(timezone: str, now: datetime) -> datetime:
    return now.astimezone(zone_named(timezone))
