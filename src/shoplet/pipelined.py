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
SQLAlchemy would raise it, so callers catch the same exceptions.

SQLite has no round trips to save: there each statement runs at once, and what this module
saves is SQLAlchemy's own work per statement (its cache key, compiled-cache lookup,
execution context and result wrapping: about three quarters of the time a short statement
takes through ``Connection.execute``). The statement compiled once is run on the
connection's driver cursor, in the unit of work's transaction; the engine's cursor events
still see it (:func:`shoplet.db.driver_execute`), its errors are SQLAlchemy's and its rows SQLAlchemy's
``Row`` objects.
"""

from __future__ import annotations

import re
import select
from collections.abc import Callable
from typing import Any

from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, Row
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from shoplet.db import driver_execute, insert_new, insert_statement

Check = Callable[[int], None]


class _Answer:
    """What a queued statement whose rows are wanted returns: its rows and their type codes."""

    __slots__ = ("rows", "types", "done")

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.types: list[Any] = []
        self.done = False


_QUEUE = "shoplet.pipelined"
"""``Connection.info`` key: the statements queued on this connection, not yet sent."""


class _Given:
    """Where a caller's value goes in a compiled statement's parameters (see :class:`_Compiled`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Compiled:
    """A statement compiled once for a dialect with the parameter names it was given: its
    SQL, how each parameter dict becomes the driver's (named for PostgreSQL, positional for
    SQLite) and, for a statement that returns rows, how its rows become SQLAlchemy's."""

    def __init__(self, statement: Any, dialect: Any, names: tuple[str, ...]) -> None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(names))
        if "POSTCOMPILE" in compiled.string:  # an expanding IN is rendered per call
            raise ValueError("a statement run by shoplet.pipelined cannot have an expanding IN parameter")
        defaulted = [column.key for column in compiled.insert_prefetch + compiled.update_prefetch]
        if defaulted:  # SQLAlchemy computes those per execution; here nothing would
            raise ValueError(f"give the columns a default would fill: {', '.join(defaulted)}")
        self.sql: str = compiled.string
        self.compiled = compiled
        self.dialect = dialect
        self.columns = compiled._result_columns
        self.metadata = SimpleResultMetaData([column.keyname for column in self.columns])
        self.result_processors: list[tuple[int, Any]] | None = None  # from the first answer's types
        # How each of the driver's parameters is made, in its order: (the caller's name, its
        # bind processor) for a value the caller gives, (None, the value converted once) for
        # one written into the statement (a constant compared with). SQLAlchemy's own
        # construct_params does this lookup per execution.
        marks = {name: _Given(name) for name in names}
        template = compiled.construct_params(marks)
        processors = compiled._bind_processors
        self.keys: list[str] = list(compiled.positiontup or template)
        self.positional = compiled.positiontup is not None
        self.plan: list[tuple[str | None, Any]] = []
        for key in self.keys:
            value, process = template[key], processors.get(key)
            if isinstance(value, _Given):
                self.plan.append((value.name, process))
            else:
                self.plan.append((None, process(value) if process is not None else value))

    def parameters(self, values: dict[str, Any]) -> Any:
        """The driver's parameters: a tuple for SQLite's positional ones, a dict for PostgreSQL."""
        out = [
            fixed if name is None else values[name] if fixed is None else fixed(values[name])
            for name, fixed in self.plan
        ]
        return tuple(out) if self.positional else dict(zip(self.keys, out, strict=True))

    def rows(self, fetched: list[Any], types: list[Any]) -> list[Row[Any]]:
        """SQLAlchemy's rows of what the driver fetched (``types``: its type codes, by column;
        SQLite has none): converted by the result processors SQLAlchemy would pick."""
        if self.result_processors is None:
            processors = [
                column.type._cached_result_processor(self.dialect, type_code)
                for column, type_code in zip(self.columns, types or [None] * len(self.columns), strict=True)
            ]
            self.result_processors = [(n, p) for n, p in enumerate(processors) if p is not None]
        if self.result_processors:
            converted = []
            for row in fetched:
                values = list(row)
                for n, process in self.result_processors:
                    values[n] = process(values[n])
                converted.append(tuple(values))
            fetched = converted
        result: Any = IteratorResult(self.metadata, iter(fetched))
        return list(result.all())


