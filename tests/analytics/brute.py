"""The figures' primitive questions answered by brute force: plain Python over every raw
event of a merchant, written from the definitions in docs/analytics.md and nothing else."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shoplet.events import Event
from shoplet.scoping import owned

# metric -> (kinds, which time names its day, what is added up); written from the docs.
DEFINITIONS = {
    "gmv": ({"order.paid"}, "occurred_at", "amount"),
    "orders": ({"order.paid"}, "occurred_at", 1),
    "discount": ({"order.paid"}, "occurred_at", "benefit"),
    "refunds": ({"refund"}, "subject_at", "amount"),
    "refund_count": ({"refund"}, "subject_at", 1),
    "claimed": ({"coupon.claimed"}, "occurred_at", 1),
    "coupon_used": ({"coupon.used", "coupon.verified"}, "subject_at", 1),
    "coupon_expired": ({"coupon.expired"}, "subject_at", 1),
    "light_joined": ({"light.joined"}, "occurred_at", 1),
    "light_settled": ({"light.settled"}, "occurred_at", 1),
    "light_charged": ({"light.settled"}, "occurred_at", "amount"),
    "light_enjoyed": ({"light.settled"}, "occurred_at", "benefit"),
    "light_overdue": ({"light.overdue"}, "occurred_at", 1),
    "light_owed": ({"light.overdue"}, "occurred_at", "amount"),
    "commission": ({"commission.created"}, "occurred_at", "amount"),
    "commission_settled": ({"commission.settled"}, "occurred_at", "amount"),
    "bound": ({"guide.bound"}, "occurred_at", 1),
}
DIMENSIONS = {
    "all": lambda e: "",
    "store": lambda e: e.store_id or "",
    "host_app": lambda e: e.host_app or "",
    "guide": lambda e: e.guide_id or "",
    "template": lambda e: e.ref or "",
    "plan": lambda e: e.ref or "",
    "outcome": lambda e: e.ref or "",
}
LETTERS = {
    "visit": "V",
    "sign_in": "S",
    "follow": "F",
    "unfollow": "U",
    "coupon.claimed": "C",
    "coupon.verified": "K",
    "coupon.used": "D",
    "coupon.expired": "E",
    "order.placed": "O",
    "order.paid": "P",
    "order.cancelled": "X",
    "refund": "R",
    "pickup.verified": "Q",
    "delivery.handed_over": "H",
    "light.joined": "J",
    "light.settled": "L",
    "light.overdue": "W",
    "tier.reached": "T",
    "points.earned": "A",
    "points.spent": "B",
    "guide.bound": "G",
    "commission.created": "M",
    "commission.settled": "N",
}


def _is_subsequence(steps: list[str], kinds: list[str]) -> bool:
    it = iter(kinds)
    return all(any(k == s for k in it) for s in steps)


class BruteSource:
    name = "brute force"

    def __init__(self, session, merchant_id: str, zone: ZoneInfo) -> None:
        self.events = list(session.scalars(select(Event).where(owned(Event, merchant_id))))
        self.events.sort(key=lambda e: (e.occurred_at, e.id))
        self.zone = zone

    def day(self, moment) -> date:
        return moment.astimezone(self.zone).date()

    def _customers_between(self, since: date, until: date) -> set[str]:
        return {
            e.customer_id for e in self.events if e.customer_id and since <= self.day(e.occurred_at) < until
        }

    def active_by_day(self, since, until):
        out = {}
        d = since
        while d < until:
            n = len(self._customers_between(d, d + timedelta(days=1)))
            if n:
                out[d] = n
            d += timedelta(days=1)
        return out

    def active_in(self, starts):
        return {start: len(self._customers_between(start, end)) for start, end in starts}

    def _first(self):
        first: dict[str, date] = {}
        for e in self.events:
            if e.customer_id:
                d = self.day(e.occurred_at)
                if e.customer_id not in first or d < first[e.customer_id]:
                    first[e.customer_id] = d
        return first

    def new_customers(self, since, until):
        first = self._first()
        source: dict[str, tuple] = {}
        for e in self.events:  # in time order: the first event of the first day with a host app
            c = e.customer_id
            if c and e.host_app and c not in source and self.day(e.occurred_at) == first[c]:
                source[c] = (e.host_app, e.scene)
        counts: dict[tuple, int] = defaultdict(int)
        for c, d in first.items():
            if since <= d < until:
                counts[source.get(c, (None, None))] += 1
        return [(h, s, n) for (h, s), n in counts.items()]

    def retention(self, since, until, offsets):
        first = self._first()
        active = {(e.customer_id, self.day(e.occurred_at)) for e in self.events if e.customer_id}
        sizes, cells = {}, {}
        for c, d in first.items():
            if since <= d < until:
                sizes[d] = sizes.get(d, 0) + 1
                for k in {0, *offsets}:
                    if (c, d + timedelta(days=k)) in active:
                        cells[(d, k)] = cells.get((d, k), 0) + 1
        return sizes, cells

    def funnel(self, since, until, letters):
        days: dict[tuple, list[str]] = defaultdict(list)
        for e in self.events:
            d = self.day(e.occurred_at)
            if e.customer_id and since <= d < until:
                days[(e.customer_id, d)].append(LETTERS.get(e.kind, "Z"))
        levels = [  # a journey is one customer's day
            max((n for n in range(1, len(letters) + 1) if _is_subsequence(letters[:n], kinds)), default=0)
            for kinds in days.values()
        ]
        return [sum(1 for lvl in levels if lvl >= n) for n in range(1, len(letters) + 1)]

    def sums(self, since, until, metric, dim):
        kinds, when, what = DEFINITIONS[metric]
        out: dict[str, int] = defaultdict(int)
        for e in self.events:
            moment = getattr(e, when)
            if e.kind in kinds and moment is not None and since <= self.day(moment) < until:
                out[DIMENSIONS[dim](e)] += 1 if what == 1 else getattr(e, what)
        return dict(out)

    def sums_many(self, since, until, metrics, dim):
        return {m: self.sums(since, until, m, dim) for m in metrics}

    def sums_by(self, since, until, metrics, dims):
        return {m: {d: self.sums(since, until, m, d) for d in dims} for m in metrics}

    def buyers(self, since, until):
        paid: dict[str, int] = defaultdict(int)
        for e in self.events:
            if e.kind == "order.paid" and e.customer_id and since <= self.day(e.occurred_at) < until:
                paid[e.customer_id] += 1
        return len(paid), sum(1 for n in paid.values() if n >= 2)
