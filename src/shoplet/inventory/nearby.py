"""Stores near me: by distance from the customer's coordinates, whether each is open
now in the merchant's time zone, and whether it has stock for the customer's cart."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.inventory.models import LocationKind, StockLevel, StockLocation
from shoplet.schemas import zone_named
from shoplet.scoping import owned
from shoplet.tenancy.models import Merchant

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


def nearby_stores(
    session: Session,
    *,
    merchant_id: str,
    latitude: float,
    longitude: float,
    items: dict[str, int],
    now: datetime,
    radius_m: int | None = None,
    open_only: bool = False,
    in_stock_only: bool = False,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Active stores with coordinates, nearest first, each with whether it is open now and
    whether it can supply every item (available = on hand − reserved)."""
    merchant = session.get(Merchant, merchant_id)
    local = local_time(merchant.timezone if merchant else "UTC", now)
    stores = session.scalars(
        select(StockLocation).where(
            owned(StockLocation, merchant_id),
            StockLocation.kind == LocationKind.STORE,
            StockLocation.active.is_(True),
            StockLocation.latitude.is_not(None),
            StockLocation.longitude.is_not(None),
        )
    ).all()
    available: dict[tuple[str, str], int] = {}
    if items and stores:
        for level in session.scalars(
            select(StockLevel).where(
                owned(StockLevel, merchant_id),
                StockLevel.sku_id.in_(list(items)),
                StockLevel.location_id.in_([s.id for s in stores]),
            )
        ):
            available[(level.location_id, level.sku_id)] = level.on_hand - level.reserved
    found = []
    for store in stores:
        assert store.latitude is not None and store.longitude is not None  # filtered above
        distance = distance_m(latitude, longitude, store.latitude, store.longitude)
        if radius_m is not None and distance > radius_m:
            continue
        is_open = open_at(store.opening_hours or {}, local)
        missing = sorted(
            sku for sku, quantity in items.items() if available.get((store.id, sku), 0) < quantity
        )
        has_stock = None if not items else not missing
        if (open_only and not is_open) or (in_stock_only and not has_stock):
            continue
        found.append(
            {
                "id": store.id,
                "code": store.code,
                "name": store.name,
                "address": store.address,
                "latitude": store.latitude,
                "longitude": store.longitude,
                "distance_m": distance,
                "open_now": is_open,
                "opening_hours": store.opening_hours or {},
                "has_stock": has_stock,
                "missing": missing,
            }
        )
    found.sort(key=lambda row: (row["distance_m"], row["id"]))
    return found[:limit]
