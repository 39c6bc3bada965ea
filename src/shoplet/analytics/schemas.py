from __future__ import annotations

from datetime import date

from pydantic import Field

from shoplet.schemas import Out


class ActivePoint(Out):
    period: date = Field(description="The day, or the Monday of the week, or the 1st of the month.")
    customers: int = Field(description="Distinct customers with any event in that whole period.")


class ActiveOut(Out):
    grain: str
    points: list[ActivePoint]


class SourceRow(Out):
    host_app: str | None
    scene: str | None
    customers: int


class NewCustomersOut(Out):
    total: int
    by_source: list[SourceRow]


class CohortRow(Out):
    day: date
    customers: int = Field(description="Customers first seen that day.")
    retained: list[int | None] = Field(description="Of them, active again at each offset (null: not yet).")
    rates: list[float | None]


class RetentionOut(Out):
    offsets: list[int]
    cohorts: list[CohortRow]


class FunnelStepOut(Out):
    step: str
    journeys: int = Field(description="Journeys (a customer's local day) that reached this step, in order.")
    conversion: float | None = Field(description="Share of the previous step's journeys (first: null).")
    dropped: int = Field(description="Journeys of the previous step that did not reach this one.")


class FunnelOut(Out):
    steps: list[FunnelStepOut]


class CouponUseRow(Out):
    template_id: str
    name: str | None
    claimed: int
    used: int
    expired: int
    use_rate: float | None


class SalesRow(Out):
    key: str | None
    name: str | None = None
    gmv: int
    orders: int
    average_order_value: int
    refunds: int
    refunded: int = Field(description="Refunds (count) of these orders.")
    net: int


class SalesOut(Out):
    by: str
    total: SalesRow
    rows: list[SalesRow]


class RepeatOut(Out):
    buyers: int
    repeat_buyers: int
    rate: float | None


class PlanJoins(Out):
    plan_id: str
    joined: int


class LightMembershipFiguresOut(Out):
    joined: int
    by_plan: list[PlanJoins]
    settled_charged: int
    settled_free: int
    overdue: int
    fees_charged: int
    enjoyed: int = Field(description="Benefits enjoyed in the periods settled.")
    owed_overdue: int


class GuideRow(Out):
    guide_id: str
    name: str | None = None
    gmv: int
    orders: int
    commission: int
    commission_settled: int
    bound: int


class Window(Out):
    since: date
    until: date
    gmv: int
    orders: int
    average_order_value: int


class BeforeAfterOut(Out):
    store_id: str
    date: date
    days: int
    before: Window
    after: Window
    gmv_change: float | None = Field(description="after / before - 1 (null when nothing before).")


class DashboardOut(Out):
    since: date
    until: date
    engine: str
    mau: ActiveOut | None = None
    dau: ActiveOut | None = None
    retention: RetentionOut | None = None
    funnel: FunnelOut | None = None
    sales_by_store: SalesOut | None = None
    new_customers: NewCustomersOut | None = None
    coupons: list[CouponUseRow] | None = None
    repeat_purchase: RepeatOut | None = None
    light_memberships: LightMembershipFiguresOut | None = None
    guides: list[GuideRow] | None = None