_COMPILED: dict[tuple[Any, str, tuple[str, ...]], _Compiled] = {}


def later(session: Session, statement: Any, values: dict[str, Any], check: Check | None = None) -> None:
    """Run ``statement`` with ``values`` in the session's transaction: on PostgreSQL queued
    and sent with the next statement the unit of work sends or before its COMMIT; on SQLite
    at once. ``check(rowcount)`` raises when the statement did not do what the caller needs."""
    connection = session.connection()
    compiled = _compiled(statement, connection.dialect, values)
    if connection.dialect.name != "postgresql":
        cursor = driver_execute(connection, compiled.sql, compiled.parameters(values))
        try:
            # an upsert's RETURNING counts it: drivers disagree on its rowcount
            count = len(cursor.fetchall()) if cursor.description else cursor.rowcount
        finally:
            cursor.close()
        if check is not None:
            check(count)
        return
    queue(connection, compiled.sql, compiled.parameters(values), check)


def _compiled(statement: Any, dialect: Any, values: dict[str, Any]) -> _Compiled:
    key = (statement, dialect.name, tuple(values))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = _Compiled(statement, dialect, key[2])
    return compiled


def execute(
    target: Session | Connection, statement: Any, values: dict[str, Any], *, planned_each_time: bool = False
) -> list[Row[Any]]:
    """Run ``statement`` now and return its rows (a SELECT's or a RETURNING's), as
    ``execute(...).all()`` gives them: on a session's connection (in its transaction) or on a
    connection of its own (``Database.read_once``). On PostgreSQL sent in the same pipeline as
    what is queued, so the two cost one round trip; else, like SQLite's, on the driver's
    cursor at once. For a hot path's prebuilt statements (no expanding ``IN`` parameter).
    ``planned_each_time``: on PostgreSQL never prepared, so the server plans it for the values
    given each time (a statement whose best plan depends on them: a range of days)."""
    connection = target.connection() if isinstance(target, Session) else target
    compiled = _compiled(statement, connection.dialect, values)
    parameters = compiled.parameters(values)
    if connection.dialect.name != "postgresql" or _QUEUE not in connection.info:
        return _fetch_now(connection, compiled, parameters, planned_each_time)
    answer = _Answer()
    queue(connection, compiled.sql, parameters, None, answer)
    flush(connection)
    return compiled.rows(answer.rows, answer.types)


def read_together(session: Session, reads: list[tuple[Any, dict[str, Any]]]) -> list[list[Row[Any]]]:
    """The rows of several SELECTs that do not depend on one another, as ``execute(...).all()``
    gives them: on PostgreSQL sent in one pipeline (one round trip instead of one each), with
    whatever is queued before them; elsewhere one after another. For a unit of work's hot
    reads (checkout's); a statement must have no expanding (``IN``) parameters."""
    connection = session.connection()
    dialect = connection.dialect
    compiled = []
    for statement, values in reads:
        read = _compiled(statement, dialect, values)
        compiled.append((read, read.parameters(values)))
    if dialect.name != "postgresql":
        return [_fetch_now(connection, read, parameters) for read, parameters in compiled]
    answers = []
    for read, parameters in compiled:
        answer = _Answer()
        queue(connection, read.sql, parameters, None, answer)
        answers.append((read, answer))
    flush(connection)
    return [read.rows(answer.rows, answer.types) for read, answer in answers]


