from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shoplet.customers.schemas import HostAppName
from shoplet.schemas import MAX_ITEMS, Id, In, Instant, Money, Out

Kind = Literal[
    "item_price",
    "item_percent",
    "bundle",
    "buy_x_get_y",
    "threshold_off",
    "threshold_percent",
    "free_delivery",
]
PARAMS = ("price", "percent_off", "count", "buy", "get", "tiers", "every", "off", "cap", "threshold")


class Tier(In):
    threshold: Money
    off: Money


class Scope(In):
    skus: list[Id] = Field(default_factory=list, max_length=500, description="SKU ids; empty = all.")
    categories: list[Id] = Field(default_factory=list, max_length=100, description="Category ids.")
    exclude_skus: list[Id] = Field(default_factory=list, max_length=500)


class _Rule(In):
    price: Money | None = Field(None, description="item_price: the price; bundle: the group's price (fen).")
    percent_off: int | None = Field(None, ge=0, le=100, description="10 = 10% off.")
    count: int | None = Field(None, ge=1, le=100, description="bundle: units per group (N元N件).")
    buy: int | None = Field(None, ge=1, le=100)
    get: int | None = Field(None, ge=1, le=100)
    tiers: list[Tier] | None = Field(
        None, min_length=1, max_length=20, description="threshold_off (满减) tiers."
    )
    every: Money | None = Field(None, ge=1, description="threshold_off: every X fen ...")
    off: Money | None = Field(None, description="... take this many fen off")
    cap: Money | None = None
    threshold: Money | None = None

    def params(self) -> dict[str, Any]:
        values = self.model_dump(include=set(PARAMS), exclude_none=True)
        if "tiers" in values:
            values["tiers"] = [dict(t) for t in values["tiers"]]
        return values


class PromotionIn(_Rule):
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    scope: Scope = Field(default_factory=Scope)
    group: str | None = Field(
        None, max_length=64, description="Stack group: at most one promotion per group applies."
    )
    exclusive: bool = Field(False, description="When it applies, no other stage 2–3 promotion does.")
    host_apps: list[HostAppName] = Field(
        default_factory=list, max_length=20, description="Where it runs; empty = every host app."
    )
    store_ids: list[Id] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Stores it runs at; empty = everywhere."
    )
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    paused: bool = Field(False, description="Create it paused.")


class PromotionPatch(_Rule):
    name: str | None = Field(None, min_length=1, max_length=200)
    scope: Scope | None = None
    group: str | None = Field(None, max_length=64)
    exclusive: bool | None = None
    host_apps: list[HostAppName] | None = Field(None, max_length=20)
    store_ids: list[Id] | None = Field(None, max_length=MAX_ITEMS)
    starts_at: Instant | None = None
    ends_at: Instant | None = None


class PromotionOut(Out):
    id: str
    name: str
    kind: str
    params: dict[str, Any]
    scope: dict[str, Any]
    group: str | None
    exclusive: bool
    host_apps: list[str]
    store_ids: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    status: str = Field(description="What the merchant set: active, paused or stopped.")
    state: str = Field(description="Now: scheduled, running, paused, ended or stopped.")
    version: int
    created_at: datetime
    updated_at: datetime
