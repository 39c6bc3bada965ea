from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shoplet.customers.schemas import HostAppName
from shoplet.promotions.schemas import Scope
from shoplet.schemas import MAX_ITEMS, Count, Id, In, Instant, Money, Out, Tag

Kind = Literal["cash", "threshold", "percent", "exchange", "free_delivery"]
PARAMS = ("off", "threshold", "percent_off", "max_off", "sku", "price")


class Audience(In):
    kind: Literal["everyone", "new_customers", "members", "light_members", "tags", "followers"] = "everyone"
    tiers: list[Id] = Field(
        default_factory=list, max_length=50, description="members: only these tiers (empty: any)."
    )
    tags: list[Tag] = Field(
        default_factory=list, max_length=50, description="tags: customers with any of these tags."
    )


class _Limits(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    scope: Scope | None = None
    store_ids: list[Id] | None = Field(
        None, max_length=MAX_ITEMS, description="Stores where it can be used; empty = all."
    )
    host_apps: list[HostAppName] | None = Field(
        None, max_length=20, description="Host apps where it can be used; empty = all."
    )
    audience: Audience | None = None
    claim_starts_at: Instant | None = None
    claim_ends_at: Instant | None = None
    total_stock: Count | None = Field(None, description="How many can be issued; empty = unlimited.")
    per_customer_limit: Count | None = Field(None, ge=1)
    per_day_limit: Count | None = Field(None, ge=1)
    budget: Money | None = Field(None, description="Fen: issuing stops when face values would exceed it.")


class CouponTemplateIn(_Limits):
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    off: Money | None = Field(None, description="cash / threshold: fen off.")
    threshold: Money | None = Field(None, description="threshold / percent: minimum eligible amount.")
    percent_off: int | None = Field(None, ge=0, le=100)
    max_off: Money | None = Field(None, description="percent: the cap.")
    sku: Id | None = Field(None, description="exchange: the SKU id it buys.")
    price: Money | None = Field(None, description="exchange: the price paid for that SKU.")
    stackable: bool = False
    exclusive_with_promotions: bool = False
    campaigns: bool = Field(
        False,
        description="Usable on group-buy, flash-sale and plan orders where the campaign allows coupons.",
    )
    validity: Literal["fixed", "relative"] = "fixed"
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    valid_days: int | None = Field(None, ge=1, le=3650, description="relative: days valid after claim.")
    delay_days: int = Field(0, ge=0, le=365, description="relative: days after claim before it starts.")
    public_code: str | None = Field(
        None,
        min_length=3,
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A discount code (优惠码) anyone can enter to claim it.",
    )

    def params(self) -> dict[str, Any]:
        return self.model_dump(include=set(PARAMS), exclude_none=True)


class CouponTemplatePatch(_Limits):
    pass


class CouponTemplateOut(Out):
    id: str
    name: str
    kind: str
    params: dict[str, Any]
    scope: dict[str, Any]
    store_ids: list[str]
    host_apps: list[str]
    stackable: bool
    exclusive_with_promotions: bool
    campaigns: bool
    validity: str
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    delay_days: int
    total_stock: int | None
    issued_count: int
    per_customer_limit: int | None
    per_day_limit: int | None
    audience: dict[str, Any]
    claim_starts_at: datetime | None
    claim_ends_at: datetime | None
    budget: int | None
    budget_committed: int
    public_code: str | None
    status: str
    version: int
    created_at: datetime


class CouponOut(Out):
    id: str
    template_id: str
    template_version: int
    customer_id: str
    name: str | None
    kind: str
    code: str = Field(description="Show it (or its QR) to a clerk to use the coupon in store.")
    status: str
    source: str
    valid_from: datetime
    valid_until: datetime | None
    order_id: str | None
    used_at: datetime | None
    verified_store_id: str | None
    discount: int


class ClaimIn(In):
    template_id: str = Field(min_length=1, max_length=32)


class CodeIn(In):
    code: str = Field(min_length=1, max_length=40)


class IssueIn(In):
    customer_id: str = Field(min_length=1, max_length=32)


class FiguresOut(Out):
    template_id: str
    issued: int
    claimed: int
    used: int
    use_rate: float = Field(description="Used ÷ issued (核销率).")
    gmv: int = Field(description="Fen: amount of the orders the coupon was used on.")
    discount_cost: int = Field(description="Fen: what the used coupons took off.")
    verified_in_store: int


class CodeBatchIn(In):
    count: int = Field(ge=1, le=100_000)


class CodeBatchOut(Out):
    batch_id: str
    count: int


class EventRuleIn(In):
    event: Literal["joined", "first_order", "order_at_least", "birthday"]
    template_id: str = Field(min_length=1, max_length=32)
    min_order_amount: Money | None = Field(None, ge=1, description="order_at_least: fen.")


class EventRuleOut(Out):
    id: str
    event: str
    template_id: str
    min_order_amount: int | None
    active: bool
    created_at: datetime


class Segment(In):
    kind: Literal["everyone", "members", "light_members", "tags", "followers"] = "everyone"
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class IssueJobIn(In):
    segment: Segment = Field(default_factory=Segment)


class IssueJobOut(Out):
    id: str
    template_id: str
    segment: dict[str, Any]
    status: str
    total: int
    processed: int
    issued: int
    skipped: dict[str, int] = Field(description="Customers not issued, by reason (e.g. coupon.sold_out).")
    created_at: datetime
    finished_at: datetime | None


class MallItemIn(In):
    template_id: str = Field(min_length=1, max_length=32)
    points: int = Field(gt=0, le=100_000_000, description="Points one coupon costs.")


class MallItemOut(Out):
    id: str
    template_id: str
    name: str
    points: int
    active: bool
