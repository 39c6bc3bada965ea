"""Turning coupons into their API shape (shared by the merchant, guide and storefront routes)."""

from __future__ import annotations

from shoplet.coupons.codes import display
from shoplet.coupons.models import Coupon
from shoplet.coupons.schemas import CouponOut


def coupon_out(coupon: Coupon) -> CouponOut:
    """A coupon as its holder and staff see it: the code grouped for reading aloud."""
    fields = {c.name: getattr(coupon, c.name) for c in Coupon.__table__.columns}
    fields["code"] = display(coupon.code)
    return CouponOut(**fields, name=coupon.rule.get("name"), kind=coupon.rule["kind"])
