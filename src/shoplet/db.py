"""Engine, units of work, the declarative base, the tenant mixin, ids and UTC times.

SQLite is the embedded default: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every
unit of work that may write, so that writers queue instead of failing to upgrade a read
lock. PostgreSQL is the scale-out path; both run the same schema.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    String,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, CursorResult, Result, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

Clock = Callable[[], datetime]

OUTBOX_WRITTEN = "shoplet.outbox_written"
"""``Session.info`` key: this transaction wrote outbox rows (delivery is kicked after commit)."""

EVENT_CONSUMERS = "shoplet.event_consumers"
"""``Session.info`` key: who reads the business events this session records (see ``events``)."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The system clock, aware UTC. Services take a clock argument instead of calling this."""
    return datetime.now(UTC)


_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # every 10 bits as two characters
_SHIFTS = tuple(range(120, -1, -10))


def new_id(prefix: str) -> str:
    """A sortable unique id: ``prefix_`` + 48-bit millisecond time + 80 random bits (base32,
    26 characters, most significant first).

    Ids sort by creation time, which keyset pagination relies on.
    """
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{''.join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])}"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic diffs stay readable)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}


class TenantMixin:
    """A row owned by one merchant: ``(merchant_id, id)`` is the primary key, tenant first."""

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True, sort_order=-20)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, sort_order=-19)


def one_of(dialect: str, column: Any, values: Any) -> Any:
    """``column IN values`` for long lists. On PostgreSQL the values travel as one array and
    are joined as ``unnest(:array)``: one parameter instead of thousands of placeholders, and
    a plan (a loop of primary-key probes) that stays right even when the table's statistics
    are stale — an ``= ANY(:array)`` filter on a sequential scan would search the whole
    array for every row."""
    values = list(values)
    if dialect == "postgresql":
        keys = func.unnest(bindparam(None, values, type_=ARRAY(String))).table_valued("v").render_derived()
        return column == keys.c.v
    return column.in_(values)


_WORD = re.compile(r"[A-Za-z0-9_]{1,64}")


def written_in(column: Any, values: Any) -> Any:
    """``column IN ('a', 'b')`` with the values written into the SQL, not bound: for names
    from code (statuses, metric names). A statement compiled once (``shoplet.pipelined``)
    cannot expand a list parameter per execution, a partial index is used only when the
    query's condition is the index's own text, and SQLite runs ORed equalities in a join
    four times slower than an IN. Values must be plain words (nothing to quote)."""
    names = [str(getattr(value, "value", value)) for value in values]
    if not all(_WORD.fullmatch(name) for name in names):
        raise ValueError("values written into SQL must be plain words")
    return column.in_([literal_column(f"'{name}'") for name in names])


def pairs_in(dialect: str, first: Any, second: Any, pairs: Any) -> Any:
    """``(first, second) IN pairs`` for keys whose second part (an id) is unique on its own:
    on PostgreSQL ``unnest`` of two arrays joined as above; elsewhere two plain IN lists, which
    match the same rows because the ids are unique, and which SQLite answers from the index."""
    pairs = list(pairs)
    if dialect == "postgresql":
        keys = (
            func.unnest(
                bindparam(None, [a for a, _ in pairs], type_=ARRAY(String)),
                bindparam(None, [b for _, b in pairs], type_=ARRAY(String)),
            )
            .table_valued("a", "b")
            .render_derived()
        )
        return and_(first == keys.c.a, second == keys.c.b)
    return and_(first.in_({a for a, _ in pairs}), second.in_([b for _, b in pairs]))


