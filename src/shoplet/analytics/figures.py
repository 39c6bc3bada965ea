"""The figures a merchant runs the business by, from either engine.

An engine (the embedded rollups, ``embedded.RollupSource``; ClickHouse or chDB,
``clickhouse.ClickHouseSource``) answers a few primitive questions over local days
``[since, until)`` of the merchant's time zone; this module turns them into figures, the
same way for both, so the two engines agree exactly. Definitions (also in docs/analytics.md):

- **active customers**: distinct customers with any event in a calendar day, week (Monday
  to Sunday) or month; every period that overlaps the range is given whole.
- **new customers**: customers whose first event ever falls in the range, by the host app and
  scene of their first event of that day that names a host app.
- **retention**: the cohort of day D is the customers first seen on D; its cell at offset k
  counts those active again on day D+k (null while D+k is after today).
- **funnel**: a journey is one customer's local day; it reaches step n if its events include
  steps 1..n in that order (other events may come between; equal times are ordered by id);
  each step counts the journeys of the range that reached it.
- **coupon use rate**: of the coupons claimed in the range, by template, the uses (online or
  verified in store) and expiries so far, over the claims.
- **sales**: GMV (amount paid) and orders paid in the range, by store, host app or guide;
  refunds are those of these orders (counted on the day the order was paid); net = GMV −
  refunds; average order value = GMV // orders.
- **repeat purchase rate**: of customers with a paid order in the range, the share with two
  or more.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Protocol

from shoplet.analytics.calendar import days, next_period, periods
from shoplet.analytics.schemas import (
    ActiveOut,
    ActivePoint,
    BeforeAfterOut,
    CohortRow,
    CouponUseRow,
    FunnelOut,
    FunnelStepOut,
    GuideRow,
    LightMembershipFiguresOut,
    NewCustomersOut,
    PlanJoins,
    RepeatOut,
    RetentionOut,
    SalesOut,
    SalesRow,
    SourceRow,
    Window,
)
from shoplet.events import CODES, EventKind

DEFAULT_FUNNEL = (EventKind.VISIT, EventKind.COUPON_CLAIMED, EventKind.ORDER_PLACED, EventKind.ORDER_PAID)
DEFAULT_OFFSETS = (1, 7, 30)
SALES_DIMENSIONS = ("all", "store", "host_app", "guide")

METRICS = (
    "gmv",
    "orders",
    "discount",
    "refunds",
    "refund_count",
    "claimed",
    "coupon_used",
    "coupon_expired",
    "light_joined",
    "light_settled",
    "light_charged",
    "light_enjoyed",
    "light_overdue",
    "light_owed",
    "commission",
    "commission_settled",
    "bound",
)
"""What :meth:`Source.sums` adds up (see ``rollups.add_happened`` / ``add_attributed``)."""


class Source(Protocol):
    """The primitive questions an engine answers (days are local, ``until`` exclusive)."""

    name: str

    def active_by_day(self, since: date, until: date) -> dict[date, int]: ...

    def active_in(self, starts: list[tuple[date, date]]) -> dict[date, int]:
        """Distinct active customers of each ``[start, end)``, keyed by start."""
        ...

    def new_customers(self, since: date, until: date) -> list[tuple[str | None, str | None, int]]: ...

    def retention(
        self, since: date, until: date, offsets: list[int]
    ) -> tuple[dict[date, int], dict[tuple[date, int], int]]:
        """Cohort sizes by day, and cells by (day, offset)."""
        ...

    def funnel(self, since: date, until: date, letters: list[str]) -> list[int]:
        """How many journeys (a customer's local day) reached at least step 1, 2, ... of the
        path letters."""
        ...

    def sums(self, since: date, until: date, metric: str, dim: str) -> dict[str, int]:
        """A metric summed by the values of a dimension ('' for none)."""
        ...

    def sums_many(self, since: date, until: date, metrics: list[str], dim: str) -> dict[str, dict[str, int]]:
        """Several metrics by one dimension (one read where the engine can)."""
        ...

    def sums_by(
        self, since: date, until: date, metrics: list[str], dims: list[str]
    ) -> dict[str, dict[str, dict[str, int]]]:
        """Several metrics by several dimensions: metric → dimension → key → sum."""
        ...

    def buyers(self, since: date, until: date) -> tuple[int, int]:
        """Customers with a paid order in the range, and those with two or more."""
        ...


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def active(source: Source, since: date, until: date, grain: str) -> ActiveOut:
    if grain == "day":
        counts = source.active_by_day(since, until)
        return ActiveOut(
            grain=grain,
            points=[ActivePoint(period=d, customers=counts.get(d, 0)) for d in days(since, until)],
        )
    starts = periods(since, until, grain)
    counts = source.active_in([(s, next_period(s, grain)) for s in starts])
    return ActiveOut(grain=grain, points=[ActivePoint(period=s, customers=counts.get(s, 0)) for s in starts])


def new_customers(source: Source, since: date, until: date) -> NewCustomersOut:
    rows = sorted(source.new_customers(since, until), key=lambda r: (-r[2], r[0] or "", r[1] or ""))
    return NewCustomersOut(
        total=sum(r[2] for r in rows),
        by_source=[SourceRow(host_app=h, scene=s, customers=n) for h, s, n in rows],
    )


def retention(source: Source, since: date, until: date, offsets: list[int], today: date) -> RetentionOut:
    sizes, cells = source.retention(since, until, offsets)
    cohorts = []
    for day in days(since, until):
        size = sizes.get(day, 0)
        retained = [None if day + timedelta(days=k) > today else cells.get((day, k), 0) for k in offsets]
        cohorts.append(
            CohortRow(
                day=day,
                customers=size,
                retained=retained,
                rates=[None if n is None else _rate(n, size) for n in retained],
            )
        )
    return RetentionOut(offsets=offsets, cohorts=cohorts)


def funnel(source: Source, since: date, until: date, steps: list[str]) -> FunnelOut:
    reached = source.funnel(since, until, [CODES[s] for s in steps])
    out, previous = [], None
    for step, journeys in zip(steps, reached, strict=True):
        out.append(
            FunnelStepOut(
                step=step,
                journeys=journeys,
                conversion=None if previous is None else _rate(journeys, previous),
                dropped=0 if previous is None else previous - journeys,
            )
        )
        previous = journeys
    return FunnelOut(steps=out)


def coupons(
    source: Source, since: date, until: date, names: dict[str, str] | None = None
) -> list[CouponUseRow]:
    claimed = source.sums(since, until, "claimed", "template")
    used = source.sums(since, until, "coupon_used", "template")
    expired = source.sums(since, until, "coupon_expired", "template")
    names = names or {}
    return [
        CouponUseRow(
            template_id=t,
            name=names.get(t),
            claimed=claimed.get(t, 0),
            used=used.get(t, 0),
            expired=expired.get(t, 0),
            use_rate=_rate(used.get(t, 0), claimed.get(t, 0)),
        )
        for t in sorted(set(claimed) | set(used) | set(expired), key=lambda t: (-claimed.get(t, 0), t))
    ]


def _sales_row(key: str | None, gmv: int, orders: int, refunds: int, refunded: int) -> SalesRow:
    return SalesRow(
        key=key,
        gmv=gmv,
        orders=orders,
        average_order_value=gmv // orders if orders else 0,
        refunds=refunds,
        refunded=refunded,
        net=gmv - refunds,
    )


SALES_METRICS = ["gmv", "orders", "refunds", "refund_count"]


def sales(source: Source, since: date, until: date, by: str) -> SalesOut:
    both = source.sums_by(since, until, SALES_METRICS, sorted({by, "all"}))
    figures = {m: both[m][by] for m in SALES_METRICS}
    totals = {m: both[m]["all"].get("", 0) for m in SALES_METRICS}
    keys = sorted(set().union(*figures.values()), key=lambda k: (-figures["gmv"].get(k, 0), k))
    rows = [
        _sales_row(k or None, *(figures[m].get(k, 0) for m in ("gmv", "orders", "refunds", "refund_count")))
        for k in keys
    ]
    total = _sales_row(None, totals["gmv"], totals["orders"], totals["refunds"], totals["refund_count"])
    return SalesOut(by=by, total=total, rows=rows)


def repeat_purchase(source: Source, since: date, until: date) -> RepeatOut:
    buyers, repeat = source.buyers(since, until)
    return RepeatOut(buyers=buyers, repeat_buyers=repeat, rate=_rate(repeat, buyers))


def light_memberships(source: Source, since: date, until: date) -> LightMembershipFiguresOut:
    joined = source.sums(since, until, "light_joined", "plan")
    outcomes = source.sums(since, until, "light_settled", "outcome")

    def total(metric: str) -> int:
        return source.sums(since, until, metric, "all").get("", 0)

    return LightMembershipFiguresOut(
        joined=sum(joined.values()),
        by_plan=[
            PlanJoins(plan_id=p, joined=n) for p, n in sorted(joined.items(), key=lambda x: (-x[1], x[0]))
        ],
        settled_charged=outcomes.get("charged", 0),
        settled_free=outcomes.get("free", 0),
        overdue=total("light_overdue"),
        fees_charged=total("light_charged"),
        enjoyed=total("light_enjoyed"),
        owed_overdue=total("light_owed"),
    )


def guides(source: Source, since: date, until: date, limit: int) -> list[GuideRow]:
    gmv = source.sums(since, until, "gmv", "guide")
    orders = source.sums(since, until, "orders", "guide")
    commission = source.sums(since, until, "commission", "guide")
    settled = source.sums(since, until, "commission_settled", "guide")
    bound = source.sums(since, until, "bound", "guide")
    ids = (set(gmv) | set(commission) | set(settled) | set(bound)) - {""}
    ranked = sorted(ids, key=lambda g: (-gmv.get(g, 0), -orders.get(g, 0), g))[:limit]
    return [
        GuideRow(
            guide_id=g,
            gmv=gmv.get(g, 0),
            orders=orders.get(g, 0),
            commission=commission.get(g, 0),
            commission_settled=settled.get(g, 0),
            bound=bound.get(g, 0),
        )
        for g in ranked
    ]


def _window(source: Source, store_id: str, since: date, until: date) -> Window:
    gmv = source.sums(since, until, "gmv", "store").get(store_id, 0)
    orders = source.sums(since, until, "orders", "store").get(store_id, 0)
    return Window(
        since=since, until=until, gmv=gmv, orders=orders, average_order_value=gmv // orders if orders else 0
    )


def before_after(source: Source, store_id: str, day: date, span: int) -> BeforeAfterOut:
    before = _window(source, store_id, day - timedelta(days=span), day)
    after = _window(source, store_id, day, day + timedelta(days=span))
    return BeforeAfterOut(
        store_id=store_id,
        date=day,
        days=span,
        before=before,
        after=after,
        gmv_change=round(after.gmv / before.gmv - 1, 4) if before.gmv else None,
    )
