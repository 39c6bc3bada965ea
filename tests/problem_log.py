"""Every problem response the suite sees, checked against the OpenAPI document at the end.

The ``client`` fixture wraps the app in :class:`RecordProblems`; ``pytest_sessionfinish``
(conftest) fails the run when an operation answered with a code its OpenAPI entry does not
list, so the documented error codes cannot drift from what the API really returns.
"""

from __future__ import annotations

import json
import re
from typing import Any

SEEN: set[tuple[str, str, int, str]] = set()  # (method, path, status, code)


class RecordProblems:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"problem": False, "body": b""}

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                state["status"] = message["status"]
                state["problem"] = headers.get(b"content-type", b"").startswith(b"application/problem+json")
            elif message["type"] == "http.response.body" and state["problem"]:
                state["body"] += message.get("body", b"")
                if not message.get("more_body"):
                    try:
                        code = json.loads(state["body"]).get("code")
                    except ValueError:
                        code = None
                    if code:
                        SEEN.add((scope["method"], scope["path"], state["status"], code))
            await send(message)

        await self.app(scope, receive, recording_send)


def undeclared(openapi: dict, seen: set[tuple[str, str, int, str]] | None = None) -> list[str]:
    """Problems seen whose code is not listed for the operation (nor, for ``also`` statuses,
    under that status)."""
    operations = []
    for path, methods in openapi["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for method, operation in methods.items():
            operations.append((pattern, method.upper(), path, operation))
    found = []
    for method, path, status, code in sorted(SEEN if seen is None else seen):
        matches = [(p, op) for pattern, m, p, op in operations if m == method and pattern.match(path)]
        if not matches:
            continue  # no such operation: 404/405 for a path or method that does not exist
        # The most specific template wins (/coupons/verify over /coupons/{coupon_id}).
        template, operation = min(matches, key=lambda item: item[0].count("{"))
        listed = operation.get("responses", {}).get(str(status), {})
        examples = listed.get("content", {}).get("application/problem+json", {}).get("examples", {})
        if code not in examples:
            found.append(f"{method} {template}: {status} {code}")
    return sorted(set(found))