class Later:
    """The rows of a SELECT read with the unit of work's next statements (:func:`read_later`)."""

    def __init__(self, connection: Connection, compiled: _Compiled, parameters: Any) -> None:
        self.connection, self.compiled, self.parameters = connection, compiled, parameters
        self.answer: _Answer | None = None
        if connection.dialect.name == "postgresql":
            self.answer = _Answer()
            queue(connection, compiled.sql, parameters, None, self.answer)

    def rows(self) -> list[Row[Any]]:
        """Its rows, as ``execute(...).all()`` gives them; read now if not read yet."""
        if self.answer is None:  # SQLite: read when asked, in the unit of work's transaction
            return _fetch_now(self.connection, self.compiled, self.parameters)
        if not self.answer.done:
            flush(self.connection)
        if not self.answer.done:
            raise RuntimeError("the read was dropped with a rollback before it was sent")
        return self.compiled.rows(self.answer.rows, self.answer.types)


def read_later(session: Session, statement: Any, values: dict[str, Any]) -> Later:
    """A read the caller may need later (whether a retry's Idempotency-Key answered an earlier
    request, asked only when the request is refused): on PostgreSQL queued, so it goes in the
    round trip of the unit of work's next statements and costs none of its own; on SQLite,
    where a statement costs no round trip, run only if its rows are asked for."""
    connection = session.connection()
    compiled = _compiled(statement, connection.dialect, values)
    return Later(connection, compiled, compiled.parameters(values))


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
    if any(len(row) != len(insert.columns) for row in rows):  # defaults to fill: SQLAlchemy's statement
        if skip_taken:
            insert_new(session, model, rows)
        else:
            connection.execute(insert.statement, rows)
        return
    if connection.dialect.name != "postgresql":
        parameters = insert.parameters(rows)
        many = len(parameters) > 1
        driver_execute(connection, insert.sql, parameters if many else parameters[0], many=many).close()
        return
    if len(rows) > 1 and insert.unnest_sql is not None:
        names = [name for name, _ in insert.columns]
        queue(connection, insert.unnest_sql, dict(zip(names, insert.column_values(rows), strict=True)))
    else:
        for parameters in insert.parameters(rows):
            queue(connection, insert.sql, parameters)


def _fetch_now(
    connection: Connection, compiled: _Compiled, parameters: Any, planned_each_time: bool = False
) -> list[Row[Any]]:
    """The rows of a statement run now (:func:`shoplet.db.driver_execute`), as SQLAlchemy's."""
    unprepared = planned_each_time and connection.dialect.name == "postgresql"
    cursor = driver_execute(connection, compiled.sql, parameters, prepare=False if unprepared else None)
    try:
        fetched = cursor.fetchall()
        types = [column[1] for column in cursor.description or ()]
    finally:
        cursor.close()
    return compiled.rows(fetched, types)


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
    try:
        results = send_together(driver, [(sql, parameters) for sql, parameters, _, _ in queued])
    except connection.dialect.loaded_dbapi.Error as exc:  # raised as SQLAlchemy raises it
        sent = "; ".join(dict.fromkeys(sql for sql, _, _, _ in queued))
        error = connection.dialect.loaded_dbapi.Error
        raise DBAPIError.instance(sent, None, exc, error, dialect=connection.dialect) from exc
    for (_sql, _parameters, check, answer), (rowcount, rows, types) in zip(queued, results, strict=True):
        if answer is not None:
            answer.rows, answer.types, answer.done = rows, types, True
        if check is not None:
            check(rowcount)


_PLACEHOLDER = re.compile(r"%\(([^)]+)\)([sbt])|%%")
_FORMATS = {"s": PyFormat.AUTO, "b": PyFormat.BINARY, "t": PyFormat.TEXT}


class _Native:
    """A statement in libpq's own form: ``$n`` placeholders for psycopg's ``%(name)s``
    (``%(name)b``: binary), the names in their order and each one's format."""

    def __init__(self, sql: str) -> None:
        self.names: list[str] = []
        self.formats: list[PyFormat] = []

        def number(match: re.Match[str]) -> str:
            if match.group(0) == "%%":
                return "%"
            name = match.group(1)
            if name not in self.names:  # a name used twice is one parameter, as psycopg has it
                self.names.append(name)
                self.formats.append(_FORMATS[match.group(2)])
            return f"${self.names.index(name) + 1}"

        self.query = _PLACEHOLDER.sub(number, sql).encode()


