"""Schema pieces shared by every domain.

Request models (:class:`In`) are strict: a number is a JSON number and a flag a JSON
boolean (``"2"`` or ``true`` as a quantity is refused), unknown fields are refused, text
carries no control characters and has a length limit, and every amount and count has an
upper bound (:data:`Money`, :data:`Count`, :data:`Quantity`), the same on SQLite and
PostgreSQL. Times are :data:`Instant`: ISO 8601 with an offset, between 2000 and 2100.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shoplet.errors import InvalidInput

Fen = int  # money, in fen (1/100 yuan)

MAX_MONEY = 2_000_000_000
"""The largest amount of money any field accepts: ¥20,000,000.00, in fen (amounts are 32-bit
integer columns on PostgreSQL; an order worth more is refused as a whole)."""
MAX_PRICE = 100_000_000
"""The largest price of one unit: ¥1,000,000.00, in fen."""
MAX_COUNT = 1_000_000_000
"""The largest count any field accepts (stock, limits, points)."""
MAX_QUANTITY = 9_999
"""The most units of one SKU on one line."""
MAX_TEXT = 2_000
"""Default length limit of any text field that does not set its own."""
MAX_ITEMS = 500
"""Default length limit of a list of ids."""

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)

Money = Annotated[int, Field(ge=0, le=MAX_MONEY, description="Fen (100 = ¥1.00), at most ¥20,000,000.")]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE, description="Fen (100 = ¥1.00), at most ¥1,000,000.")]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Id = Annotated[str, Field(min_length=1, max_length=40)]
Tag = Annotated[str, Field(min_length=1, max_length=32)]

# Control characters other than tab, line feed and carriage return (NUL among them).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


def in_sane_range(value: datetime) -> bool:
    """Whether an aware time lies in 2000–2100. The local year is checked before any
    comparison converts it: converting year 1 with an offset overflows."""
    return 2000 <= value.year <= 2100 and EARLIEST <= value <= LATEST


def _in_range(value: datetime) -> datetime:
    if not in_sane_range(value):
        raise ValueError("must be between 2000-01-01 and 2100-12-31")
    return value


Instant = Annotated[
    AwareDatetime,
    Field(strict=False, description="ISO 8601 with an offset, between 2000 and 2100."),
    AfterValidator(_in_range),
]
"""A moment: ISO 8601 with an offset (``2026-11-21T10:00:00+08:00``), between 2000 and 2100."""


def _refuse_control_characters(value: Any) -> None:
    """Walk a request's JSON (iteratively: its nesting depth is the caller's choice). Every
    request model runs this, nested ones too, so the walk that finds nothing — nearly every
    one — builds no paths: they are worked out only to name a field that has one."""
    stack: list[Any] = [value]
    search = _CONTROL.search
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if search(item) is not None:
                _name_the_field(value)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _name_the_field(value: Any) -> None:
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if has_control_characters(item):
                raise InvalidInput(
                    "request.control_character",
                    f"'{where or 'text'}' contains a control character; remove it and try again.",
                )
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, where))
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, where) for child in item)


class Out(BaseModel):
    """Base of response models: read straight from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    """Base of request models: strict types, bounded text, no control characters, no unknown fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, str_max_length=MAX_TEXT)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        _refuse_control_characters(data)
        return data


Name = Field(min_length=1, max_length=200)
Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _known_zone(name: str) -> str:
    if name not in known_zones():
        raise ValueError("must be an IANA time zone name such as Asia/Shanghai")
    return name


_ZONES: frozenset[str] | None = None
_ZONES_LOCK = threading.Lock()


def known_zones() -> frozenset[str]:
    """The IANA time zone names this machine has. Listing them opens every file of the time
    zone database (tens of milliseconds): done once per process, under a lock so that the
    first requests to need it at the same moment do not each do it (the server does it at
    start)."""
    global _ZONES
    zones = _ZONES
    if zones is None:
        with _ZONES_LOCK:
            if _ZONES is None:
                from zoneinfo import available_timezones

                _ZONES = frozenset(available_timezones())
            zones = _ZONES
    return zones


TimeZone = Annotated[
    str, Field(min_length=1, max_length=64, examples=["Asia/Shanghai"]), AfterValidator(_known_zone)
]
"""An IANA time zone name (``Asia/Shanghai``); unknown names are refused."""


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    import json

    if _depth(value) > 4:
        raise ValueError("must nest at most 4 levels deep")
    if len(value) > 50 or len(json.dumps(value, ensure_ascii=False)) > 4_000:
        raise ValueError("must have at most 50 keys and 4,000 characters as JSON")
    return value


SmallDict = Annotated[dict[str, Any], AfterValidator(_small_json)]
"""Free-form attributes: at most 50 keys, 4 levels and 4,000 characters as JSON."""


def zone_named(name: str | None) -> ZoneInfo:
    """The time zone of that name; UTC for a name that is not one (rows older than the check)."""
    try:
        return ZoneInfo(name) if name and name in known_zones() else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
