"""The points mall (积分商城): exchange points for a coupon. The points and the coupon move
in one transaction: a coupon that cannot be issued (sold out, limit reached) takes no points,
and points that are not there issue no coupon."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shoplet.coupons import service
from shoplet.coupons.models import Coupon, CouponTemplate, PointsMallItem
from shoplet.db import new_id
from shoplet.errors import Conflict
from shoplet.membership import points
from shoplet.scoping import get_owned


def create_item(
    session: Session, *, merchant_id: str, template_id: str, points_price: int, now: datetime
) -> PointsMallItem:
    get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    item = PointsMallItem(
        merchant_id=merchant_id,
        id=new_id("pmi"),
        template_id=template_id,
        points=points_price,
        active=True,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return item


def exchange(session: Session, *, merchant_id: str, item_id: str, customer_id: str, now: datetime) -> Coupon:
    item = get_owned(
        session, PointsMallItem, merchant_id, item_id, what="Points mall item", code="points_mall_item"
    )
    if not item.active:
        raise Conflict("points_mall.item_closed", "This item is no longer in the points mall.")
    template = get_owned(
        session, CouponTemplate, merchant_id, item.template_id, what="Coupon template", code="coupon_template"
    )
    coupon = service.issue(session, template=template, customer_id=customer_id, source="points", now=now)
    points.debit(
        session,
        merchant_id=merchant_id,
        customer_id=customer_id,
        points=item.points,
        kind="exchange",
        now=now,
        note=f"points mall: {template.name}"[:200],
    )
    return coupon
