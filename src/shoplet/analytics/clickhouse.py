"""ClickHouse for large merchants and platforms: events copied in batches, figures computed
there in ClickHouse SQL over the raw events.

With ``SHOPLET_CLICKHOUSE_URL`` set (``clickhouse://user:password@host:8123/database``, or
``chdb:///path`` for the in-process engine), every recorded event is also queued for the
copier (``export``), which inserts batches into a ``ReplacingMergeTree`` ordered by
``(merchant_id, id)`` and then deletes them from the queue. A crash between the two inserts
the batch again on the next run; the table keeps one row per event id and every query reads
it ``FINAL``, so each event counts exactly once. The same SQL runs on a ClickHouse server
(through ``clickhouse-connect``) and on chDB (in-process ClickHouse), which is how the
tests exercise this path on every run.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import urlparse

from sqlalchemy import delete, select

from shoplet.db import Database, one_of
from shoplet.events import CODES, Event, EventKind, EventQueue
from shoplet.scoping import owned

CONSUMER = "clickhouse"
BATCH = 20_000

COLUMNS = (
    "merchant_id",
    "id",
    "kind",
    "occurred_at",
    "customer_id",
    "host_app",
    "scene",
    "store_id",
    "guide_id",
    "subject_id",
    "ref",
    "amount",
    "benefit",
    "subject_at",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    merchant_id String,
    id String,
    kind LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    customer_id Nullable(String),
    host_app Nullable(String),
    scene Nullable(String),
    store_id Nullable(String),
    guide_id Nullable(String),
    subject_id Nullable(String),
    ref Nullable(String),
    amount Int64,
    benefit Int64,
    subject_at Nullable(DateTime64(6, 'UTC'))
) ENGINE = ReplacingMergeTree
ORDER BY (merchant_id, id)
"""


class Client(Protocol):
    """What Shoplet needs of ClickHouse: run a statement, read rows, insert rows."""

    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[list[Any]]: ...

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None: ...


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


_CHDB_SESSIONS: dict[str | None, Any] = {}


class ChdbClient:
    """chDB, the ClickHouse engine in this process (a directory, or a temporary one when
    none). chDB allows one session per process, so clients of the same path share it."""

    def __init__(self, path: str | None = None) -> None:
        from chdb import session as chdb_session

        if path not in _CHDB_SESSIONS:
            _CHDB_SESSIONS[path] = chdb_session.Session(path) if path else chdb_session.Session()
        self.session = _CHDB_SESSIONS[path]

    def command(self, sql: str) -> None:
        self.session.query(sql)

    def rows(self, sql: str) -> list[list[Any]]:
        result = self.session.query(sql, "JSONCompact")
        text = result.data() if hasattr(result, "data") else str(result)
        return json.loads(text)["data"] if text.strip() else []

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        body = "\n".join(json.dumps({k: _json_value(v) for k, v in r.items()}) for r in rows)
        self.session.query(f"INSERT INTO {table} FORMAT JSONEachRow\n{body}")


