"""Routing: where each part of an order comes from, and how it reaches the customer.

A store hands over by pickup (a code a clerk verifies once) or by scheduled delivery (a
time slot with a per-slot capacity, within the store's radius); a warehouse ships express.
When the chosen store lacks some lines, :func:`plan` offers them from a warehouse (a split
order with two fulfilments) or the whole order from the warehouse, and says which location
ships what and when — the customer chooses before paying. Reads only: the checkout books
and reserves what the plan says (:mod:`shoplet.orders.fulfilment`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from shoplet.errors import InvalidInput, Unprocessable
from shoplet.inventory.hours import distance_m, local_time, open_at
from shoplet.inventory.models import LocationKind, StockLevel, StockLocation
from shoplet.inventory.schemas import FulfilmentSettings
from shoplet.orders.models import DeliverySlot
from shoplet.scoping import owned
from shoplet.tenancy.models import Merchant

ROUTINGS = ("store", "split", "warehouse")
DEFAULT_HOURS = (9 * 60, 21 * 60)  # delivery slots when a store has no opening hours set


def settings_of(location: StockLocation) -> FulfilmentSettings:
    return FulfilmentSettings.model_validate(location.fulfilment or {})


@dataclass(frozen=True)
class Request:
    """What the customer asked for: a mode (default: pickup at a store, express from a
    warehouse), a delivery slot and address, and how to route what the store lacks."""

    mode: str | None = None
    slot_start: datetime | None = None
    address: dict[str, Any] | None = None  # name, phone, address, latitude, longitude
    routing: str = "store"


@dataclass
class Shipment:
    """One planned fulfilment: a location hands over some SKUs, at a fee, by a time."""

    location: StockLocation
    mode: str
    skus: list[str]
    fee: int
    ready_at: datetime | None = None
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    arrive_by: datetime | None = None
    distance_m: int | None = None
    address: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "location_id": self.location.id,
            "location_name": self.location.name,
            "location_kind": self.location.kind,
            "mode": self.mode,
            "sku_ids": self.skus,
            "fee": self.fee,
            "ready_at": self.ready_at,
            "slot_start": self.slot_start,
            "slot_end": self.slot_end,
            "arrive_by": self.arrive_by,
            "distance_m": self.distance_m,
        }


@dataclass
class Plan:
    """The shipments for the requested routing (empty when it cannot be met), what the chosen
    location lacks, and the routings that would work."""

    shipments: list[Shipment]
    missing: list[str] = field(default_factory=list)
    options: dict[str, list[Shipment]] = field(default_factory=dict)

    @property
    def fee(self) -> int:
        return sum(s.fee for s in self.shipments)


# Routing reads these on every checkout: built once.
_AVAILABLE = select(
    StockLevel.location_id, StockLevel.sku_id, StockLevel.on_hand - StockLevel.reserved
).where(
    owned(StockLevel, bindparam("m")),
    StockLevel.location_id.in_(bindparam("locations", expanding=True)),
    StockLevel.sku_id.in_(bindparam("skus", expanding=True)),
)
_WAREHOUSES = (
    select(StockLocation)
    .where(
        owned(StockLocation, bindparam("m")),
        StockLocation.kind == LocationKind.WAREHOUSE,
        StockLocation.active.is_(True),
        StockLocation.id != bindparam("exclude"),
    )
    .order_by(StockLocation.code)
)


def _available(
    session: Session, merchant_id: str, location_ids: list[str], skus: list[str]
) -> dict[tuple[str, str], int]:
    # on the session's connection: plain rows need none of the ORM's steps
    rows = session.connection().execute(
        _AVAILABLE, {"m": merchant_id, "locations": location_ids, "skus": skus}
    )
    return {(loc, sku): n for loc, sku, n in rows}


def _slot_bounds(local_start: datetime, minutes: int, hours: dict[str, list[str]]) -> bool:
    """Whether a store is open for the whole slot starting at this local time."""
    last = local_start + timedelta(minutes=minutes - 1)
    if not hours:
        start = local_start.hour * 60 + local_start.minute
        return DEFAULT_HOURS[0] <= start and start + minutes <= DEFAULT_HOURS[1]
    return bool(open_at(hours, local_start)) and bool(open_at(hours, last))


def slots(session: Session, *, store: StockLocation, now: datetime) -> list[dict[str, Any]]:
    """The delivery slots a store offers from now on: start, end, and how many remain."""
    cfg = settings_of(store)
    if store.kind != LocationKind.STORE or cfg.delivery_radius_m == 0:
        return []
    merchant = session.get(Merchant, store.merchant_id)
    local_now = local_time(merchant.timezone if merchant else "UTC", now)
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    earliest = now + timedelta(minutes=cfg.lead_minutes)
    starts = []
    for day in range(cfg.days_ahead + 1):
        day_start = midnight + timedelta(days=day)
        for k in range(24 * 60 // cfg.slot_minutes):
            local_start = day_start + timedelta(minutes=k * cfg.slot_minutes)
            if local_start >= earliest and _slot_bounds(
                local_start, cfg.slot_minutes, store.opening_hours or {}
            ):
                starts.append(local_start)
    booked = {
        row.slot_start: row.booked
        for row in session.scalars(
            select(DeliverySlot).where(
                owned(DeliverySlot, store.merchant_id),
                DeliverySlot.location_id == store.id,
                DeliverySlot.slot_start >= now,
            )
        )
    }
    return [
        {
            "start": s,
            "end": s + timedelta(minutes=cfg.slot_minutes),
            "remaining": max(0, cfg.slot_capacity - booked.get(s, 0)),
        }
        for s in starts
    ]


def _check_slot(
    session: Session, store: StockLocation, start: datetime | None, now: datetime, timezone: str | None
) -> tuple[datetime, datetime]:
    if start is None:
        raise InvalidInput("delivery.slot_required", "Choose a delivery slot.")
    match = _offered(session, store, start, now, timezone)
    if match is None:
        raise Unprocessable(
            "delivery.bad_slot",
            "That delivery slot is not offered by this store; "
            "list the store's delivery slots and choose one.",
        )
    return match


def _offered(
    session: Session, store: StockLocation, start: datetime, now: datetime, timezone: str | None = None
) -> tuple[datetime, datetime] | None:
    """Whether :func:`slots` would list a slot starting at ``start`` (whatever is left in
    it: the booking checks that), worked out for that one start — not by listing them all.
    ``timezone``: the merchant's, when already read (:func:`with_warehouses`)."""
    cfg = settings_of(store)
    if store.kind != LocationKind.STORE or cfg.delivery_radius_m == 0:
        return None
    if timezone is None:
        merchant = session.get(Merchant, store.merchant_id)
        timezone = merchant.timezone if merchant else "UTC"
    midnight = local_time(timezone, now).replace(hour=0, minute=0, second=0, microsecond=0)
    local = local_time(timezone, start)
    day = (local.date() - midnight.date()).days
    k, rest = divmod(local.hour * 60 + local.minute, cfg.slot_minutes)
    if not 0 <= day <= cfg.days_ahead or rest or k >= 24 * 60 // cfg.slot_minutes:
        return None
    candidate = midnight + timedelta(days=day) + timedelta(minutes=k * cfg.slot_minutes)  # as slots() does
    if (
        candidate != start
        or candidate < now + timedelta(minutes=cfg.lead_minutes)
        or not _slot_bounds(candidate, cfg.slot_minutes, store.opening_hours or {})
    ):
        return None
    return candidate, candidate + timedelta(minutes=cfg.slot_minutes)


