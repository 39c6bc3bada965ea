"""Group buying, flash sales and periodic plans: the merchant's routes (create, list, pause,
resume, stop, figures) and the storefront's (see a campaign, open or join a group, buy in a
flash sale, subscribe to a plan and change it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from sqlalchemy.orm import Session

from shoplet.auth import AsCustomer, AsOperator, AsStaff, Db, Now, Rt
from shoplet.campaigns import flash, groups, plans, views
from shoplet.campaigns.models import (
    BuyingGroup,
    FlashSale,
    GroupCampaign,
    GroupStatus,
    Plan,
    PlanSubscription,
)
from shoplet.campaigns.schemas import (
    ActionIn,
    AddressIn,
    BuyingGroupOut,
    FlashBuyIn,
    FlashFiguresOut,
    FlashItemOut,
    FlashSaleIn,
    FlashSaleOut,
    GroupBuyIn,
    GroupCampaignDetail,
    GroupCampaignIn,
    GroupCampaignOut,
    GroupFiguresOut,
    PlanDeliveryOut,
    PlanFiguresOut,
    PlanIn,
    PlanOut,
    SkipIn,
    SubscribedOut,
    SubscribeIn,
    SubscriptionOut,
)
from shoplet.campaigns.service import act
from shoplet.orders.schemas import OrderOut, fulfilment_request
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import scoped
from shoplet.tenancy.service import zone
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["campaigns"])
storefront = APIRouter(route_class=OneHop, prefix="/storefront", tags=["storefront"])

Status = Query(None, pattern="^(active|paused|stopped)$")


def _page(items: list[Any], cursor: str | None) -> Any:
    return Page(items=items, next_cursor=cursor)


# --- group buying: the merchant ------------------------------------------------------------


@router.post("/group-campaigns", response_model=GroupCampaignOut, status_code=201)
def create_group_campaign(body: GroupCampaignIn, p: AsOperator, db: Db, now: Now) -> GroupCampaignOut:
    """A group-buy campaign on one SKU: group price, group size, time limit, window, stock,
    per-customer limit, virtual seats at the time limit, whether coupons apply."""
    with db.unit_of_work() as s:
        campaign = groups.create_campaign(s, merchant_id=p.tenant, fields=body.model_dump(), now=now)
        return GroupCampaignOut.model_validate(campaign)


@router.get("/group-campaigns", response_model=Page[GroupCampaignOut])
def list_group_campaigns(
    p: AsStaff, db: Db, page: PageQuery, status: str | None = Status
) -> Page[GroupCampaignOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(GroupCampaign, p.tenant)
        if status:
            stmt = stmt.where(GroupCampaign.status == status)
        rows, cursor = paginate(s, stmt, GroupCampaign.id, page)
        return _page([GroupCampaignOut.model_validate(r) for r in rows], cursor)


@router.get("/group-campaigns/{group_campaign_id}", response_model=GroupCampaignOut)
def get_group_campaign(group_campaign_id: str, p: AsStaff, db: Db) -> GroupCampaignOut:
    with db.unit_of_work(write=False) as s:
        return GroupCampaignOut.model_validate(groups.get_campaign(s, p.tenant, group_campaign_id))


@router.post("/group-campaigns/{group_campaign_id}/actions", response_model=GroupCampaignOut)
def act_on_group_campaign(
    group_campaign_id: str, body: ActionIn, p: AsOperator, db: Db, now: Now
) -> GroupCampaignOut:
    """Pause (no new groups or members), resume, or stop for good. Groups already open run
    to their time limit."""
    with db.unit_of_work() as s:
        campaign = groups.get_campaign(s, p.tenant, group_campaign_id)
        act(campaign, body.action, now)
        s.flush()
        return GroupCampaignOut.model_validate(campaign)


@router.get("/group-campaigns/{group_campaign_id}/groups", response_model=Page[BuyingGroupOut])
def list_groups(
    group_campaign_id: str,
    p: AsStaff,
    db: Db,
    now: Now,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(pending|open|succeeded|failed|cancelled)$"),
) -> Page[BuyingGroupOut]:
    with db.unit_of_work(write=False) as s:
        groups.get_campaign(s, p.tenant, group_campaign_id)
        stmt = scoped(BuyingGroup, p.tenant).where(BuyingGroup.campaign_id == group_campaign_id)
        if status:
            stmt = stmt.where(BuyingGroup.status == status)
        rows, cursor = paginate(s, stmt, BuyingGroup.id, page)
        return _page([BuyingGroupOut(**v) for v in views.groups_view(s, p.tenant, list(rows), now)], cursor)


@router.get("/group-campaigns/{group_campaign_id}/figures", response_model=GroupFiguresOut)
def group_campaign_figures(group_campaign_id: str, p: AsStaff, db: Db) -> GroupFiguresOut:
    """Groups opened, open, succeeded and failed, the conversion, paid seats, units sold."""
    with db.unit_of_work(write=False) as s:
        campaign = groups.get_campaign(s, p.tenant, group_campaign_id)
        return GroupFiguresOut(
            **views.group_figures(s, p.tenant, group_campaign_id),
            units_sold=campaign.sold,
            stock=campaign.stock,
        )


# --- group buying: the storefront -----------------------------------------------------------


@storefront.get("/group-campaigns/{group_campaign_id}", response_model=GroupCampaignDetail)
def see_group_campaign(group_campaign_id: str, p: AsCustomer, db: Db, now: Now) -> GroupCampaignDetail:
    """A campaign and the groups a customer can join now (fullest first)."""
    with db.unit_of_work(write=False) as s:
        campaign = groups.get_campaign(s, p.tenant, group_campaign_id)
        joinable = s.scalars(
            scoped(BuyingGroup, p.tenant)
            .where(
                BuyingGroup.campaign_id == group_campaign_id,
                BuyingGroup.status == GroupStatus.OPEN,
                BuyingGroup.expires_at > now,
                BuyingGroup.taken < BuyingGroup.size,
            )
            .order_by((BuyingGroup.size - BuyingGroup.taken), BuyingGroup.expires_at)
            .limit(20)
        ).all()
        return GroupCampaignDetail(
            campaign=GroupCampaignOut.model_validate(campaign),
            open_groups=[BuyingGroupOut(**v) for v in views.groups_view(s, p.tenant, list(joinable), now)],
        )


@storefront.get("/buying-groups/{buying_group_id}", response_model=BuyingGroupOut)
def see_group(buying_group_id: str, p: AsCustomer, db: Db, now: Now) -> BuyingGroupOut:
    """A group from a share link: seats left, time left, members by masked name."""
    with db.unit_of_work(write=False) as s:
        return BuyingGroupOut(**views.group_view(s, views.get_group(s, p.tenant, buying_group_id), now))


def _group_buy(
    group_campaign_id: str,
    group_id: str | None,
    body: GroupBuyIn,
    p: Any,
    db: Any,
    now: Any,
    rt: Any,
    key: str | None,
) -> OrderOut:
    return groups.buy(
        db,
        merchant_id=p.tenant,
        customer_id=p.customer,
        scope=p.scope,
        request=groups.Buy(
            campaign_id=group_campaign_id,
            group_id=group_id,
            quantity=body.quantity,
            location_id=body.location_id,
            fulfilment=fulfilment_request(body.fulfilment),
            coupon_ids=body.coupon_ids,
        ),
        pricer=rt.pricer,
        host_app=p.host_app,
        scene=p.scene,
        now=now,
        idempotency_key=key,
        payload=body.model_dump(),
    )


@storefront.post("/group-campaigns/{group_campaign_id}/groups", response_model=OrderOut, status_code=201)
def open_group(
    group_campaign_id: str,
    body: GroupBuyIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> OrderOut:
    """Open a group as its leader: the order to pay (its ``campaign_ref`` is the group's id,
    to share). The group opens, and its time limit starts, when this order is paid."""
    return _group_buy(group_campaign_id, None, body, p, db, now, rt, idempotency_key)


@storefront.post("/buying-groups/{buying_group_id}/orders", response_model=OrderOut, status_code=201)
def join_group(
    buying_group_id: str,
    body: GroupBuyIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> OrderOut:
    """Join a group: the seat is held from now until the order is paid or its payment
    deadline passes. The last seat is never sold twice."""
    with db.unit_of_work(write=False) as s:
        group_campaign_id = views.get_group(s, p.tenant, buying_group_id).campaign_id
    return _group_buy(group_campaign_id, buying_group_id, body, p, db, now, rt, idempotency_key)


# --- flash sales ---------------------------------------------------------------------------------


def _sale_out(sale: FlashSale, items: list[Any], now: Any, tz: Any) -> FlashSaleOut:
    return FlashSaleOut(
        id=sale.id,
        name=sale.name,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        daily_slots=sale.daily_slots,
        per_customer_limit=sale.per_customer_limit,
        pay_minutes=sale.pay_minutes,
        status=sale.status,
        running=flash.is_running(sale, now, tz),
        next_start=flash.next_start(sale, now, tz),
        items=[
            FlashItemOut(
                id=i.id,
                sku_id=i.sku_id,
                price=i.price,
                stock=i.stock,
                sold=i.sold,
                left=i.stock - i.sold,
                sold_out_at=i.sold_out_at,
            )
            for i in items
        ],
    )


def _sales_out(s: Session, merchant_id: str, sales: list[FlashSale], now: Any) -> list[FlashSaleOut]:
    items = flash.items_of(s, merchant_id, [x.id for x in sales])
    tz = zone(s, merchant_id)
    return [_sale_out(x, items[x.id], now, tz) for x in sales]


@router.post("/flash-sales", response_model=FlashSaleOut, status_code=201)
def create_flash_sale(body: FlashSaleIn, p: AsOperator, db: Db, now: Now) -> FlashSaleOut:
    """A flash sale: window, optional daily time slots, per-customer limit, payment deadline,
    and its items (SKU, flash price, flash stock)."""
    with db.unit_of_work() as s:
        fields = body.model_dump(exclude={"items"})
        fields["daily_slots"] = [list(pair) for pair in body.daily_slots]
        sale = flash.create_sale(
            s, merchant_id=p.tenant, fields=fields, items=[i.model_dump() for i in body.items], now=now
        )
        return _sales_out(s, p.tenant, [sale], now)[0]


@router.get("/flash-sales", response_model=Page[FlashSaleOut])
def list_flash_sales(
    p: AsStaff, db: Db, now: Now, page: PageQuery, status: str | None = Status
) -> Page[FlashSaleOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(FlashSale, p.tenant)
        if status:
            stmt = stmt.where(FlashSale.status == status)
        rows, cursor = paginate(s, stmt, FlashSale.id, page)
        return _page(_sales_out(s, p.tenant, list(rows), now), cursor)


@router.get("/flash-sales/{flash_sale_id}", response_model=FlashSaleOut)
def get_flash_sale(flash_sale_id: str, p: AsStaff, db: Db, now: Now) -> FlashSaleOut:
    with db.unit_of_work(write=False) as s:
        return _sales_out(s, p.tenant, [flash.get_sale(s, p.tenant, flash_sale_id)], now)[0]


@router.post("/flash-sales/{flash_sale_id}/actions", response_model=FlashSaleOut)
def act_on_flash_sale(flash_sale_id: str, body: ActionIn, p: AsOperator, db: Db, now: Now) -> FlashSaleOut:
    """Pause, resume, or stop for good."""
    with db.unit_of_work() as s:
        sale = flash.get_sale(s, p.tenant, flash_sale_id)
        act(sale, body.action, now)
        s.flush()
        return _sales_out(s, p.tenant, [sale], now)[0]


@router.get("/flash-sales/{flash_sale_id}/figures", response_model=FlashFiguresOut)
def flash_sale_figures(flash_sale_id: str, p: AsStaff, db: Db) -> FlashFiguresOut:
    """Per item: stock, sold, buyers, and how long it took to sell out."""
    with db.unit_of_work(write=False) as s:
        return FlashFiguresOut(**views.flash_figures(s, p.tenant, flash.get_sale(s, p.tenant, flash_sale_id)))


@storefront.get("/flash-sales", response_model=list[FlashSaleOut])
def see_flash_sales(p: AsCustomer, db: Db, now: Now) -> list[FlashSaleOut]:
    """Flash sales running now or still to come (每日必抢), soonest first."""
    with db.unit_of_work(write=False) as s:
        sales = s.scalars(
            scoped(FlashSale, p.tenant)
            .where(FlashSale.status == "active", FlashSale.ends_at > now)
            .order_by(FlashSale.starts_at, FlashSale.id)
            .limit(50)
        ).all()
        return _sales_out(s, p.tenant, list(sales), now)


@storefront.post("/flash-items/{flash_item_id}/orders", response_model=OrderOut, status_code=201)
def buy_flash_item(
    flash_item_id: str,
    body: FlashBuyIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> OrderOut:
    """Buy a flash item: the flash stock and the customer's limit are taken with the order,
    atomically; pay within the sale's short deadline or the stock comes back."""
    return flash.buy(
        db,
        merchant_id=p.tenant,
        customer_id=p.customer,
        scope=p.scope,
        request=flash.Buy(
            item_id=flash_item_id,
            quantity=body.quantity,
            location_id=body.location_id,
            fulfilment=fulfilment_request(body.fulfilment),
            coupon_ids=body.coupon_ids,
        ),
        pricer=rt.pricer,
        gate=rt.flash_gate,
        host_app=p.host_app,
        scene=p.scene,
        now=now,
        idempotency_key=idempotency_key,
        payload=body.model_dump(),
    )


