"""Page views the mini program reports (访问): who looked at what, from which host app and
entry scene. They are the widest of the business events (every figure of traffic starts
here), recorded like the others: append-only, once per view id."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shoplet import events, references
from shoplet.customers.schemas import VisitIn
from shoplet.errors import Unprocessable
from shoplet.events import EventKind, Fact

LATE_REPORT = timedelta(days=7)
"""How late a view may be reported (a mini program queues views while offline)."""
CLOCK_SKEW = timedelta(minutes=5)


def record_visits(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    host_app: str | None,
    scene: str | None,
    views: list[VisitIn],
    now: datetime,
) -> int:
    """Record the customer's page views (a view's own scene wins over the session's); a view
    id seen before is kept as it was. Returns how many views were given."""
    for view in views:
        if view.at is not None and not (now - LATE_REPORT <= view.at <= now + CLOCK_SKEW):
            raise Unprocessable(
                "visit.bad_time",
                "A page view's 'at' must be within the last 7 days and not in the future.",
            )
    stores = sorted({v.store_id for v in views if v.store_id})
    if stores:
        references.require(session, "store", merchant_id, stores, code="visit.unknown_store", what="store")
    events.record_many(
        session,
        merchant_id,
        [
            Fact(
                kind=EventKind.VISIT,
                occurred_at=view.at or now,
                id=f"visit:{customer_id}:{view.id}" if view.id else None,
                customer_id=customer_id,
                host_app=host_app,
                scene=view.scene or scene,
                store_id=view.store_id,
                ref=view.page,
            )
            for view in views
        ],
    )
    return len(views)