# The chosen location and every active warehouse, in one read (checkout's first), as rows
# of the table: every request of a checkout reads them, and planning only reads them.
_LOCATIONS = cast(Table, StockLocation.__table__)
# The locations a plan may ship from: the chosen one (bound as "id") and the merchant's
# active warehouses.
_CANDIDATE = and_(
    owned(_LOCATIONS, bindparam("m")),
    or_(
        _LOCATIONS.c.id == bindparam("id"),
        and_(_LOCATIONS.c.kind == LocationKind.WAREHOUSE, _LOCATIONS.c.active.is_(True)),
    ),
)
_WITH_WAREHOUSES = (
    select(
        _LOCATIONS,
        select(Merchant.timezone).where(Merchant.id == bindparam("m")).scalar_subquery().label("timezone"),
    )
    .where(_CANDIDATE)
    .order_by(_LOCATIONS.c.code)
)
CANDIDATE_IDS = select(_LOCATIONS.c.id).where(_CANDIDATE)
"""The ids of the locations a plan may ship from, for a statement that reads their stock
levels with something else (the basket's SKUs: ``orders.basket``); binds "m" and "id"."""


@dataclass(frozen=True)
class Locations:
    """What :func:`plan` needs of the merchant's locations, read by :func:`with_warehouses`."""

    location: StockLocation | None  # the chosen one (None: the merchant has none by that id)
    warehouses: list[StockLocation]  # the merchant's other active warehouses, by code
    timezone: str | None  # the merchant's, for delivery slots (None: no location found)


