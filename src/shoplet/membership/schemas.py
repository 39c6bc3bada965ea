from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shoplet.schemas import In, Out

TierCode = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")


class LoyaltySettingsIn(In):
    points_per_yuan: int = Field(
        1, ge=0, le=1000, description="Points earned per whole yuan paid (before multipliers)."
    )
    growth_per_yuan: int = Field(1, ge=0, le=1000, description="Growth value per whole yuan paid.")
    value_per_point: int = Field(1, ge=1, le=10_000, description="Fen one point pays at checkout.")
    max_share_percent: int = Field(
        50, ge=0, le=100, description="At most this share of the goods is paid in points."
    )


class LoyaltySettingsOut(Out):
    points_per_yuan: int
    growth_per_yuan: int
    value_per_point: int
    max_share_percent: int


class _TierBenefits(In):
    name: str | None = Field(None, min_length=1, max_length=100)
    member_price: bool | None = Field(None, description="Members of this tier pay SKU member prices.")
    points_multiplier: int | None = Field(None, ge=0, le=1000, description="Percent: 150 earns 1.5× points.")
    free_delivery: bool | None = None
    coupon_template_ids: list[str] | None = Field(
        None, max_length=20, description="Coupons issued once on reaching the tier."
    )


class TierIn(_TierBenefits):
    code: str = TierCode
    name: str = Field(min_length=1, max_length=100)
    threshold: int = Field(ge=0, le=1_000_000_000, description="Growth value at which the tier begins.")
    member_price: bool = True
    points_multiplier: int = Field(100, ge=0, le=1000)
    free_delivery: bool = False
    coupon_template_ids: list[str] = Field(default_factory=list, max_length=20)


class TierPatch(_TierBenefits):
    pass


class TierOut(Out):
    id: str
    code: str
    name: str
    threshold: int
    member_price: bool
    points_multiplier: int
    free_delivery: bool
    coupon_template_ids: list[str]


class TierChangeOut(Out):
    id: str
    from_tier: str
    to_tier: str
    growth: int
    reason: str
    at: datetime


class MemberOut(Out):
    customer_id: str
    tier: str
    growth: int
    points_balance: int
    next_tier: str | None = None
    growth_to_next: int | None = None
    joined_at: datetime
    host_app: str | None
    scene: str | None


class PointsEntryOut(Out):
    id: str
    kind: str
    delta: int
    balance_after: int
    order_id: str | None
    note: str
    at: datetime


class PointsAdjustIn(In):
    delta: int = Field(
        ge=-1_000_000, le=1_000_000, description="Points to add (positive) or take (negative)."
    )
    note: str = Field(min_length=1, max_length=200, description="Why, for the ledger.")


class _PlanBenefits(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    light_member_prices: bool | None = Field(
        None, description="Light members pay the SKUs' light-member prices."
    )
    percent_off: int | None = Field(
        None, ge=0, le=100, description="Light members get this percent off list prices."
    )
    coupon_template_ids: list[str] | None = Field(
        None, max_length=20, description="Coupons issued at the start of each period."
    )
    min_credit_score: int | None = Field(None, ge=0, le=1000, description="The credit score needed to join.")
    auto_renew_allowed: bool | None = None


class LightPlanIn(_PlanBenefits):
    name: str = Field(min_length=1, max_length=200)
    fee: int = Field(gt=0, le=100_000_000, description="Fen: the most a period can cost.")
    period_days: int = Field(gt=0, le=3660)
    light_member_prices: bool = True
    percent_off: int = Field(0, ge=0, le=100)
    coupon_template_ids: list[str] = Field(default_factory=list, max_length=20)
    min_credit_score: int = Field(0, ge=0, le=1000)
    auto_renew_allowed: bool = True


class LightPlanPatch(_PlanBenefits):
    pass


class LightPlanOut(Out):
    id: str
    name: str
    fee: int
    period_days: int
    light_member_prices: bool
    percent_off: int
    coupon_template_ids: list[str]
    min_credit_score: int
    auto_renew_allowed: bool
    status: str
    created_at: datetime


class JoinIn(In):
    plan_id: str = Field(min_length=1, max_length=32)
    auto_renew: bool = False


class AutoRenewIn(In):
    auto_renew: bool


class LightSettlementOut(Out):
    id: str
    period_no: int
    fee: int
    enjoyed: int
    amount: int
    reason: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    charged_at: datetime | None


class LightMembershipOut(Out):
    id: str
    customer_id: str
    plan_id: str
    status: str
    period_no: int
    period_start: datetime
    period_end: datetime
    fee: int
    enjoyed: int
    to_charge: int = Field(description="min(fee, enjoyed): what the period costs if it ended now.")
    auto_renew: bool
    credit_score: int
    joined_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    settlement: LightSettlementOut | None = Field(
        None, description="The current period's charge, once closed."
    )


class LightFiguresOut(Out):
    joins: int
    active: int
    overdue: int
    ended: int
    open_enjoyed: int
    open_fees: int
    periods_settled: int
    enjoyed_settled: int
    fees_settled: int
    charged: int
    overdue_amount: int
    pending_amount: int
