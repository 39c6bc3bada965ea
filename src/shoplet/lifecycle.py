"""Pause, resume and stop: the lifecycle merchants give promotions and coupon templates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from shoplet.errors import Conflict


class Lifecycle(StrEnum):
    """The status of a promotion or a coupon template. Stored as these strings."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


# action → (states it may start from, state it leads to). Repeating an action is harmless.
TRANSITIONS = {
    "pause": ({Lifecycle.ACTIVE, Lifecycle.PAUSED}, Lifecycle.PAUSED),
    "resume": ({Lifecycle.ACTIVE, Lifecycle.PAUSED}, Lifecycle.ACTIVE),
    "stop": ({Lifecycle.ACTIVE, Lifecycle.PAUSED, Lifecycle.STOPPED}, Lifecycle.STOPPED),
}


def apply(obj: Any, action: str, now: datetime, *, stopped_code: str) -> None:
    """Move ``obj.status`` by ``action``; a stopped object stays stopped for good."""
    allowed, target = TRANSITIONS[action]
    if obj.status not in allowed:
        raise Conflict(stopped_code, "This is stopped for good.")
    if obj.status != target:
        obj.status, obj.updated_at = target, now