def with_warehouses(session: Session, merchant_id: str, location_id: str) -> Locations:
    """The location, the merchant's other active warehouses and the merchant's time zone,
    read by one statement: what :func:`plan` needs.

    They are rows of ``stock_locations``, not entities (half the cost): every attribute a
    plan reads, none to change. Routing and fulfilment only read a location."""
    return locations_from(
        session.connection().execute(*locations_read(merchant_id, location_id)).all(), location_id
    )


def locations_read(merchant_id: str, location_id: str) -> tuple[Any, dict[str, Any]]:
    """The statement of :func:`with_warehouses` and its values (to send with others)."""
    return _WITH_WAREHOUSES, {"m": merchant_id, "id": location_id}


def locations_from(found: Any, location_id: str) -> Locations:
    """:func:`with_warehouses`' answer from the rows of :func:`locations_read`."""
    rows = cast(list[Any], found)
    location = next((row for row in rows if row.id == location_id), None)
    others = [
        row for row in rows if row.id != location_id and row.kind == LocationKind.WAREHOUSE and row.active
    ]
    return Locations(location, others, rows[0].timezone if rows else None)


def _warehouses(
    session: Session,
    merchant_id: str,
    exclude: str,
    near: tuple[float, float] | None,
    found: list[StockLocation] | None = None,
) -> list[StockLocation]:
    """Active warehouses (``found``: already read by :func:`with_warehouses`), nearest to
    ``near`` first; those without coordinates (or all of them when ``near`` is unknown)
    after, by code."""
    if found is None:
        found = list(session.scalars(_WAREHOUSES, {"m": merchant_id, "exclude": exclude}))

    def key(w: StockLocation) -> tuple[int, int]:
        if near is None or w.latitude is None or w.longitude is None:
            return 1, 0
        return 0, distance_m(near[0], near[1], w.latitude, w.longitude)

    return sorted(found, key=key)  # stable: equal distances keep the code order


def _destination(location: StockLocation, request: Request) -> tuple[float, float] | None:
    """Where the goods are going: the delivery address, else the chosen location."""
    address = request.address or {}
    if address.get("latitude") is not None and address.get("longitude") is not None:
        return address["latitude"], address["longitude"]
    if location.latitude is not None and location.longitude is not None:
        return location.latitude, location.longitude
    return None


def _express(location: StockLocation, skus: list[str], now: datetime) -> Shipment:
    cfg = settings_of(location)
    ship_by = now + timedelta(hours=cfg.ship_within_hours)
    return Shipment(
        location=location,
        mode="express",
        skus=skus,
        fee=cfg.express_fee,
        ready_at=ship_by,
        arrive_by=ship_by + timedelta(days=cfg.transit_days),
    )


def _at_location(
    session: Session,
    location: StockLocation,
    request: Request,
    skus: list[str],
    now: datetime,
    timezone: str | None,
) -> Shipment:
    """The shipment the chosen location makes in the requested mode; raises when the mode
    cannot be used there (no pickup, outside the radius, a slot not offered)."""
    cfg = settings_of(location)
    mode = request.mode or ("pickup" if location.kind == LocationKind.STORE else "express")
    if location.kind == LocationKind.WAREHOUSE:
        if mode != "express":
            raise Unprocessable("fulfilment.mode_unavailable", "A warehouse only ships express.")
        return _express(location, skus, now)
    if mode == "express":
        raise Unprocessable(
            "fulfilment.mode_unavailable",
            "Stores hand over by pickup or delivery; express ships from the warehouse.",
        )
    if mode == "pickup":
        if not cfg.pickup:
            raise Unprocessable("fulfilment.mode_unavailable", "This store does not offer pickup.")
        return Shipment(
            location=location,
            mode="pickup",
            skus=skus,
            fee=0,
            ready_at=now + timedelta(minutes=cfg.prep_minutes),
        )
    if cfg.delivery_radius_m == 0:
        raise Unprocessable("fulfilment.mode_unavailable", "This store does not deliver.")
    address = request.address
    if not address or address.get("latitude") is None or address.get("longitude") is None:
        raise InvalidInput("delivery.address_required", "Give the delivery address with its coordinates.")
    if location.latitude is None or location.longitude is None:
        raise Unprocessable("fulfilment.mode_unavailable", "This store has no location to deliver from.")
    distance = distance_m(location.latitude, location.longitude, address["latitude"], address["longitude"])
    if distance > cfg.delivery_radius_m:
        raise Unprocessable(
            "delivery.outside_radius",
            f"The address is {distance} m away; this store delivers within {cfg.delivery_radius_m} m.",
            distance_m=distance,
            radius_m=cfg.delivery_radius_m,
        )
    start, end = _check_slot(session, location, request.slot_start, now, timezone)
    return Shipment(
        location=location,
        mode="delivery",
        skus=skus,
        fee=cfg.delivery_fee,
        slot_start=start,
        slot_end=end,
        arrive_by=end,
        distance_m=distance,
        address=dict(address),
    )


