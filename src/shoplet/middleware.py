"""The outer guard of every request (pure ASGI, so it costs no thread hop or body copy).

- Refuses control characters (NUL among them) in the path and the query string with a
  422, before any of it can reach a database (PostgreSQL cannot store NUL in text).
- Refuses bodies over :data:`MAX_BODY` bytes with a 413.
- Answers ``HEAD`` wherever ``GET`` is answered: the ``GET`` route runs and the body is dropped.
- Turns any exception that escaped the error handlers into a problem+json 500 with an
  ``error_id`` that is logged with the traceback — and, unlike Starlette's last-resort
  handler, does not re-raise it, so the server keeps the keep-alive connection open.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.exceptions import HTTPException as StarletteHTTPException

from shoplet.errors import InvalidInput, ShopletError
from shoplet.schemas import has_control_characters

log = logging.getLogger("shoplet.errors")

MAX_BODY = 1_048_576
PROBLEM = b"application/problem+json"


class BodyTooLarge(ShopletError):
    status = 413
    title = "Request body too large"


def _has_control(raw: bytes) -> bool:
    """Whether the raw (percent-encoded) path or query string carries a control character."""
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    return has_control_characters(raw.decode("latin-1"))  # one character per byte; controls are ASCII


async def _send_problem(send: Any, body: dict[str, Any], status: int) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class Guard:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
        if _has_control(raw_path) or _has_control(scope.get("query_string", b"")):
            error: ShopletError = InvalidInput(
                "request.control_character",
                "The address contains a control character; remove it and try again.",
            )
            await _send_problem(send, error.problem(), error.status)
            return
        too_large = BodyTooLarge("request.too_large", f"The request body is over {MAX_BODY:,} bytes.")
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY):
                await _send_problem(send, too_large.problem(), too_large.status)
                return

        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")
        started = False
        received = 0

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:  # a chunked body with no length said up front
                # FastAPI turns other errors raised while it reads a body into a 400; not this one.
                raise StarletteHTTPException(413, too_large.detail)
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and head:
                message = dict(message, body=b"")
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            error_id = "err_" + secrets.token_hex(8)
            log.exception("unhandled error %s on %s %s", error_id, scope["method"], scope["path"])
            if started:  # the status line is gone; all that is left is to end the response
                raise
            error = ShopletError(
                "internal",
                "Something went wrong on our side; nothing was changed. "
                f"Quote {error_id} when you report it.",
            )
            await _send_problem(
                guarded_send,
                error.problem() | {"status": 500, "title": "Internal error", "error_id": error_id},
                500,
            )