class ServerClient:
    """A ClickHouse server, through ``clickhouse-connect`` (HTTP interface)."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect  # an optional dependency: pip install 'shoplet[clickhouse]'

        parts = urlparse(url)
        self.client = clickhouse_connect.get_client(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 8123,
            username=parts.username or "default",
            password=parts.password or "",
            secure=parts.scheme in ("clickhouses", "https"),
        )

    def command(self, sql: str) -> None:
        self.client.command(sql)

    def rows(self, sql: str) -> list[list[Any]]:
        return [list(r) for r in self.client.query(sql).result_rows]

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.client.insert(table, [[r[c] for c in COLUMNS] for r in rows], column_names=list(COLUMNS))


class Warehouse:
    """The events table in a ClickHouse database, and the copier that fills it."""

    def __init__(self, client: Client, database: str = "shoplet") -> None:
        self.client, self.database = client, database
        self.table = f"{database}.events"

    @classmethod
    def from_url(cls, url: str) -> Warehouse:
        parts = urlparse(url)
        if parts.scheme == "chdb":
            return cls(ChdbClient(parts.path or None))
        return cls(ServerClient(url), (parts.path or "/shoplet").strip("/") or "shoplet")

    def create(self) -> None:
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.client.command(SCHEMA.format(table=self.table))

    def export(self, db: Database, *, limit: int = BATCH) -> int:
        """Copy queued events until the queue is empty; returns how many were copied."""
        copied = 0
        while True:
            with db.unit_of_work(write=False) as session:
                queued = session.execute(
                    select(EventQueue.merchant_id, EventQueue.event_id)
                    .where(EventQueue.consumer == CONSUMER)
                    .limit(limit)
                ).all()
                by_merchant: dict[str, list[str]] = {}
                for merchant_id, event_id in queued:
                    by_merchant.setdefault(merchant_id, []).append(event_id)
                rows = []
                for merchant_id, ids in by_merchant.items():
                    for event in session.scalars(
                        select(Event).where(owned(Event, merchant_id), one_of(db.dialect, Event.id, ids))
                    ):
                        rows.append({c: getattr(event, c) for c in COLUMNS})
            if not queued:
                return copied
            self.client.insert(self.table, rows)  # again after a crash: the table keeps one per id
            with db.unit_of_work() as session:
                for merchant_id, ids in by_merchant.items():
                    session.execute(
                        delete(EventQueue).where(
                            owned(EventQueue, merchant_id),
                            EventQueue.consumer == CONSUMER,
                            one_of(db.dialect, EventQueue.event_id, ids),
                        )
                    )
            copied += len(queued)


def quote(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _day(value: date) -> str:
    return f"toDate('{value.isoformat()}')"


# metric -> (kinds, the time that names its day, the aggregate); see rollups.add_happened.
METRIC_SQL: dict[str, tuple[tuple[str, ...], str, str]] = {
    "gmv": ((EventKind.ORDER_PAID,), "occurred_at", "sum(amount)"),
    "orders": ((EventKind.ORDER_PAID,), "occurred_at", "count()"),
    "discount": ((EventKind.ORDER_PAID,), "occurred_at", "sum(benefit)"),
    "refunds": ((EventKind.REFUND,), "subject_at", "sum(amount)"),
    "refund_count": ((EventKind.REFUND,), "subject_at", "count()"),
    "claimed": ((EventKind.COUPON_CLAIMED,), "occurred_at", "count()"),
    "coupon_used": ((EventKind.COUPON_USED, EventKind.COUPON_VERIFIED), "subject_at", "count()"),
    "coupon_expired": ((EventKind.COUPON_EXPIRED,), "subject_at", "count()"),
    "light_joined": ((EventKind.LIGHT_JOINED,), "occurred_at", "count()"),
    "light_settled": ((EventKind.LIGHT_SETTLED,), "occurred_at", "count()"),
    "light_charged": ((EventKind.LIGHT_SETTLED,), "occurred_at", "sum(amount)"),
    "light_enjoyed": ((EventKind.LIGHT_SETTLED,), "occurred_at", "sum(benefit)"),
    "light_overdue": ((EventKind.LIGHT_OVERDUE,), "occurred_at", "count()"),
    "light_owed": ((EventKind.LIGHT_OVERDUE,), "occurred_at", "sum(amount)"),
    "commission": ((EventKind.COMMISSION_CREATED,), "occurred_at", "sum(amount)"),
    "commission_settled": ((EventKind.COMMISSION_SETTLED,), "occurred_at", "sum(amount)"),
    "bound": ((EventKind.GUIDE_BOUND,), "occurred_at", "count()"),
}
# (The rollups also keep the default funnel's journeys per day; here funnels read the events.)
DIM_SQL = {
    "all": "''",
    "store": "ifNull(store_id, '')",
    "host_app": "ifNull(host_app, '')",
    "guide": "ifNull(guide_id, '')",
    "template": "ifNull(ref, '')",
    "plan": "ifNull(ref, '')",
    "outcome": "ifNull(ref, '')",
}


class ClickHouseSource:
    """:class:`analytics.figures.Source` in ClickHouse SQL over one merchant's raw events."""

    name = "clickhouse"

    def __init__(self, warehouse: Warehouse, merchant_id: str, zone: str) -> None:
        self.client = warehouse.client
        self.base = f"{warehouse.table} FINAL WHERE merchant_id = {quote(merchant_id)}"
        self.tz = quote(zone)

    def _local(self, column: str = "occurred_at") -> str:
        return f"toDate({column}, {self.tz})"

    def _between(self, since: date, until: date, column: str = "occurred_at") -> str:
        local = self._local(column)
        return f"{local} >= {_day(since)} AND {local} < {_day(until)}"

    def active_by_day(self, since: date, until: date) -> dict[date, int]:
        rows = self.client.rows(
            f"SELECT toString({self._local()}) AS d, uniqExact(customer_id) FROM {self.base} "
            f"AND customer_id IS NOT NULL AND {self._between(since, until)} GROUP BY d"
        )
        return {date.fromisoformat(d): int(n) for d, n in rows}

    def active_in(self, starts: list[tuple[date, date]]) -> dict[date, int]:
        out = {}
        for start, end in starts:
            rows = self.client.rows(
                f"SELECT uniqExact(customer_id) FROM {self.base} "
                f"AND customer_id IS NOT NULL AND {self._between(start, end)}"
            )
            out[start] = int(rows[0][0]) if rows else 0
        return out

    def _first_days(self) -> str:
        return (
            f"SELECT customer_id AS c, min({self._local()}) AS first_day FROM {self.base} "
            f"AND customer_id IS NOT NULL GROUP BY c"
        )

    def new_customers(self, since: date, until: date) -> list[tuple[str | None, str | None, int]]:
        order = "tuple(occurred_at, id)"
        sources = (
            f"SELECT customer_id AS c, {self._local()} AS d, argMin(assumeNotNull(host_app), {order}) AS h, "
            f"argMin(ifNull(scene, ''), {order}) AS s FROM {self.base} "
            f"AND customer_id IS NOT NULL AND host_app IS NOT NULL GROUP BY c, d"
        )
        rows = self.client.rows(
            f"SELECT nullIf(a.h, '') AS host, nullIf(a.s, '') AS scene, count() FROM ({self._first_days()}) AS f "
            f"LEFT JOIN ({sources}) AS a ON a.c = f.c AND a.d = f.first_day "
            f"WHERE f.first_day >= {_day(since)} AND f.first_day < {_day(until)} GROUP BY host, scene"
        )
        return [(h, s, int(n)) for h, s, n in rows]

    def retention(
        self, since: date, until: date, offsets: list[int]
    ) -> tuple[dict[date, int], dict[tuple[date, int], int]]:
        wanted = ", ".join(str(k) for k in sorted({0, *offsets}))
        horizon = max([0, *offsets]) + 1
        active = (
            f"SELECT DISTINCT customer_id AS c, {self._local()} AS d FROM {self.base} "
            f"AND customer_id IS NOT NULL AND {self._local()} >= {_day(since)} "
            f"AND {self._local()} < addDays({_day(until)}, {horizon})"
        )
        rows = self.client.rows(
            f"SELECT toString(f.first_day) AS cohort, dateDiff('day', f.first_day, a.d) AS k, count() "
            f"FROM ({self._first_days()}) AS f INNER JOIN ({active}) AS a ON a.c = f.c "
            f"WHERE f.first_day >= {_day(since)} AND f.first_day < {_day(until)} AND k IN ({wanted}) "
            f"GROUP BY cohort, k"
        )
        sizes, cells = {}, {}
        for cohort, k, n in rows:
            day = date.fromisoformat(cohort)
            cells[(day, int(k))] = int(n)
            if int(k) == 0:
                sizes[day] = int(n)
        return sizes, cells

    def funnel(self, since: date, until: date, letters: list[str]) -> list[int]:
        kinds = ", ".join(quote(k) for k in CODES)
        codes = ", ".join(quote(c) for c in CODES.values())
        letter = f"transform(kind, [{kinds}], [{codes}], 'Z')"
        ordered = f"arraySort(x -> (x.1, x.2), groupArray((occurred_at, id, {letter})))"
        path = f"arrayStringConcat(arrayMap(x -> x.3, {ordered}))"
        levels = ", ".join(
            f"path LIKE {quote('%' + '%'.join(letters[:n]) + '%')}, {n}" for n in range(len(letters), 0, -1)
        )
        rows = self.client.rows(
            f"SELECT multiIf({levels}, 0) AS level, count() FROM ("
            f"SELECT customer_id AS c, {self._local()} AS d, {path} AS path FROM {self.base} "
            f"AND customer_id IS NOT NULL AND {self._between(since, until)} GROUP BY c, d"
            f") GROUP BY level"
        )
        counts = {int(level): int(n) for level, n in rows}
        return [sum(c for lvl, c in counts.items() if lvl >= n) for n in range(1, len(letters) + 1)]

    def sums(self, since: date, until: date, metric: str, dim: str) -> dict[str, int]:
        kinds, column, aggregate = METRIC_SQL[metric]
        kind_list = ", ".join(quote(k) for k in kinds)
        rows = self.client.rows(
            f"SELECT {DIM_SQL[dim]} AS key, {aggregate} FROM {self.base} "
            f"AND kind IN ({kind_list}) AND {column} IS NOT NULL AND {self._between(since, until, column)} "
            f"GROUP BY key"
        )
        return {k: int(v) for k, v in rows}

    def sums_many(self, since: date, until: date, metrics: list[str], dim: str) -> dict[str, dict[str, int]]:
        return {m: self.sums(since, until, m, dim) for m in metrics}

    def sums_by(
        self, since: date, until: date, metrics: list[str], dims: list[str]
    ) -> dict[str, dict[str, dict[str, int]]]:
        return {m: {d: self.sums(since, until, m, d) for d in dims} for m in metrics}

    def buyers(self, since: date, until: date) -> tuple[int, int]:
        rows = self.client.rows(
            f"SELECT count(), countIf(n >= 2) FROM (SELECT customer_id, count() AS n FROM {self.base} "
            f"AND kind = {quote(EventKind.ORDER_PAID)} AND customer_id IS NOT NULL "
            f"AND {self._between(since, until)} GROUP BY customer_id)"
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
