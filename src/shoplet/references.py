"""Checking references to another domain's rows without importing that domain.

A domain lower in the layer order sometimes stores ids owned by a domain above it (a tier's
coupon pack names coupon templates; a clerk names the store she works in). Importing the
owner would close an import cycle, so the owner registers a checker here under a name, and
the referring domain asks :func:`require` by that name. The composition root imports every
domain (``shoplet.models``), so every checker is registered before a request is served.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.orm import Session

from shoplet.errors import InvalidInput, NotFound

# (session, merchant_id, ids) -> the ids among them that exist and qualify
Checker = Callable[[Session, str, Collection[str]], set[str]]

_checkers: dict[str, Checker] = {}


def register(kind: str, checker: Checker) -> None:
    """Declare how to check references of ``kind`` (done once by the owning domain)."""
    _checkers[kind] = checker


def missing(session: Session, kind: str, merchant_id: str, ids: Collection[str]) -> list[str]:
    """The ids (in the given order) that name no row of this merchant of that kind."""
    if not ids:
        return []
    try:
        checker = _checkers[kind]
    except KeyError:
        raise LookupError(f"no reference checker for {kind!r}; import shoplet.models first") from None
    found = checker(session, merchant_id, ids)
    return [i for i in ids if i not in found]


def require(
    session: Session,
    kind: str,
    merchant_id: str,
    ids: Collection[str],
    *,
    code: str,
    what: str,
    not_found: bool = False,
) -> None:
    """Refuse the request when one of ``ids`` is not this merchant's: 422 ``code``, or 404 when
    ``not_found`` (a single id named in the path or the body as the thing acted on)."""
    absent = missing(session, kind, merchant_id, ids)
    if absent:
        if not_found:
            raise NotFound(code, f"No such {what}.")
        raise InvalidInput(code, f"No {what} '{absent[0]}' in this shop.")
