"""``Idempotency-Key`` handling.

The first request with a key runs and its response is stored in the same transaction;
a replay returns the stored response; the same key with another body is a 409. The
record is inserted *before* the work, so on PostgreSQL a concurrent duplicate waits on
the unique key and then replays instead of doing the work twice (SQLite serialises
writers with ``BEGIN IMMEDIATE``). Failed requests store nothing: they changed nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, String, Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from shoplet import pipelined
from shoplet.db import Base, Database, by_key, utcnow
from shoplet.errors import Conflict, InvalidInput
from shoplet.scoping import owned

MAX_KEY_LENGTH = 128


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(160), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(default=0)
    response: Mapped[Any] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


_INSERT_RECORD = cast(Table, IdempotencyRecord.__table__).insert()
_RECORD = select(IdempotencyRecord.__table__).where(
    owned(IdempotencyRecord, bindparam("m")),
    IdempotencyRecord.scope == bindparam("s"),
    IdempotencyRecord.key == bindparam("k"),
)


def request_hash(operation: str, payload: Any) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


Work = Callable[[Session], tuple[int, Any]]


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            "idempotency.key_invalid",
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters.",
        )


def recorded(
    session: Session, *, merchant_id: str, scope: str, key: str | None, operation: str, payload: Any
) -> tuple[int, Any] | None:
    """The stored answer of an earlier request with this key (a replay), or None — read
    before work that prepares outside :func:`run`'s unit of work (checkout prices first), so
    a retry is answered by the replay and not by what the preparation would say now."""
    if key is None:
        return None
    _check_key(key)
    found = pipelined.execute(session, _RECORD, {"m": merchant_id, "s": scope, "k": key})  # a row
    return _replay(found[0], request_hash(operation, payload)) if found else None


def recorded_later(
    session: Session, *, merchant_id: str, scope: str, key: str | None, operation: str, payload: Any
) -> Callable[[], tuple[int, Any] | None]:
    """:func:`recorded`, asked later: the record is read with the unit of work's next statements
    (on PostgreSQL in their round trip: a refused checkout pays no round trip of its own for
    it; on SQLite only when asked) and the replay, or None, is given when the answer is called."""
    if key is None:
        return lambda: None
    _check_key(key)
    found = pipelined.read_later(session, _RECORD, {"m": merchant_id, "s": scope, "k": key})

    def answer() -> tuple[int, Any] | None:
        rows = found.rows()
        return _replay(rows[0], request_hash(operation, payload)) if rows else None

    return answer


def run(
    db: Database,
    *,
    merchant_id: str,
    scope: str,
    key: str | None,
    operation: str,
    payload: Any,
    work: Work,
    read_first: bool = True,
) -> tuple[int, Any]:
    """Run ``work`` in one unit of work, at most once per ``(scope, key)``.

    ``work`` returns ``(status_code, jsonable_body)``; that pair is what replays return.
    ``read_first=False``: the caller has just read :func:`recorded` (or a replay is rare
    and ``work`` touches nothing but the database), so the first attempt skips the read of
    the record and relies on its insert alone — a key already used makes that insert fail,
    the work rolls back and the next attempt reads and replays.
    """
    if key is None:
        with db.unit_of_work() as session:
            return work(session)
    _check_key(key)
    digest = request_hash(operation, payload)
    for attempt in range(3):
        try:
            with db.unit_of_work() as session:
                stored = (
                    by_key(session, IdempotencyRecord, (merchant_id, scope, key))
                    if read_first or attempt
                    else None
                )
                if stored is not None:
                    return _replay(stored, digest)
                status_code, body = work(session)
                # Written with the answer, in the work's transaction: a concurrent request
                # with the same key that got here first makes this insert fail (its key),
                # the work rolls back and the loop replays the answer that was kept.
                pipelined.later(
                    session,
                    _INSERT_RECORD,
                    {
                        "merchant_id": merchant_id,
                        "scope": scope,
                        "key": key,
                        "request_hash": digest,
                        "status_code": status_code,
                        "response": body,
                        "created_at": utcnow(),
                    },
                )
                return status_code, body
        except IntegrityError as exc:
            if (
                "idempotency_records" not in str(exc.orig).lower()
                and "pk_idempotency" not in str(exc.orig).lower()
            ):
                raise
            # A concurrent request with the same key committed first: replay it.
            continue
    raise Conflict("idempotency.in_progress", "A request with this Idempotency-Key is still running.")


def _replay(stored: Any, digest: str) -> tuple[int, Any]:
    if stored.request_hash != digest:
        raise Conflict(
            "idempotency.key_reused",
            "This Idempotency-Key was already used with a different request.",
        )
    return stored.status_code, stored.response
