from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shoplet.schemas import Code, In, Name, Out


class StoreIn(In):
    kind: Literal["store", "warehouse"] = "store"
    code: str = Code
    name: str = Name
    operation: Literal["direct", "franchise"] = "direct"
    address: str = Field("", max_length=400)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    opening_hours: dict[str, Any] = Field(default_factory=dict,
                                          description='e.g. {"mon": ["07:30", "21:00"], ...}')


class StorePatch(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    operation: Literal["direct", "franchise"] | None = None
    address: str | None = Field(None, max_length=400)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    opening_hours: dict[str, Any] | None = None
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