class _Insert:
    """An ``INSERT … ON CONFLICT DO NOTHING`` (``skip_taken``; else a plain INSERT, which a
    key taken fails) of one table compiled once for one dialect: its SQL, and each column's
    name and bind processor in the order the SQL takes them."""

    def __init__(self, table: Any, dialect: Any, skip_taken: bool = True) -> None:
        insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
        self.statement = insert(table).on_conflict_do_nothing() if skip_taken else insert(table)
        self.returning = self.statement.returning(*table.primary_key.columns)
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=[c.key for c in table.columns])
        self.sql: str = compiled.string
        processors: dict[str, Any] = compiled._bind_processors
        self.positional = compiled.positiontup is not None
        names = compiled.positiontup if self.positional else list(compiled.binds)
        self.columns: list[tuple[str, Any]] = [(name, processors.get(name)) for name in names]
        # PostgreSQL takes many rows as one statement over column arrays (``unnest``): an
        # executemany would send a statement per row.
        self.unnest_sql: str | None = None
        if dialect.name == "postgresql":
            head = self.sql.partition(" VALUES ")[0]
            arrays = ", ".join(f"%({name})b::{table.c[name].type.compile(dialect)}[]" for name in names)
            skip = " ON CONFLICT DO NOTHING" if skip_taken else ""
            self.unnest_sql = f"{head} SELECT * FROM unnest({arrays}){skip}"

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        """The driver's parameters of ``rows``, one set per row."""
        if len(rows) == 1:  # the common case (an event, a follow): no columns to gather
            row = rows[0]
            values = [process(row[name]) if process else row[name] for name, process in self.columns]
            if self.positional:
                return [tuple(values)]
            return [dict(zip((name for name, _ in self.columns), values, strict=True))]
        columns = self.column_values(rows)
        if self.positional:
            return list(zip(*columns, strict=True))
        names = [name for name, _ in self.columns]
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]

    def column_values(self, rows: list[dict[str, Any]]) -> list[list[Any]]:
        """Each column's values over ``rows``, converted for the driver. A value that is the
        very object of the row before (the ``now`` every row of a batch shares) is converted
        once."""
        columns = []
        for name, process in self.columns:
            values = [row[name] for row in rows]
            if process is not None:
                last: Any = _UNSET
                converted: Any = None
                out = []
                for value in values:
                    if value is not last:
                        last, converted = value, process(value)
                    out.append(converted)
                values = out
            columns.append(values)
        return columns


_UNSET = object()


_INSERT_NEW: dict[tuple[str, str, bool], _Insert] = {}


def insert_statement(dialect: Any, model: Any, skip_taken: bool = True) -> _Insert:
    """The ``INSERT`` (``… ON CONFLICT DO NOTHING`` if ``skip_taken``) of a model's table for a
    dialect, compiled once."""
    table = model.__table__ if hasattr(model, "__table__") else model
    insert = _INSERT_NEW.get((dialect.name, table.name, skip_taken))
    if insert is None:
        insert = _INSERT_NEW[(dialect.name, table.name, skip_taken)] = _Insert(table, dialect, skip_taken)
    return insert


_COLUMN_KEYS: dict[type, list[str]] = {}


def column_values(obj: Any) -> dict[str, Any]:
    """A new mapped object's column values, for an INSERT of it that skips the ORM's flush:
    read from its instance dict, where the ORM keeps what was set (a column never set is
    None, as the attribute would say). Keys as the table's columns name them."""
    keys = _COLUMN_KEYS.get(type(obj))
    if keys is None:
        keys = _COLUMN_KEYS[type(obj)] = [column.key for column in type(obj).__table__.columns]
    given = obj.__dict__
    return {key: given.get(key) for key in keys}


def insert_new(session: Session, model: Any, rows: list[dict[str, Any]]) -> int:
    """``INSERT … ON CONFLICT DO NOTHING`` of plain rows on the session's connection, by a
    statement compiled once per table: a row whose key is taken is skipped, and the count of
    rows inserted is returned (0 or 1 for one row). No ORM object is made, so a row the
    caller reads back afterwards is loaded fresh.

    Rows that give every column (as the business events' do) are sent as the driver's own
    parameters, converted by the columns' bind processors once here, on the driver's cursor
    (:func:`driver_execute`); SQLAlchemy would spend longer per row than the database does.
    Rows leaving columns to their defaults go through SQLAlchemy."""
    if not rows:
        return 0
    connection = session.connection()
    insert = insert_statement(connection.dialect, model)
    width = len(insert.columns)
    if any(len(row) != width for row in rows):
        # Defaults to fill: SQLAlchemy's statement, counting the keys it returns (a driver's
        # row count of an INSERT … ON CONFLICT is not reliable everywhere).
        return len(connection.execute(insert.returning, rows).all())
    if len(rows) > 1 and insert.unnest_sql is not None:
        arrays = dict(zip((name for name, _ in insert.columns), insert.column_values(rows), strict=True))
        cursor = driver_execute(connection, insert.unnest_sql, arrays)
    else:
        parameters, many = insert.parameters(rows), len(rows) > 1
        cursor = driver_execute(connection, insert.sql, parameters if many else parameters[0], many=many)
    try:
        return max(int(cursor.rowcount), 0)
    finally:
        cursor.close()


