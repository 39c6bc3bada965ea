"""Stores near me: by distance from the customer's coordinates, whether each is open
now in the merchant's time zone, and whether it has stock for the customer's cart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.inventory.hours import distance_m, local_time, open_at
from shoplet.inventory.models import LocationKind, StockLevel, StockLocation
from shoplet.inventory.schemas import NearbyStoreOut
from shoplet.scoping import owned
from shoplet.tenancy.models import Merchant


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
) -> list[NearbyStoreOut]:
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
            NearbyStoreOut(
                id=store.id,
                code=store.code,
                name=store.name,
                address=store.address,
                latitude=store.latitude,
                longitude=store.longitude,
                distance_m=distance,
                open_now=is_open,
                opening_hours=store.opening_hours or {},
                has_stock=has_stock,
                missing=missing,
            )
        )
    found.sort(key=lambda row: (row.distance_m, row.id))
    return found[:limit]