# --- periodic plans --------------------------------------------------------------------------------


@router.post("/periodic-plans", response_model=PlanOut, status_code=201)
def create_plan(body: PlanIn, p: AsOperator, db: Db, now: Now) -> PlanOut:
    """A periodic plan: a SKU every week or month, N deliveries, one price paid upfront."""
    with db.unit_of_work() as s:
        return PlanOut.model_validate(
            plans.create_plan(s, merchant_id=p.tenant, fields=body.model_dump(), now=now)
        )


@router.get("/periodic-plans", response_model=Page[PlanOut])
def list_plans(p: AsStaff, db: Db, page: PageQuery, status: str | None = Status) -> Page[PlanOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Plan, p.tenant)
        if status:
            stmt = stmt.where(Plan.status == status)
        rows, cursor = paginate(s, stmt, Plan.id, page)
        return _page([PlanOut.model_validate(r) for r in rows], cursor)


@router.get("/periodic-plans/{periodic_plan_id}", response_model=PlanOut)
def get_plan(periodic_plan_id: str, p: AsStaff, db: Db) -> PlanOut:
    with db.unit_of_work(write=False) as s:
        return PlanOut.model_validate(plans.get_plan(s, p.tenant, periodic_plan_id))


@router.post("/periodic-plans/{periodic_plan_id}/actions", response_model=PlanOut)
def act_on_plan(periodic_plan_id: str, body: ActionIn, p: AsOperator, db: Db, now: Now) -> PlanOut:
    """Pause or stop new subscriptions (existing ones keep being delivered), or resume."""
    with db.unit_of_work() as s:
        plan = plans.get_plan(s, p.tenant, periodic_plan_id)
        act(plan, body.action, now)
        s.flush()
        return PlanOut.model_validate(plan)


