"""Per-store and per-guide figures: direct and franchise stores share one catalogue and
central promotions; what each one sold, refunded and paid in commission is reported here.

A location's revenue is what it handed over: the lines of its fulfilments and their share
of the delivery fee paid, so a split order counts for the store and for the warehouse that
shipped its missing lines. Commission counts for the guide's own store. The figures cover
orders paid in [since, until).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from shoplet.guides.models import Commission, CommissionStatus
from shoplet.inventory.models import StockLocation
from shoplet.orders.models import Fulfilment, Order, OrderLine
from shoplet.payments.models import Refund, RefundLine, RefundStatus
from shoplet.reports.schemas import GuideReportOut, StoreFiguresOut
from shoplet.scoping import owned, same_tenant
from shoplet.tenancy.models import Staff


def _paid_between(since: datetime | None, until: datetime | None) -> list[Any]:
    conditions: list[Any] = [Order.paid_at.is_not(None)]
    if since is not None:
        conditions.append(Order.paid_at >= since)
    if until is not None:
        conditions.append(Order.paid_at < until)
    return conditions


def _refunds() -> Any:
    """Money returned per order (refunds not failed)."""
    return (
        select(Refund.merchant_id, Refund.order_id, func.sum(Refund.amount).label("amount"))
        .where(Refund.status != RefundStatus.FAILED)
        .group_by(Refund.merchant_id, Refund.order_id)
        .subquery()
    )


def by_store(
    session: Session, *, merchant_id: str, since: datetime | None = None, until: datetime | None = None
) -> list[StoreFiguresOut]:
    """Every store and warehouse: paid orders it handed over (a part of), revenue (its lines
    and delivery share), refunds of them, net revenue, and the commission of its guides
    (net of reversals; of which settled)."""
    paid = [owned(Order, merchant_id), *_paid_between(since, until)]
    on_order = and_(same_tenant(Order, Fulfilment), Order.id == Fulfilment.order_id)
    orders, delivery = _by_location(
        session.execute(
            select(
                Fulfilment.location_id,
                func.count(func.distinct(Fulfilment.order_id)),
                func.sum(Fulfilment.delivery_paid),
            )
            .join(Order, on_order)
            .where(*paid)
            .group_by(Fulfilment.location_id)
        ),
        2,
    )
    line_refunds = (
        select(RefundLine.merchant_id, RefundLine.order_line_id, func.sum(RefundLine.amount).label("amount"))
        .join(Refund, and_(same_tenant(Refund, RefundLine), Refund.id == RefundLine.refund_id))
        .where(owned(RefundLine, merchant_id), Refund.status != RefundStatus.FAILED)
        .group_by(RefundLine.merchant_id, RefundLine.order_line_id)
        .subquery()
    )
    goods, goods_refunded = _by_location(
        session.execute(
            select(
                Fulfilment.location_id,
                func.sum(OrderLine.total),
                func.sum(func.coalesce(line_refunds.c.amount, 0)),
            )
            .join(
                Fulfilment,
                and_(same_tenant(Fulfilment, OrderLine), Fulfilment.id == OrderLine.fulfilment_id),
            )
            .join(Order, on_order)
            .outerjoin(
                line_refunds,
                and_(
                    same_tenant(line_refunds.c, OrderLine),
                    line_refunds.c.order_line_id == OrderLine.id,
                ),
            )
            .where(*paid)
            .group_by(Fulfilment.location_id)
        ),
        2,
    )
    delivery_back = (
        select(Refund.order_id)
        .where(owned(Refund, merchant_id), Refund.status != RefundStatus.FAILED, Refund.delivery_fee > 0)
        .distinct()
        .subquery()
    )
    (delivery_refunded,) = _by_location(
        session.execute(
            select(Fulfilment.location_id, func.sum(Fulfilment.delivery_paid))
            .join(Order, on_order)
            .join(delivery_back, delivery_back.c.order_id == Order.id)
            .where(*paid)
            .group_by(Fulfilment.location_id)
        ),
        1,
    )
    commission, settled = _by_location(
        session.execute(
            select(
                Commission.store_id,
                func.sum(Commission.amount - Commission.reversed_amount),
                func.sum(
                    case(
                        (
                            Commission.status == CommissionStatus.SETTLED,
                            Commission.amount - Commission.reversed_amount,
                        ),
                        else_=0,
                    )
                ),
            )
            .join(Order, and_(same_tenant(Order, Commission), Order.id == Commission.order_id))
            .where(*paid, Commission.store_id.is_not(None))
            .group_by(Commission.store_id)
        ),
        2,
    )
    rows: list[StoreFiguresOut] = []
    for location in session.scalars(
        select(StockLocation).where(owned(StockLocation, merchant_id)).order_by(StockLocation.code)
    ):
        at = location.id
        revenue = goods.get(at, 0) + delivery.get(at, 0)
        refunds = goods_refunded.get(at, 0) + delivery_refunded.get(at, 0)
        rows.append(
            StoreFiguresOut(
                store_id=at,
                code=location.code,
                name=location.name,
                kind=location.kind,
                operation=location.operation,
                orders=orders.get(at, 0),
                revenue=revenue,
                refunds=refunds,
                net_revenue=revenue - refunds,
                commission=commission.get(at, 0),
                commission_settled=settled.get(at, 0),
            )
        )
    return rows


def _by_location(rows: Any, width: int) -> tuple[dict[str, int], ...]:
    """``width`` figures per location from rows of (location, figure, ...), as one dict each."""
    found: tuple[dict[str, int], ...] = tuple({} for _ in range(width))
    for location_id, *figures in rows:
        for column, figure in zip(found, figures, strict=True):
            column[location_id] = int(figure or 0)
    return found


def by_guide(
    session: Session, *, merchant_id: str, since: datetime | None = None, until: datetime | None = None
) -> list[GuideReportOut]:
    """Every guide with attributed orders: orders, revenue, refunds, commission (net; of which settled)."""
    refunds = _refunds()
    found = session.execute(
        select(
            Commission.guide_id,
            func.count(Order.id),
            func.sum(Order.paid_amount),
            func.sum(func.coalesce(refunds.c.amount, 0)),
            func.sum(Commission.amount - Commission.reversed_amount),
            func.sum(
                case(
                    (
                        Commission.status == CommissionStatus.SETTLED,
                        Commission.amount - Commission.reversed_amount,
                    ),
                    else_=0,
                )
            ),
        )
        .join(Order, and_(same_tenant(Order, Commission), Order.id == Commission.order_id))
        .outerjoin(refunds, and_(same_tenant(refunds.c, Order), refunds.c.order_id == Order.id))
        .where(owned(Commission, merchant_id), *_paid_between(since, until))
        .group_by(Commission.guide_id)
    ).all()
    names = (
        {
            s.id: (s.name, s.store_id)
            for s in session.scalars(
                select(Staff).where(owned(Staff, merchant_id), Staff.id.in_([row[0] for row in found]))
            )
        }
        if found
        else {}
    )
    return [
        GuideReportOut(
            guide_id=guide_id,
            name=names.get(guide_id, (None, None))[0],
            store_id=names.get(guide_id, (None, None))[1],
            orders=orders,
            revenue=revenue or 0,
            refunds=refunded or 0,
            net_revenue=(revenue or 0) - (refunded or 0),
            commission=commission or 0,
            commission_settled=settled or 0,
        )
        for guide_id, orders, revenue, refunded, commission, settled in sorted(found)
    ]
