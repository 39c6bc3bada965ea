"""The one place tenant scoping happens: every read of a tenant-owned row goes through here."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shoplet.errors import NotFound

M = TypeVar("M")


def get_owned(
    session: Session,
    model: type[M],
    merchant_id: str,
    object_id: str,
    *,
    what: str,
    code: str | None = None,
    for_update: bool = False,
) -> M:
    """The merchant's object, or 404 — another tenant's object is indistinguishable from none."""
    obj = session.get(model, (merchant_id, object_id), with_for_update=for_update or None)
    if obj is None:
        raise NotFound.of(what, code)
    return obj


def scoped(model: Any, merchant_id: str) -> Select[Any]:
    """``SELECT model WHERE merchant_id = :tenant``; callers add filters and order."""
    return select(model).where(model.merchant_id == merchant_id)