@router.get("/periodic-plans/{periodic_plan_id}/figures", response_model=PlanFiguresOut)
def plan_figures(periodic_plan_id: str, p: AsStaff, db: Db) -> PlanFiguresOut:
    with db.unit_of_work(write=False) as s:
        plans.get_plan(s, p.tenant, periodic_plan_id)
        return PlanFiguresOut(**views.plan_figures(s, p.tenant, periodic_plan_id))


def _subscription_out(s: Session, sub: PlanSubscription) -> SubscriptionOut:
    out = SubscriptionOut.model_validate(sub)
    out.history = [PlanDeliveryOut.model_validate(d) for d in plans.deliveries_of(s, sub.merchant_id, sub.id)]
    return out


@router.get("/periodic-plans/{periodic_plan_id}/subscriptions", response_model=Page[SubscriptionOut])
def list_subscriptions(periodic_plan_id: str, p: AsStaff, db: Db, page: PageQuery) -> Page[SubscriptionOut]:
    with db.unit_of_work(write=False) as s:
        plans.get_plan(s, p.tenant, periodic_plan_id)
        stmt = scoped(PlanSubscription, p.tenant).where(PlanSubscription.plan_id == periodic_plan_id)
        rows, cursor = paginate(s, stmt, PlanSubscription.id, page)
        return _page([SubscriptionOut.model_validate(r) for r in rows], cursor)


