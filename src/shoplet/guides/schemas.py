from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shoplet.schemas import In, Out


class GuidePolicyIn(In):
    protection_days: int = Field(30, ge=0, le=3650, description="Days a new binding cannot be taken over.")
    after_protection: Literal["first_touch", "last_touch"] = Field(
        "last_touch",
        description="first_touch: the binding stays for good; last_touch: a new guide's code "
        "takes the customer over once protection has passed.",
    )
    after_sale_days: int = Field(
        7, ge=0, le=365, description="Commissions stay frozen this many days after the order is handed over."
    )
    revisit_days: int = Field(
        30, ge=1, le=3650, description="Remind a guide of a customer not seen this long."
    )


class GuidePolicyOut(Out):
    protection_days: int
    after_protection: str
    after_sale_days: int
    revisit_days: int


class BindIn(In):
    guide_id: str = Field(min_length=1, max_length=32, description="The guide's id (from their QR code).")


class AssignIn(BindIn):
    force: bool = Field(False, description="Admin only: reassign even a protected binding (a guide left).")


class GuideBindingOut(Out):
    customer_id: str
    guide_id: str
    guide_name: str
    store_id: str | None
    source: str
    bound_at: datetime
    protected_until: datetime
    first_bound_at: datetime


class BindingChangeOut(Out):
    id: str
    customer_id: str
    from_guide_id: str | None
    to_guide_id: str
    source: str
    by: str
    at: datetime


class QuotaIn(In):
    quota: int = Field(ge=0, le=1_000_000)


class QuotaOut(Out):
    template_id: str
    guide_id: str
    quota: int
    issued: int


class GuideIssueIn(In):
    template_id: str = Field(min_length=1, max_length=32)
    customer_id: str = Field(min_length=1, max_length=32)


class GroupRef(Out):
    id: str
    name: str


class MyCustomerOut(Out):
    id: str
    name: str | None
    phone: str | None
    tags: list[str] = Field(description="The merchant's tags on the customer.")
    groups: list[GroupRef] = Field(description="My groups the customer is in.")
    bound_at: datetime
    protected_until: datetime


class CommissionRuleIn(In):
    scope: Literal["merchant", "store", "guide"]
    target_id: str | None = Field(
        None, max_length=32, description="The store or guide (leave out for 'merchant')."
    )
    rate_bp: int = Field(ge=0, le=10_000, description="Basis points of the goods paid: 500 is 5%.")


class CommissionRuleOut(Out):
    scope: str
    target_id: str | None
    rate_bp: int
    updated_at: datetime


class CommissionOut(Out):
    id: str
    order_id: str
    guide_id: str
    store_id: str | None
    customer_id: str
    base: int = Field(description="Goods paid on the order (fen, without delivery).")
    refunded: int = Field(description="Of which refunded since.")
    rate_bp: int
    amount: int
    reversed_amount: int
    net: int = Field(description="amount − reversed_amount: what the guide earns.")
    status: str = Field(description="frozen (after-sale window open), settled, or reversed (all refunded).")
    created_at: datetime
    frozen_until: datetime | None = Field(description="Set when the order is handed over.")
    settled_at: datetime | None


class GuideFiguresOut(Out):
    guide_id: str
    orders: int
    sales: int
    refunded: int
    commission_frozen: int
    commission_settled: int
    commission_reversed: int


class ReminderOut(Out):
    customer_id: str
    name: str | None
    last_order_at: datetime | None
    last_visit_at: datetime | None
    last_seen_at: datetime
    days_unseen: int


class GuideVisitIn(In):
    note: str = Field("", max_length=500)


class VisitOut(Out):
    id: str
    customer_id: str
    note: str
    at: datetime


class GroupIn(In):
    name: str = Field(min_length=1, max_length=64)


class GroupOut(Out):
    id: str
    name: str
    members: int = Field(description="How many of my customers are in the group.")
    created_at: datetime


class GroupIssueIn(In):
    template_id: str = Field(min_length=1, max_length=32)


class GroupCouponOut(Out):
    customer_id: str
    coupon_id: str


class GroupSkipOut(Out):
    customer_id: str
    code: str = Field(description="Why this customer got none, e.g. coupon.limit_reached.")


class GroupIssueOut(Out):
    group_id: str
    template_id: str
    issued: list[GroupCouponOut] = Field(description="One coupon each, taken from my quota.")
    skipped: list[GroupSkipOut] = Field(
        description="Members the coupon's own limits refused; no quota taken."
    )
