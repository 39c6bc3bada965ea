"""Errors with an HTTP status and a stable code, rendered as ``application/problem+json``.

Domain code raises a :class:`ShopletError` subclass; one handler renders every error the
same way (RFC 9457 fields plus ``code``). Codes are stable: clients branch on them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ShopletError(Exception):
    """Base of every error a caller can cause. ``detail`` is a sentence a person reads."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://shoplet.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidInput(ShopletError):
    status = 422
    title = "Invalid input"


class Unauthenticated(ShopletError):
    status = 401
    title = "Not authenticated"


class Forbidden(ShopletError):
    status = 403
    title = "Not allowed"


class NotFound(ShopletError):
    status = 404
    title = "Not found"

    @classmethod
    def of(cls, what: str, code: str | None = None) -> NotFound:
        slug = code or what.lower().replace(" ", "_")
        return cls(f"{slug}.not_found", f"No such {what.lower()}.")


class Conflict(ShopletError):
    status = 409
    title = "Conflict"


class Unprocessable(ShopletError):
    """The request is well formed but the business state refuses it (out of stock, ...)."""

    status = 422
    title = "Cannot be done"


class Unavailable(ShopletError):
    status = 503
    title = "Temporarily unavailable"
