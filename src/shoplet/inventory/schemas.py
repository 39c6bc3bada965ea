from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from shoplet.inventory.hours import check_hours
from shoplet.schemas import Code, In, Name, Out


def _hours(value: dict[str, Any]) -> dict[str, list[str]]:
    try:
        return check_hours(value)
    except ValueError as exc:
        raise PydanticCustomError("opening_hours", "Opening hours: {reason}.", {"reason": str(exc)}) from exc


OpeningHours = Annotated[dict[str, Any], AfterValidator(_hours)]


class FulfilmentSettings(In):
    """How a location hands goods over. Stores: pickup and/or delivery within a radius in
    time slots; warehouses: express. Amounts are fen."""

    pickup: bool = Field(True, description="Customers may collect orders at this store.")
    prep_minutes: int = Field(
        15, ge=0, le=1440, description="A pickup order is ready this long after it is placed."
    )
    pickup_hours: int = Field(
        48,
        ge=1,
        le=720,
        description="Uncollected pickups expire this long after payment: stock released, money refunded.",
    )
    delivery_radius_m: int = Field(
        0, ge=0, le=100_000, description="Deliver within this distance (0: no delivery)."
    )
    delivery_fee: int = Field(0, ge=0, le=100_000)
    slot_minutes: int = Field(
        60, ge=15, le=480, description="Delivery slots are this long, from local midnight."
    )
    slot_capacity: int = Field(10, ge=1, le=100_000, description="Deliveries per slot.")
    lead_minutes: int = Field(
        60, ge=0, le=1440, description="The earliest slot starts at least this long from now."
    )
    days_ahead: int = Field(2, ge=0, le=14, description="Slots are offered today and this many days ahead.")
    express_fee: int = Field(
        0, ge=0, le=100_000, description="Shipping fee when this location ships express."
    )
    ship_within_hours: int = Field(24, ge=1, le=720)
    transit_days: int = Field(2, ge=0, le=30)


class StoreIn(In):
    kind: Literal["store", "warehouse"] = "store"
    code: str = Code
    name: str = Name
    operation: Literal["direct", "franchise"] = "direct"
    address: str = Field("", max_length=400)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    opening_hours: OpeningHours = Field(
        default_factory=dict,
        description='e.g. {"mon": ["07:30", "21:00"], "fri": ["10:00", "02:00"]}; '
        "a day left out is closed; closing past midnight is allowed.",
    )
    fulfilment: FulfilmentSettings = Field(default_factory=lambda: FulfilmentSettings.model_validate({}))


class StorePatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    operation: Literal["direct", "franchise"] | None = None
    address: str | None = Field(None, max_length=400)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    opening_hours: OpeningHours | None = None
    fulfilment: FulfilmentSettings | None = None
    active: bool | None = None


class StoreOut(Out):
    id: str
    kind: str
    code: str
    name: str
    operation: str
    address: str
    latitude: float | None
    longitude: float | None
    opening_hours: dict[str, Any]
    fulfilment: FulfilmentSettings
    active: bool
    created_at: datetime


class StockOut(Out):
    location_id: str
    sku_id: str
    on_hand: int
    reserved: int
    available: int


class StockCount(In):
    on_hand: int = Field(ge=0, le=10_000_000, description="The counted quantity (stock-take).")
    reason: str = Field("stock-take", max_length=200)


class StockAdjustment(In):
    delta: int = Field(ge=-10_000_000, le=10_000_000, description="Units added (positive) or removed.")
    reason: str = Field(min_length=1, max_length=200)


class NearbyStoreOut(Out):
    id: str
    code: str
    name: str
    address: str
    latitude: float
    longitude: float
    distance_m: int = Field(description="Straight-line distance from the given point, in metres.")
    open_now: bool | None = Field(
        description="Open at this moment in the shop's time zone (null: hours not set)."
    )
    opening_hours: dict[str, Any]
    has_stock: bool | None = Field(
        description="Every line of the cart (or of `skus`) is available here (null: nothing was asked about)."
    )
    missing: list[str] = Field(default_factory=list, description="SKU ids this store cannot supply in full.")


class TransferLine(In):
    sku_id: str = Field(min_length=1, max_length=32)
    quantity: int = Field(ge=1, le=1_000_000)


class TransferIn(In):
    from_location_id: str = Field(min_length=1, max_length=32)
    to_location_id: str = Field(min_length=1, max_length=32)
    lines: list[TransferLine] = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=200)


class TransferOut(Out):
    id: str
    from_location_id: str
    to_location_id: str
    lines: list[dict[str, Any]]
    reason: str
    created_by: str
    created_at: datetime