def bulk_insert(connection: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many plain rows (no JSON columns) at once: ``COPY`` on PostgreSQL, where it is
    several times faster than row-by-row statements; an executemany elsewhere. For batch
    jobs; the rows go through the same transaction as the connection's other statements."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    columns = [c.name for c in table.columns]
    cursor = connection.connection.driver_connection.cursor()
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    except connection.dialect.dbapi.IntegrityError as exc:  # as SQLAlchemy would report it
        raise IntegrityError(statement, None, exc) from exc


_T = TypeVar("_T")
_BY_KEY: dict[tuple[type, bool], Any] = {}


def _key_statement(model: type, for_update: bool) -> Any:
    """``SELECT model WHERE <primary key> = :k0, :k1 …`` built once per model (and lock)."""
    statement = _BY_KEY.get((model, for_update))
    if statement is None:
        columns: Any = sa_inspect(model).primary_key
        statement = select(model).where(*[column == bindparam(f"k{n}") for n, column in enumerate(columns)])
        if for_update:
            statement = statement.with_for_update()
        _BY_KEY[(model, for_update)] = statement
    return statement


def by_key(session: Session, model: type[_T], key: tuple[Any, ...]) -> _T | None:
    """The row of ``model`` with this primary key, by a statement built once per model.

    Always reads the database (an object already in the session is returned as it is,
    refreshed only if it was expired); :meth:`KeyedSession.get` is the same read behind
    the identity map."""
    statement = _key_statement(model, False)
    return cast(_T | None, session.scalar(statement, {f"k{n}": value for n, value in enumerate(key)}))


class KeyedSession(Session):
    """The session every unit of work uses: ``get`` loads a row the identity map does not
    hold with a statement built once per model.

    ``Session.get`` builds its SELECT, and that statement's cache key, on every call that
    reaches the database: about 40 µs a call, and the services call it on every path. Here a
    plain ``get`` (with or without ``populate_existing`` and ``with_for_update=True``) that
    misses the identity map runs :func:`_key_statement` instead; what it returns is the
    same. Anything else (options, an object the map holds, a dict key) is SQLAlchemy's own."""

    def get(
        self,
        entity: Any,
        ident: Any,
        *,
        options: Any = None,
        populate_existing: bool | None = None,
        with_for_update: Any = None,
        identity_token: Any = None,
        execution_options: Any = None,
        bind_arguments: Any = None,
    ) -> Any:
        key = ident if type(ident) is tuple else (ident,)
        columns = _PRIMARY_KEYS.get(entity)
        if columns is None and isinstance(entity, type) and issubclass(entity, Base):
            columns = _PRIMARY_KEYS[entity] = len(sa_inspect(entity).primary_key)
        if (
            columns != len(key)
            or options
            or identity_token is not None
            or execution_options
            or bind_arguments
            or with_for_update not in (None, False, True)
            or None in key
            or (not populate_existing and not with_for_update and (entity, key, None) in self.identity_map)
        ):
            return super().get(
                entity,
                ident,
                options=options,
                populate_existing=populate_existing,
                with_for_update=with_for_update,
                identity_token=identity_token,
                execution_options=execution_options or {},
                bind_arguments=bind_arguments,
            )
        return self.scalar(
            _key_statement(entity, bool(with_for_update)),
            {f"k{n}": value for n, value in enumerate(key)},
            execution_options={"populate_existing": True} if populate_existing else {},
        )


_PRIMARY_KEYS: dict[Any, int] = {}


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched (the conditional-update idiom: 0 means the
    condition no longer held, so someone else got there first)."""
    return cast(CursorResult[Any], result).rowcount


def number(session: Session, statement: Any) -> int:
    """A count or a ``coalesce(sum(...), 0)``: always an int (an empty result counts as 0)."""
    return int(session.scalar(statement) or 0)


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as CI exports them) and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


DEFAULT_POOL_SIZE = 20


def make_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and explicit transaction control.

    ``pool_size`` connections stay open; as many again are opened under load and closed when
    returned. A pool smaller than the requests served at once opens and closes connections
    all the time (on PostgreSQL a new server process each)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        ping_when_idle(engine)
        return engine

    connect_args = {"check_same_thread": False, "timeout": 30}
    if parsed.database and parsed.database != ":memory:":
        directory = os.path.dirname(os.path.abspath(parsed.database))
        os.makedirs(directory, exist_ok=True)
        engine = create_engine(url, connect_args=connect_args, pool_size=pool_size, max_overflow=pool_size)
    else:  # one in-memory database is one connection, shared
        engine = create_engine(url, connect_args=connect_args, poolclass=StaticPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("shoplet_single_read"):
            return  # one SELECT on its own (Database.read_once): SQLite runs it in autocommit
        driver_execute(conn, "BEGIN IMMEDIATE" if options.get("shoplet_write", True) else "BEGIN", ()).close()

    return engine


def driver_execute(
    connection: Connection, sql: str, parameters: Any, *, many: bool = False, prepare: bool | None = None
) -> Any:
    """Run one statement in the driver's own SQL and parameters on the connection's driver
    cursor, in its transaction, now; returns the cursor. For statements compiled once on hot
    paths (``shoplet.pipelined``; SQLite's BEGIN): SQLAlchemy's execution costs more than a
    short statement does. What is queued on the connection goes first (the pipelined module's
    engine event sends it); the engine's ``before_cursor_execute`` and ``after_cursor_execute``
    listeners see the statement as they see SQLAlchemy's (with no execution context); a
    driver error is raised as SQLAlchemy raises it (``IntegrityError`` for a key taken).
    ``prepare=False`` (PostgreSQL): never prepared on the server, psycopg otherwise preparing
    a statement from its fifth use on a connection."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for listener in connection.dispatch.before_cursor_execute:
        sql, parameters = listener(connection, cursor, sql, parameters, None, many)
    error = connection.dialect.loaded_dbapi.Error
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif prepare is None:
            cursor.execute(sql, parameters)
        else:
            cursor.execute(sql, parameters, prepare=prepare)
    except error as exc:
        cursor.close()
        raise DBAPIError.instance(sql, parameters, exc, error, dialect=connection.dialect) from exc
    connection.dispatch.after_cursor_execute(connection, cursor, sql, parameters, None, many)
    return cursor


PING_AFTER_IDLE = 2.0
"""Seconds a pooled connection may rest before it is pinged on its way out of the pool."""


def ping_when_idle(engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
    """Ping a pooled connection before use only when it has rested in the pool a while.

    A connection that served a request a moment ago is as good as a ping says; pinging it
    again before every unit of work (``pool_pre_ping``) costs a round trip each time, which
    under load is a fifth of a short request's. One that rested may have been closed by the
    server, a proxy or a restart: it is pinged, and replaced when the ping fails. A restart
    while connections are busy fails the statements in flight; SQLAlchemy then drops every
    connection of the pool that predates the failure, and the next request connects anew."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["shoplet.checked_in"] = clock()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get("shoplet.checked_in")
        if rested is None or clock() - rested < PING_AFTER_IDLE:
            return  # new (it just connected), or used a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("the pooled connection failed its ping")


class Database:
    """The engine and two session factories: read-only units of work and writing ones."""

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        # SQLite has one writer at a time. Queueing this process's writers on a lock wakes
        # the next one at once; left to SQLite's busy handler they would sleep in growing steps.
        self._writer = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        self._write = sessionmaker(
            bind=self.engine.execution_options(shoplet_write=True),
            class_=KeyedSession,
            expire_on_commit=False,
        )
        # Called after a commit that wrote outbox rows; the runtime points it at the job queue.
        self.after_outbox_commit: Callable[[], None] = lambda: None
        # Each recorded business event is queued once for each of these (the daily rollups,
        # and the ClickHouse copy when one is configured).
        self.event_consumers: tuple[str, ...] = ("rollup",)
        # PostgreSQL runs reading units of work in autocommit: under its READ COMMITTED each
        # statement takes its own snapshot in a transaction too, so BEGIN and COMMIT would
        # buy no consistency and cost two round trips (a fifth of a refused checkout's).
        # Nothing that writes or locks runs in one (tests/conftest.py holds that); SQLite's
        # read transaction (a plain BEGIN) keeps one snapshot and costs no round trip.
        autocommit = {"isolation_level": "AUTOCOMMIT"} if self.engine.dialect.name == "postgresql" else {}
        self.read_engine = self.engine.execution_options(shoplet_write=False, **autocommit)
        self._read = sessionmaker(bind=self.read_engine, class_=KeyedSession, expire_on_commit=False)
        # One SELECT on its own needs no transaction around it: SQLite's BEGIN is skipped
        # (see make_engine), PostgreSQL's connection runs it in autocommit (no BEGIN, no
        # ROLLBACK: two round trips fewer per credential check).
        self._single_read = self.engine.execution_options(shoplet_single_read=True, **autocommit)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = True) -> Session:
        session = (self._write if write else self._read)()
        session.info[EVENT_CONSUMERS] = self.event_consumers
        return session

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: commit when the block succeeds, roll back when it raises.

        A commit that wrote outbox rows (``session.info[OUTBOX_WRITTEN]``, set by
        ``outbox.emit``) calls :attr:`after_outbox_commit` once the transaction is over and
        the writer lock released, so delivery starts at once; nothing calls it by hand."""
        lock = self._writer if write else None
        if lock is not None:
            lock.acquire()
        session = self.session(write=write)
        wrote_outbox = False
        try:
            yield session
            session.commit()
            wrote_outbox = bool(session.info.get(OUTBOX_WRITTEN))
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            if lock is not None:
                lock.release()
        if wrote_outbox:
            self.after_outbox_commit()

    @contextmanager
    def read_once(self) -> Iterator[Any]:
        """A connection for one read statement, with no Session and, on SQLite, no BEGIN and
        COMMIT around it (a single SELECT sees one consistent state on its own). For the
        credential check every customer request makes; anything more is a unit of work."""
        with self._single_read.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