_NATIVE: dict[str, _Native] = {}


def send_together(
    driver: Any, statements: list[tuple[str, dict[str, Any]]]
) -> list[tuple[int, list[Any], list[Any]]]:
    """Run statements in psycopg's SQL and parameters in one libpq pipeline on ``driver`` (a
    psycopg connection, in its current transaction); for each, its row count, its rows and
    their type codes. The first statement that fails raises its psycopg error, once the
    pipeline is done (the ones after it did not run).

    libpq's own calls rather than psycopg's ``Connection.pipeline()``: psycopg waits on the
    socket and writes it once per statement, here the statements are buffered and written
    together, and the answers read together — about a quarter of the CPU per statement, and
    one wait (a hand-over of the GIL) per pipeline instead of one per statement. The
    statements are not prepared on the server (psycopg deallocates every prepared statement
    of a connection at each rollback, its own and others'): the server parses and plans
    each, as it does any statement psycopg has run fewer than five times."""
    pgconn = driver.pgconn
    transformer = Transformer(driver)
    expected: list[bool] = []  # per result awaited: whether it is a statement's (else the BEGIN's)
    pgconn.enter_pipeline_mode()
    sent = 0
    try:
        if not driver.autocommit and pgconn.transaction_status == pq.TransactionStatus.IDLE:
            # psycopg opens the transaction before a statement; libpq alone would not, and
            # the pipeline's statements would commit at its end
            pgconn.send_query_params(_begin(driver), None)
            expected.append(False)
        for sql, parameters in statements:
            native = _NATIVE.get(sql)
            if native is None:
                native = _NATIVE[sql] = _Native(sql)
            values = [parameters[name] for name in native.names]
            dumped = transformer.dump_sequence(values, native.formats)
            pgconn.send_query_params(native.query, dumped, transformer.types, transformer.formats)
            expected.append(True)
            sent = len(expected)
    finally:  # what was sent is always answered, and the connection leaves pipeline mode
        try:
            pgconn.pipeline_sync()
            while pgconn.flush():
                select.select([], [pgconn.socket], [])
            answers = _results(pgconn, sent)
        finally:
            pgconn.exit_pipeline_mode()
    out: list[tuple[int, list[Any], list[Any]]] = []
    failed: Exception | None = None
    for is_statement, result in zip(expected, answers, strict=True):
        if result.status == pq.ExecStatus.FATAL_ERROR:
            failed = failed or errors.error_from_result(result, encoding=driver.info.encoding)
        if not is_statement or failed is not None:
            continue
        if result.status == pq.ExecStatus.TUPLES_OK:
            transformer.set_pgresult(result)
            rows = transformer.load_rows(0, result.ntuples, tuple)
            types = [result.ftype(n) for n in range(result.nfields)]
            out.append((len(rows), rows, types))
        else:
            out.append((result.command_tuples or 0, [], []))
    if failed is not None:
        raise failed
    return out


def _begin(driver: Any) -> bytes:
    """The BEGIN psycopg would send on ``driver``, with its transaction characteristics."""
    parts = [b"BEGIN"]
    if driver.isolation_level is not None:
        parts.append(b"ISOLATION LEVEL " + driver.isolation_level.name.replace("_", " ").encode())
    if driver.read_only is not None:
        parts.append(b"READ ONLY" if driver.read_only else b"READ WRITE")
    if driver.deferrable is not None:
        parts.append(b"DEFERRABLE" if driver.deferrable else b"NOT DEFERRABLE")
    return b" ".join(parts)


def _results(pgconn: Any, count: int) -> list[Any]:
    """The first result of each of ``count`` queries sent in pipeline mode, up to the sync."""
    results: list[Any] = []
    current: Any = None
    while True:
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one query's results
            results.append(current)
            current = None
            continue
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            break
        if current is None:
            current = result
    if len(results) != count:
        raise errors.InternalError(f"{len(results)} answers to {count} statements in a pipeline")
    return results


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
