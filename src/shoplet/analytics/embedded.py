"""The embedded engine: figures read from the daily rollups on the main database
(SQLite or PostgreSQL), never from the raw events."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from shoplet import pipelined
from shoplet.analytics.calendar import month_start, week_start
from shoplet.analytics.models import CustomerDay, DailyMetric, FirstSeen, PeriodActive, RetentionCell
from shoplet.analytics.rollups import DEFAULT_LETTERS
from shoplet.db import written_in
from shoplet.scoping import owned

# The home dashboard's reads, built once with bound parameters (building a statement costs
# about as much as running it on these small ranges).
_M: BindParameter[str] = bindparam("m")
_SINCE: BindParameter[date] = bindparam("since")
_UNTIL: BindParameter[date] = bindparam("until")


@functools.lru_cache(maxsize=128)
def _sums(metrics: tuple[str, ...], dims: tuple[str, ...]) -> Any:
    """The day sums of these metrics by these dimensions, built once per combination (a
    closed set: the figures' own names). The names are written into the SQL, not bound
    (:func:`shoplet.db.written_in`; anything but a plain word is refused), and
    the statement runs through :mod:`shoplet.pipelined`: on PostgreSQL it is never prepared
    on the server. psycopg prepares a statement after its fifth use, and PostgreSQL's generic
    plan for it, not knowing the days asked for, scanned the merchant's every metric of the
    range by the day index and sorted them — 1.6 ms where the custom plan, the primary key's
    (metric, dim, day) ranges hashed, took 0.7 ms."""
    return (
        select(DailyMetric.metric, DailyMetric.dim, DailyMetric.key, func.sum(DailyMetric.value))
        .where(
            owned(DailyMetric, _M),
            written_in(DailyMetric.metric, metrics),
            written_in(DailyMetric.dim, dims),
            DailyMetric.day >= _SINCE,
            DailyMetric.day < _UNTIL,
        )
        .group_by(DailyMetric.metric, DailyMetric.dim, DailyMetric.key)
    )


_PERIODS = select(PeriodActive.start, PeriodActive.customers).where(
    owned(PeriodActive, _M),
    PeriodActive.grain == bindparam("grain"),
    PeriodActive.start.in_(bindparam("starts", expanding=True)),
)
_RETENTION = select(RetentionCell.cohort_day, RetentionCell.days_after, RetentionCell.customers).where(
    owned(RetentionCell, _M),
    RetentionCell.cohort_day >= _SINCE,
    RetentionCell.cohort_day < _UNTIL,
    RetentionCell.days_after.in_(bindparam("offsets", expanding=True)),
)


def like_pattern(letters: list[str]) -> str:
    """Steps in order, anything between: ``['V', 'C']`` → ``%V%C%``."""
    return "%" + "%".join(letters) + "%"


class RollupSource:
    """:class:`analytics.figures.Source` over the rollup tables of one merchant."""

    name = "rollups"

    def __init__(self, session: Session, merchant_id: str) -> None:
        self.session, self.merchant_id = session, merchant_id
        self._prefetched: tuple[date, date, dict[str, dict[str, dict[str, int]]]] | None = None

    def prefetch(self, since: date, until: date, metrics: list[str], dims: list[str]) -> None:
        """Read these sums in one statement; later reads within them use it (one request's)."""
        self._prefetched = (since, until, self._read_sums(since, until, metrics, dims))

    def active_by_day(self, since: date, until: date) -> dict[date, int]:
        rows = self.session.execute(
            select(DailyMetric.day, DailyMetric.value).where(
                owned(DailyMetric, self.merchant_id),
                DailyMetric.day >= since,
                DailyMetric.day < until,
                DailyMetric.metric == "active",
                DailyMetric.dim == "all",
                DailyMetric.key == "",
            )
        )
        return {d: int(v) for d, v in rows}

    def active_in(self, starts: list[tuple[date, date]]) -> dict[date, int]:
        out: dict[date, int] = {}
        by_grain: dict[str, list[date]] = {}
        for start, end in starts:
            length = (end - start).days
            if length == 1:
                out[start] = 0
                by_grain.setdefault("day", []).append(start)
            elif length == 7 and start == week_start(start):
                by_grain.setdefault("week", []).append(start)
            elif start == month_start(start) and length in (28, 29, 30, 31):
                by_grain.setdefault("month", []).append(start)
            else:
                raise ValueError("periods are whole calendar days, weeks or months")
        for grain, wanted in by_grain.items():
            if grain == "day":
                out.update(self.active_by_day(min(wanted), max(wanted) + timedelta(days=1)))
                continue
            rows = self.session.execute(_PERIODS, {"m": self.merchant_id, "grain": grain, "starts": wanted})
            out.update(dict.fromkeys(wanted, 0))
            out.update({start: int(n) for start, n in rows})
        return out

    def new_customers(self, since: date, until: date) -> list[tuple[str | None, str | None, int]]:
        rows = self.session.execute(
            select(FirstSeen.host_app, FirstSeen.scene, func.count())
            .where(
                owned(FirstSeen, self.merchant_id), FirstSeen.first_day >= since, FirstSeen.first_day < until
            )
            .group_by(FirstSeen.host_app, FirstSeen.scene)
        )
        return [(h, s, int(n)) for h, s, n in rows]

    def retention(
        self, since: date, until: date, offsets: list[int]
    ) -> tuple[dict[date, int], dict[tuple[date, int], int]]:
        rows = self.session.execute(
            _RETENTION, {"m": self.merchant_id, "since": since, "until": until, "offsets": [0, *offsets]}
        )
        sizes: dict[date, int] = {}
        cells: dict[tuple[date, int], int] = {}
        for day, offset, customers in rows:
            if offset == 0:
                sizes[day] = customers
            cells[(day, offset)] = customers
        return sizes, cells

    def funnel(self, since: date, until: date, letters: list[str]) -> list[int]:
        if "".join(letters) == DEFAULT_LETTERS:  # kept per day by the rollup job
            reached = self.sums(since, until, "journeys", "funnel")
            return [reached.get(str(n), 0) for n in range(1, len(letters) + 1)]
        level = case(
            *[(CustomerDay.path.like(like_pattern(letters[:n])), n) for n in range(len(letters), 0, -1)],
            else_=0,
        ).label("level")
        journeys = (
            select(level)
            .where(owned(CustomerDay, self.merchant_id), CustomerDay.day >= since, CustomerDay.day < until)
            .subquery()
        )
        counts: dict[int, int] = {
            int(lvl): int(n)
            for lvl, n in self.session.execute(
                select(journeys.c.level, func.count()).group_by(journeys.c.level)
            )
        }
        return [sum(c for lvl, c in counts.items() if lvl >= n) for n in range(1, len(letters) + 1)]

    def sums(self, since: date, until: date, metric: str, dim: str) -> dict[str, int]:
        return self.sums_many(since, until, [metric], dim)[metric]

    def sums_many(self, since: date, until: date, metrics: list[str], dim: str) -> dict[str, dict[str, int]]:
        return {m: by_dim[dim] for m, by_dim in self.sums_by(since, until, metrics, [dim]).items()}

    def sums_by(
        self, since: date, until: date, metrics: list[str], dims: list[str]
    ) -> dict[str, dict[str, dict[str, int]]]:
        """metric → dimension → key → sum, in one read."""
        if self._prefetched is not None:
            p_since, p_until, sums = self._prefetched
            if (p_since, p_until) == (since, until) and all(
                m in sums and all(d in sums[m] for d in dims) for m in metrics
            ):
                return {m: {d: sums[m][d] for d in dims} for m in metrics}
        return self._read_sums(since, until, metrics, dims)

    def _read_sums(
        self, since: date, until: date, metrics: list[str], dims: list[str]
    ) -> dict[str, dict[str, dict[str, int]]]:
        rows: list[Any] = pipelined.execute(
            self.session,
            _sums(tuple(metrics), tuple(dims)),
            {"m": self.merchant_id, "since": since, "until": until},
            planned_each_time=True,
        )
        out: dict[str, dict[str, dict[str, int]]] = {m: {d: {} for d in dims} for m in metrics}
        for metric, dim, key, value in rows:
            out[metric][dim][key] = int(value)
        return out

    def buyers(self, since: date, until: date) -> tuple[int, int]:
        per_customer = (
            select(func.sum(CustomerDay.paid_orders).label("orders"))
            .where(
                owned(CustomerDay, self.merchant_id),
                CustomerDay.day >= since,
                CustomerDay.day < until,
                CustomerDay.paid_orders > 0,
            )
            .group_by(CustomerDay.customer_id)
            .subquery()
        )
        buyers, repeat = self.session.execute(
            select(
                func.count(), func.coalesce(func.sum(case((per_customer.c.orders >= 2, 1), else_=0)), 0)
            ).select_from(per_customer)
        ).one()
        return int(buyers), int(repeat)
