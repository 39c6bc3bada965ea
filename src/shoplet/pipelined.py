"""Statements sent to PostgreSQL together, in one round trip (libpq's pipeline mode): a unit
of work's writes whose results are only checked, and reads that do not depend on one another.

A write unit of work pays PostgreSQL a round trip per statement, and under load each round
trip costs more than the statement: the thread gives up the GIL to wait and queues to take
it back. Checkout's writes (the order, its lines, the stock reserved, the events, the
Idempotency-Key's record) need no answer but "it matched its row", so :func:`later` queues
them on the unit's connection and they go out together, in order and in the same
transaction, just before the next statement that is not queued or before COMMIT, whichever
comes first. Nothing else can see the difference: no other transaction sees them before
COMMIT, and every statement the unit sends itself runs after them (a SAVEPOINT too; a
ROLLBACK TO SAVEPOINT drops what was queued since). :func:`read_together` sends SELECTs
that do not depend on one another in one pipeline and answers with SQLAlchemy's own rows.
Statements are compiled once per statement object: pass module-level constants.

A queued statement's ``check`` gets its row count once the results are back and raises as
the caller would have at once (a reservation that found too little stock): the unit of work
then rolls back, as it would have. A database error (a key already taken) is raised as
SQLAlchemy would raise it, so callers catch the same exceptions. SQLite has no round trips to
save: there :func:`later` runs the statement at once and checks it there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, Row
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from shoplet.db import insert_new, insert_statement

Check = Callable[[int], None]


class _Answer:
    """What a queued statement whose rows are wanted returns: its rows and their type codes."""

    __slots__ = ("rows", "types")

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.types: list[Any] = []


_QUEUE = "shoplet.pipelined"
"""``Connection.info`` key: the statements queued on this connection, not yet sent."""


class _Compiled:
    """A statement compiled once for PostgreSQL with the parameter names it was given: its
    SQL, and how each parameter dict becomes the driver's."""

    def __init__(self, statement: Any, dialect: Any, names: tuple[str, ...]) -> None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(names))
        self.sql: str = compiled.string
        self.compiled = compiled
        self.processors: dict[str, Any] = compiled._bind_processors

    def parameters(self, values: dict[str, Any]) -> dict[str, Any]:
        bound = self.compiled.construct_params(values)
        processors = self.processors
        return {
            name: processors[name](value) if name in processors else value for name, value in bound.items()
        }


_COMPILED: dict[tuple[Any, tuple[str, ...]], _Compiled] = {}


