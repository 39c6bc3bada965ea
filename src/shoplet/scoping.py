"""The one place tenant scoping is written.

Every tenant-owned table has ``merchant_id`` first in its primary key. Code outside this
module never compares ``merchant_id`` itself (``tests/test_scoping.py`` fails the build if
it does); it asks for the merchant's rows with :func:`scoped` (a SELECT) or :func:`owned` (a WHERE
term, in an UPDATE or a DELETE too), joins two tenant tables with :func:`same_tenant`,
and loads one object with :func:`get_owned` (another tenant's object is a 404).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, String, Update, bindparam, func, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from shoplet.errors import NotFound

M = TypeVar("M")


def _tenant_column(model: Any) -> Any:
    """``merchant_id`` of a mapped class, an alias or a Core table."""
    column = getattr(model, "merchant_id", None)
    return column if column is not None else model.c.merchant_id


def owned(model: Any, merchant_id: Any) -> ColumnElement[bool]:
    """The filter ``model.merchant_id = :tenant`` (``merchant_id`` may be a bound parameter)."""
    return _tenant_column(model) == merchant_id


def same_tenant(left: Any, right: Any) -> ColumnElement[bool]:
    """Join condition: both rows belong to the same merchant (the first half of every
    tenant-first foreign key)."""
    return _tenant_column(left) == _tenant_column(right)


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


def transition(model: Any, *conditions: Any, **values: Any) -> Update:
    """One of the merchant's rows moved by a conditional UPDATE, built once: ``WHERE
    merchant_id = :m AND id = :key AND <conditions> SET <values> RETURNING`` the row, which
    also refreshes the object the session holds (nothing is read again). Run it with ``m``,
    ``key`` and the values' own parameters; no row back means a condition no longer held."""
    return (
        update(model)
        .where(owned(model, bindparam("m")), model.id == bindparam("key"), *conditions)
        .values(**values)
        .returning(model)
        .execution_options(populate_existing=True, synchronize_session=False)
    )


def scoped(model: Any, merchant_id: str) -> Select[Any]:
    """``SELECT model WHERE merchant_id = :tenant``; callers add filters and order."""
    return select(model).where(owned(model, merchant_id))


def owned_by_keys(session: Session, table: Any, merchant_id: str, column: Any, keys: Any) -> list[Any]:
    """The merchant's rows of ``table`` whose ``column`` (the rest of a unique key after
    ``merchant_id``) is one of ``keys``: a key lookup per value, whatever the statistics say.

    On PostgreSQL each value is looked up in a ``LATERAL`` subquery with ``LIMIT 1`` (which
    the planner cannot flatten into a join), so it is always an index probe; a plain join
    against the values was planned as a hash join over the whole table when the table's
    statistics were taken while it was small, and grew with it. Elsewhere an IN list."""
    keys = list(keys)
    if session.get_bind().dialect.name != "postgresql":
        return list(session.execute(select(table).where(owned(table, merchant_id), column.in_(keys))))
    wanted = func.unnest(bindparam("keys", keys, type_=ARRAY(String))).table_valued("k").render_derived()
    probe = select(table).where(owned(table, merchant_id), column == wanted.c.k).limit(1).lateral()
    return list(session.execute(select(probe).select_from(wanted).join(probe, true())))
