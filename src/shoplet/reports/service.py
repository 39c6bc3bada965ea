"""Per-store and per-guide figures (O5): direct and franchise stores share one catalogue and
central promotions; what each one sold, refunded and paid in commission is reported here.

An order counts for the store the customer chose (``orders.location_id``), also when its
missing lines shipped from the warehouse; the figures cover orders paid in [since, until).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from shoplet.guides.models import Commission
from shoplet.inventory.models import StockLocation
from shoplet.orders.models import Order
from shoplet.payments.models import Refund
from shoplet.tenancy.models import Staff


def _paid_between(since: datetime | None, until: datetime | None) -> list[Any]:
    conditions = [Order.paid_at.is_not(None)]
    if since is not None:
        conditions.append(Order.paid_at >= since)
    if until is not None:
        conditions.append(Order.paid_at < until)
    return conditions


def _refunds() -> Any:
    """Money returned per order (refunds not failed)."""
    return (select(Refund.merchant_id, Refund.order_id, func.sum(Refund.amount).label("amount"))
            .where(Refund.status != "failed").group_by(Refund.merchant_id, Refund.order_id).subquery())


def _commissions() -> Any:
    return select(Commission.merchant_id, Commission.order_id, Commission.guide_id,
                  (Commission.amount - Commission.reversed_amount).label("net"),
                  Commission.status).subquery()


def by_store(session: Session, *, merchant_id: str, since: datetime | None = None,
             until: datetime | None = None) -> list[dict[str, Any]]:
    """Every store and warehouse: orders paid, revenue (paid), refunds, net revenue and guide
    commission (net of reversals; of which settled)."""
    refunds, commissions = _refunds(), _commissions()
    totals = {row[0]: row[1:] for row in session.execute(
        select(Order.location_id, func.count(Order.id), func.sum(Order.paid_amount),
               func.sum(func.coalesce(refunds.c.amount, 0)), func.sum(func.coalesce(commissions.c.net, 0)),
               func.sum(case((commissions.c.status == "settled", commissions.c.net), else_=0)))
        .outerjoin(refunds, and_(refunds.c.merchant_id == Order.merchant_id, refunds.c.order_id == Order.id))
        .outerjoin(commissions, and_(commissions.c.merchant_id == Order.merchant_id,
                                     commissions.c.order_id == Order.id))
        .where(Order.merchant_id == merchant_id, *_paid_between(since, until))
        .group_by(Order.location_id))}
    rows = []
    for location in session.scalars(select(StockLocation).where(StockLocation.merchant_id == merchant_id)
                                    .order_by(StockLocation.code)):
        orders, revenue, refunded, commission, settled = totals.get(location.id, (0, 0, 0, 0, 0))
        rows.append({"store_id": location.id, "code": location.code, "name": location.name, "kind": location.kind,
                     "operation": location.operation, "orders": orders, "revenue": revenue or 0,
                     "refunds": refunded or 0, "net_revenue": (revenue or 0) - (refunded or 0),
                     "commission": commission or 0, "commission_settled": settled or 0})
    return rows


def by_guide(session: Session, *, merchant_id: str, since: datetime | None = None,
             until: datetime | None = None) -> list[dict[str, Any]]:
    """Every guide with attributed orders: orders, revenue, refunds, commission (net; of which settled)."""
    refunds = _refunds()
    found = session.execute(
        select(Commission.guide_id, func.count(Order.id), func.sum(Order.paid_amount),
               func.sum(func.coalesce(refunds.c.amount, 0)), func.sum(Commission.amount - Commission.reversed_amount),
               func.sum(case((Commission.status == "settled", Commission.amount - Commission.reversed_amount),
                             else_=0)))
        .join(Order, and_(Order.merchant_id == Commission.merchant_id, Order.id == Commission.order_id))
        .outerjoin(refunds, and_(refunds.c.merchant_id == Order.merchant_id, refunds.c.order_id == Order.id))
        .where(Commission.merchant_id == merchant_id, *_paid_between(since, until))
        .group_by(Commission.guide_id)).all()
    names = {s.id: (s.name, s.store_id) for s in session.scalars(select(Staff).where(
        Staff.merchant_id == merchant_id, Staff.id.in_([row[0] for row in found])))} if found else {}
    return [{"guide_id": guide_id, "name": names.get(guide_id, (None, None))[0],
             "store_id": names.get(guide_id, (None, None))[1], "orders": orders, "revenue": revenue or 0,
             "refunds": refunded or 0, "net_revenue": (revenue or 0) - (refunded or 0),
             "commission": commission or 0, "commission_settled": settled or 0}
            for guide_id, orders, revenue, refunded, commission, settled in sorted(found)]