def plan(
    session: Session,
    *,
    location: StockLocation,
    items: dict[str, int],
    request: Request,
    now: datetime,
    warehouses: list[StockLocation] | None = None,
    timezone: str | None = None,
    available: dict[tuple[str, str], int] | None = None,
) -> Plan:
    """Where each SKU ships from for the requested routing, and which routings are possible.

    ``store``: everything from the chosen location. ``split``: what it lacks from the nearest
    warehouse that has all of it. ``warehouse``: the whole order, express, from the nearest
    warehouse that has everything. Nearest to the delivery address, else to the chosen
    location (see :func:`_warehouses`). A line is never split across locations.
    ``warehouses`` and ``timezone``: the merchant's other active warehouses and time zone
    when already read (:func:`with_warehouses`); ``available``: the units on hand and not
    reserved by (location id, SKU id) at those and the chosen location, when already read
    (:data:`CANDIDATE_IDS`). Otherwise they are read here.
    """
    if request.routing not in ROUTINGS:
        raise InvalidInput("fulfilment.bad_routing", f"Routing must be one of {', '.join(ROUTINGS)}.")
    skus = sorted(items)
    warehouses = _warehouses(
        session,
        location.merchant_id,
        exclude=location.id,
        near=_destination(location, request),
        found=warehouses,
    )
    if available is None:
        available = _available(
            session, location.merchant_id, [location.id] + [w.id for w in warehouses], skus
        )

    def has(loc: StockLocation, wanted: list[str]) -> bool:
        return all(available.get((loc.id, sku), 0) >= items[sku] for sku in wanted)

    missing = [sku for sku in skus if available.get((location.id, sku), 0) < items[sku]]
    options: dict[str, list[Shipment]] = {}
    if request.routing != "warehouse":  # the chosen location's mode only matters if it ships something
        here = _at_location(session, location, request, skus, now, timezone)
        keep = [sku for sku in skus if sku not in missing]
        source = next((w for w in warehouses if has(w, missing)), None) if missing else None
        if not missing:
            options["store"] = [here]
        elif source is not None and keep:
            here.skus = keep
            options["split"] = [here, _express(source, missing, now)]
    whole = (
        location
        if location.kind == LocationKind.WAREHOUSE and not missing
        else next((w for w in warehouses if has(w, skus)), None)
    )
    if whole is not None:
        options["warehouse"] = [_express(whole, skus, now)]
    chosen = options.get(request.routing) or (
        options.get("store") if request.routing != "warehouse" else None
    )
    return Plan(shipments=chosen or [], missing=missing, options=options)


def require(plan_: Plan) -> list[Shipment]:
    """The plan's shipments, or the refusal that tells the customer what is possible."""
    if plan_.shipments:
        return plan_.shipments
    if not plan_.options:
        raise Unprocessable(
            "stock.out_everywhere",
            "Some items are out of stock at this store and at the warehouse.",
            missing=plan_.missing,
            sku_id=plan_.missing[0] if plan_.missing else None,
        )
    raise Unprocessable(
        "stock.insufficient",
        "Not enough stock at this store for some items; they can come "
        "from the warehouse instead (choose routing 'split' or 'warehouse').",
        missing=plan_.missing,
        sku_id=plan_.missing[0],
        routing_options=sorted(plan_.options),
    )
