"""Keyset pagination on time-sortable ids: ``?limit=&after=`` → ``{items, next_cursor}``."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_LIMIT = 200
CURSOR = r"^[A-Za-z0-9_]{1,40}$"
"""A cursor is the id of the last row of a page; anything else is refused (422), not read as page one."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 50
    after: str | None = None


async def page_params(
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="Items per page."),
    after: str | None = Query(
        None, max_length=40, pattern=CURSOR, description="The next_cursor of the previous page."
    ),
) -> PageParams:
    return PageParams(limit=limit, after=after)


def paginate(
    session: Session, stmt: Select[Any], id_column: Any, params: PageParams
) -> tuple[list[Any], str | None]:
    """Rows of ``stmt`` after the cursor, ordered by ``id_column``; the cursor is its last value seen."""
    if params.after:
        stmt = stmt.where(id_column > params.after)
    rows = list(session.scalars(stmt.order_by(id_column).limit(params.limit + 1)))
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return rows, (getattr(rows[-1], id_column.key) if more and rows else None)


PageQuery = Annotated[PageParams, Depends(page_params)]
"""``page: PageQuery`` — the ``limit`` and ``after`` query parameters of a list."""