@storefront.get("/periodic-plans", response_model=list[PlanOut])
def see_plans(p: AsCustomer, db: Db) -> list[PlanOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(scoped(Plan, p.tenant).where(Plan.status == "active").order_by(Plan.id).limit(100))
        return [PlanOut.model_validate(r) for r in rows]


@storefront.post(
    "/periodic-plans/{periodic_plan_id}/subscriptions", response_model=SubscribedOut, status_code=201
)
def subscribe(
    periodic_plan_id: str,
    body: SubscribeIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> SubscribedOut:
    """Subscribe: the upfront order to pay once; deliveries start on the plan's next delivery day."""
    sub_id, order = plans.subscribe(
        db,
        merchant_id=p.tenant,
        customer_id=p.customer,
        scope=p.scope,
        plan_id=periodic_plan_id,
        address=body.address.model_dump() if body.address else None,
        pricer=rt.pricer,
        host_app=p.host_app,
        scene=p.scene,
        timeout=rt.unpaid_timeout,
        now=now,
        idempotency_key=idempotency_key,
        payload=body.model_dump(),
    )
    return SubscribedOut(subscription_id=sub_id, order=order)


@storefront.get("/plan-subscriptions", response_model=list[SubscriptionOut])
def my_subscriptions(p: AsCustomer, db: Db) -> list[SubscriptionOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            scoped(PlanSubscription, p.tenant)
            .where(PlanSubscription.customer_id == p.customer)
            .order_by(PlanSubscription.created_at.desc(), PlanSubscription.id)
            .limit(100)
        )
        return [SubscriptionOut.model_validate(r) for r in rows]


@storefront.get("/plan-subscriptions/{subscription_id}", response_model=SubscriptionOut)
def my_subscription(subscription_id: str, p: AsCustomer, db: Db) -> SubscriptionOut:
    with db.unit_of_work(write=False) as s:
        return _subscription_out(s, plans.mine(s, p.tenant, subscription_id, p.customer))


@storefront.post("/plan-subscriptions/{subscription_id}/skip", response_model=SubscriptionOut)
def skip_period(subscription_id: str, body: SkipIn, p: AsCustomer, db: Db, now: Now) -> SubscriptionOut:
    """Skip the next period: its delivery moves one interval later."""
    with db.unit_of_work() as s:
        sub = plans.skip(
            s,
            merchant_id=p.tenant,
            subscription_id=subscription_id,
            period=body.period,
            customer_id=p.customer,
            now=now,
        )
        return _subscription_out(s, sub)


@storefront.post("/plan-subscriptions/{subscription_id}/pause", response_model=SubscriptionOut)
def pause_plan(subscription_id: str, p: AsCustomer, db: Db, now: Now) -> SubscriptionOut:
    with db.unit_of_work() as s:
        sub = plans.pause(
            s, merchant_id=p.tenant, subscription_id=subscription_id, customer_id=p.customer, now=now
        )
        return _subscription_out(s, sub)


@storefront.post("/plan-subscriptions/{subscription_id}/resume", response_model=SubscriptionOut)
def resume_plan(subscription_id: str, p: AsCustomer, db: Db, now: Now) -> SubscriptionOut:
    with db.unit_of_work() as s:
        sub = plans.resume(
            s, merchant_id=p.tenant, subscription_id=subscription_id, customer_id=p.customer, now=now
        )
        return _subscription_out(s, sub)


@storefront.put("/plan-subscriptions/{subscription_id}/address", response_model=SubscriptionOut)
def change_plan_address(
    subscription_id: str, body: AddressIn, p: AsCustomer, db: Db, now: Now
) -> SubscriptionOut:
    with db.unit_of_work() as s:
        sub = plans.change_address(
            s,
            merchant_id=p.tenant,
            subscription_id=subscription_id,
            address=body.address.model_dump(),
            customer_id=p.customer,
            now=now,
        )
        return _subscription_out(s, sub)


@storefront.post("/plan-subscriptions/{subscription_id}/cancel", response_model=SubscriptionOut)
def cancel_plan(subscription_id: str, p: AsCustomer, db: Db, now: Now, rt: Rt) -> SubscriptionOut:
    """Cancel: the undelivered periods are refunded (their share of what was paid, to the fen)."""
    with db.unit_of_work() as s:
        plans.cancel(
            s, merchant_id=p.tenant, subscription_id=subscription_id, customer_id=p.customer, now=now
        )
    with db.unit_of_work(write=False) as s:
        return _subscription_out(s, plans.mine(s, p.tenant, subscription_id, p.customer))
