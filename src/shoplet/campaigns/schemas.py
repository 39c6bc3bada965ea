from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from shoplet.orders.schemas import DeliveryAddress, FulfilmentIn, OrderOut
from shoplet.schemas import Id, In, Instant, Money, Out

Hhmm = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", max_length=5)]


# --- group buying --------------------------------------------------------------------------


class GroupCampaignIn(In):
    name: str = Field(min_length=1, max_length=64)
    sku_id: Id
    price: Money = Field(description="The group price per unit (fen).")
    group_size: int = Field(ge=2, le=50, description="Seats per group (the leader included).")
    time_limit_minutes: int = Field(1440, ge=1, le=20160, description="How long a group has to fill (24 h).")
    starts_at: Instant
    ends_at: Instant
    stock: int = Field(ge=1, le=10_000_000, description="Units for the whole campaign.")
    per_customer_limit: int = Field(1, ge=1, le=1000, description="Units a customer may buy in the campaign.")
    virtual_seats: bool = Field(False, description="A group that times out completes with virtual seats.")
    coupons: bool = Field(False, description="Coupons that allow campaigns apply to its orders.")
    pay_minutes: int = Field(15, ge=1, le=1440, description="An unpaid seat is released after this long.")


class GroupCampaignOut(Out):
    id: str
    name: str
    sku_id: str
    price: int
    group_size: int
    time_limit_minutes: int
    starts_at: datetime
    ends_at: datetime
    stock: int
    sold: int
    per_customer_limit: int
    virtual_seats: bool
    coupons: bool
    pay_minutes: int
    status: str
    created_at: datetime


class GroupMemberOut(Out):
    name: str = Field(description="Masked: the first character, then stars.")
    leader: bool
    paid: bool


class BuyingGroupOut(Out):
    id: str
    campaign_id: str
    status: str
    size: int
    seats_taken: int
    seats_paid: int
    seats_left: int
    virtual_seats: int
    opened_at: datetime | None
    expires_at: datetime | None
    seconds_left: int
    members: list[GroupMemberOut]


class GroupCampaignDetail(Out):
    campaign: GroupCampaignOut
    open_groups: list[BuyingGroupOut] = Field(description="Groups a customer can join now, fullest first.")


class GroupBuyIn(In):
    location_id: Id = Field(description="The store or warehouse to buy from.")
    quantity: int = Field(1, ge=1, le=1000)
    fulfilment: FulfilmentIn | None = None
    coupon_ids: list[Id] | None = Field(None, max_length=20)


class GroupFiguresOut(Out):
    groups_opened: int
    groups_open: int
    groups_succeeded: int
    groups_failed: int
    conversion: float | None = Field(description="Succeeded ÷ opened.")
    paid_seats: int
    units_sold: int
    stock: int


# --- flash sales -----------------------------------------------------------------------------


class FlashItemIn(In):
    sku_id: Id
    price: Money = Field(description="The flash price per unit (fen).")
    stock: int = Field(ge=1, le=10_000_000, description="Flash stock, apart from normal stock.")


class FlashSaleIn(In):
    name: str = Field(min_length=1, max_length=64)
    starts_at: Instant
    ends_at: Instant
    daily_slots: list[Annotated[list[Hhmm], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list,
        max_length=12,
        description='Daily time slots in the shop\'s time zone, such as [["10:00", "12:00"]]; empty: the whole window.',
    )
    per_customer_limit: int = Field(1, ge=1, le=1000, description="Units per customer per item.")
    pay_minutes: int = Field(
        5, ge=1, le=120, description="Unpaid flash orders give their stock back after this."
    )
    items: list[FlashItemIn] = Field(min_length=1, max_length=100)


class FlashItemOut(Out):
    id: str
    sku_id: str
    price: int
    stock: int
    sold: int
    left: int
    sold_out_at: datetime | None


class FlashSaleOut(Out):
    id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    daily_slots: list[list[str]]
    per_customer_limit: int
    pay_minutes: int
    status: str
    running: bool
    next_start: datetime | None
    items: list[FlashItemOut]


class FlashBuyIn(In):
    location_id: Id
    quantity: int = Field(1, ge=1, le=1000)
    fulfilment: FulfilmentIn | None = None
    coupon_ids: list[Id] | None = Field(None, max_length=20)


class FlashItemFigures(Out):
    item_id: str
    sku_id: str
    stock: int
    sold: int
    buyers: int
    sold_out_at: datetime | None
    sell_out_seconds: int | None = Field(description="Seconds from the sale's start to selling out.")


class FlashFiguresOut(Out):
    items: list[FlashItemFigures]
    sold: int
    stock: int


# --- periodic plans ----------------------------------------------------------------------------


class PlanIn(In):
    name: str = Field(min_length=1, max_length=64)
    sku_id: Id
    quantity: int = Field(1, ge=1, le=1000, description="Units of the SKU per delivery.")
    interval: Literal["week", "month"]
    deliveries: int = Field(ge=2, le=104)
    price: Money = Field(description="The whole plan, paid upfront (fen); splits evenly over the deliveries.")
    mode: Literal["delivery", "express"] = Field(
        description="delivery: from a store; express: from the warehouse."
    )
    location_id: Id = Field(description="The store (delivery) or warehouse (express) that delivers.")
    delivery_day: int = Field(ge=1, le=28, description="Weekday 1–7 (Monday = 1) or day of the month 1–28.")


class PlanOut(Out):
    id: str
    name: str
    sku_id: str
    quantity: int
    interval: str
    deliveries: int
    price: int
    mode: str
    location_id: str
    delivery_day: int
    status: str
    created_at: datetime


class SubscribeIn(In):
    address: DeliveryAddress | None = Field(None, description="Where each delivery goes (required).")


class PlanDeliveryOut(Out):
    period: int
    order_id: str
    scheduled_for: datetime
    created_at: datetime


class SubscriptionOut(Out):
    id: str
    plan_id: str
    customer_id: str
    order_id: str
    status: str
    deliveries: int
    delivered: int
    skipped: int
    next_at: datetime | None
    address: dict[str, object] | None
    created_at: datetime
    activated_at: datetime | None
    ended_at: datetime | None
    refund_id: str | None
    history: list[PlanDeliveryOut] = Field(default_factory=list)


class SubscribedOut(Out):
    subscription_id: str
    order: OrderOut


class SkipIn(In):
    period: int = Field(ge=1, le=104, description="The period to skip: the next one.")


class AddressIn(In):
    address: DeliveryAddress


class PlanFiguresOut(Out):
    subscriptions_active: int
    subscriptions_paused: int
    subscriptions_completed: int
    subscriptions_cancelled: int
    deliveries_made: int


class ActionIn(In):
    action: Literal["pause", "resume", "stop"]
