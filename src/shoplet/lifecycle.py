"""Pause, resume and stop: the lifecycle merchants give promotions and coupon templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoplet.errors import Conflict

# action → (states it may start from, state it leads to). Repeating an action is harmless.
TRANSITIONS = {
    "pause": ({"active", "paused"}, "paused"),
    "resume": ({"active", "paused"}, "active"),
    "stop": ({"active", "paused", "stopped"}, "stopped"),
}


def apply(obj: Any, action: str, now: datetime, *, stopped_code: str) -> None:
    """Move ``obj.status`` by ``action``; a stopped object stays stopped for good."""
    allowed, target = TRANSITIONS[action]
    if obj.status not in allowed:
        raise Conflict(stopped_code, "This is stopped for good.")
    if obj.status != target:
        obj.status, obj.updated_at = target, now