def later(session: Session, statement: Any, values: dict[str, Any], check: Check | None = None) -> None:
    """Run ``statement`` with ``values`` in the session's transaction: on PostgreSQL queued
    and sent with the next statement the unit of work sends or before its COMMIT; on SQLite
    at once. ``check(rowcount)`` raises when the statement did not do what the caller needs."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        result: Any = connection.execute(statement, values)
        if check is not None:  # an upsert's RETURNING counts it: drivers disagree on its rowcount
            check(len(result.all()) if result.returns_rows else result.rowcount)
        return
    compiled = _compiled(statement, connection.dialect, values)
    queue(connection, compiled.sql, compiled.parameters(values), check)


def _compiled(statement: Any, dialect: Any, values: dict[str, Any]) -> _Compiled:
    names = tuple(values)
    compiled = _COMPILED.get((statement, names))
    if compiled is None:
        compiled = _COMPILED[(statement, names)] = _Compiled(statement, dialect, names)
    return compiled


def execute(session: Session, statement: Any, values: dict[str, Any]) -> list[Any]:
    """Run ``statement`` now and return its rows (a RETURNING's): on PostgreSQL sent in the
    same pipeline as what is queued, so the two cost one round trip."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or _QUEUE not in connection.info:
        return list(connection.execute(statement, values).all())
    compiled = _compiled(statement, connection.dialect, values)
    answer = _Answer()
    queue(connection, compiled.sql, compiled.parameters(values), None, answer)
    flush(connection)
    return answer.rows


class _Read:
    """A SELECT compiled once for PostgreSQL: its SQL, how its parameters become the driver's,
    and how its rows become SQLAlchemy's (the keys and result processors it would use)."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        self.query = _Compiled(statement, dialect, ())
        self.dialect = dialect
        self.columns = self.query.compiled._result_columns
        self.metadata = SimpleResultMetaData([column.keyname for column in self.columns])
        self.processors: list[tuple[int, Any]] | None = None  # once the first answer gives the types

    def rows(self, answer: _Answer) -> list[Row[Any]]:
        fetched = answer.rows
        if self.processors is None:  # as SQLAlchemy picks them: by the column's type and the driver's
            processors = [
                column.type._cached_result_processor(self.dialect, type_code)
                for column, type_code in zip(self.columns, answer.types, strict=True)
            ]
            self.processors = [(n, p) for n, p in enumerate(processors) if p is not None]
        if self.processors:
            converted = []
            for row in fetched:
                values = list(row)
                for n, process in self.processors:
                    values[n] = process(values[n])
                converted.append(tuple(values))
            fetched = converted
        result: Any = IteratorResult(self.metadata, iter(fetched))
        return list(result.all())


_READS: dict[Any, _Read] = {}


def read_together(session: Session, reads: list[tuple[Any, dict[str, Any]]]) -> list[list[Row[Any]]]:
    """The rows of several SELECTs that do not depend on one another, as ``execute(...).all()``
    gives them: on PostgreSQL sent in one pipeline (one round trip instead of one each), with
    whatever is queued before them; elsewhere one after another. For a unit of work's hot
    reads (checkout's); a statement must have no expanding (``IN``) parameters."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return [list(connection.execute(statement, values).all()) for statement, values in reads]
    compiled = []
    for statement, values in reads:
        read = _READS.get(statement)
        if read is None:
            read = _READS[statement] = _Read(statement, connection.dialect)
        answer = _Answer()
        queue(connection, read.query.sql, read.query.parameters(values), None, answer)
        compiled.append((read, answer))
    flush(connection)
    return [read.rows(answer) for read, answer in compiled]


def insert_later(
    session: Session, model: Any, rows: list[dict[str, Any]], *, skip_taken: bool = True
) -> None:
    """Insert rows that give every column, without waiting for the count: ``INSERT … ON
    CONFLICT DO NOTHING`` (a row whose key is taken is skipped, as :func:`shoplet.db.insert_new`,
    whose statements it shares), or with ``skip_taken=False`` a plain INSERT, which a key
    taken fails. On PostgreSQL queued, many rows as one statement over column arrays; on
    SQLite at once."""
    if not rows:
        return
    connection = session.connection()
    insert = insert_statement(connection.dialect, model, skip_taken)
    if connection.dialect.name != "postgresql" or any(len(row) != len(insert.columns) for row in rows):
        if skip_taken:
            insert_new(session, model, rows)
        else:
            connection.execute(insert.statement, rows)
        return
    if len(rows) > 1 and insert.unnest_sql is not None:
        names = [name for name, _ in insert.columns]
        queue(connection, insert.unnest_sql, dict(zip(names, insert.column_values(rows), strict=True)))
    else:
        for parameters in insert.parameters(rows):
            queue(connection, insert.sql, parameters)


def queue(
    connection: Connection,
    sql: str,
    parameters: Any,
    check: Check | None = None,
    answer: _Answer | None = None,
) -> None:
    """Queue one statement in the driver's own SQL and parameters (PostgreSQL only); ``answer``
    receives what it returns."""
    connection.info.setdefault(_QUEUE, []).append((sql, parameters, check, answer))


def flush(connection: Connection) -> None:
    """Send what is queued on ``connection`` in one pipeline, then run the checks in order."""
    queued = connection.info.pop(_QUEUE, None)
    if not queued:
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    shared = driver.cursor()  # for the statements nobody reads back: a cursor costs as much as one
    answered: list[tuple[Any, Check | None, _Answer | None]] = []
    try:
        with driver.pipeline():
            for sql, parameters, check, answer in queued:
                cursor = shared if check is None and answer is None else driver.cursor()
                cursor.execute(sql, parameters)
                if cursor is not shared:
                    answered.append((cursor, check, answer))
        for cursor, _check, answer in answered:
            if answer is not None:
                answer.rows = cursor.fetchall()
                answer.types = [column.type_code for column in cursor.description or ()]
    except connection.dialect.loaded_dbapi.Error as exc:  # raised as SQLAlchemy raises it
        sent = "; ".join(dict.fromkeys(sql for sql, _, _, _ in queued))
        error = connection.dialect.loaded_dbapi.Error
        raise DBAPIError.instance(sent, None, exc, error, dialect=connection.dialect) from exc
    finally:
        shared.close()
    for cursor, check, _answer in answered:
        rowcount = cursor.rowcount
        cursor.close()
        if check is not None:
            check(rowcount)


def pending(connection: Connection) -> int:
    """How many statements are queued on ``connection`` (tests hold the round trips with it)."""
    return len(connection.info.get(_QUEUE) or ())


@event.listens_for(Engine, "before_cursor_execute")
def _send_queued_first(connection: Connection, *_args: Any) -> None:
    if _QUEUE in connection.info:
        flush(connection)


@event.listens_for(Engine, "commit")
def _send_queued_before_commit(connection: Connection) -> None:
    if _QUEUE in connection.info:
        flush(connection)


@event.listens_for(Engine, "rollback")
def _drop_queued(connection: Connection) -> None:
    if not connection.invalidated:  # an invalidated one goes back to no pool (nor its queue)
        connection.info.pop(_QUEUE, None)


@event.listens_for(Engine, "release_savepoint")
def _send_queued_before_release(connection: Connection, name: Any, _context: Any) -> None:
    # What was queued inside the savepoint is sent before it is released; a check that fails
    # then undoes the savepoint's work here (SQLAlchemy does not roll a failed release back).
    if _QUEUE in connection.info:
        try:
            flush(connection)
        except BaseException:
            connection.engine.dialect.do_rollback_to_savepoint(connection, name)
            raise


@event.listens_for(Engine, "rollback_savepoint")
def _drop_queued_since_the_savepoint(connection: Connection, _name: Any, _context: Any) -> None:
    # Everything queued before the SAVEPOINT was sent with it: what is queued now was queued
    # inside it, and is undone with it (sending it first could only fail the rollback).
    if not connection.invalidated:
        connection.info.pop(_QUEUE, None)


@event.listens_for(Pool, "checkin")
def _nothing_queued_in_the_pool(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info.pop(_QUEUE, None)
