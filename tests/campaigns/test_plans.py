"""Periodic purchase: a plan is paid once, delivers on schedule, and a cancellation refunds
the undelivered periods to the fen; skip, pause, resume and address changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shoplet import sweeps
from shoplet.campaigns import deliveries, plans
from shoplet.campaigns.models import Plan, PlanSubscription
from shoplet.inventory.models import StockLevel
from shoplet.payments.models import Refund
from shoplet.payments.refunds import line_share
from tests.campaigns.helpers import customers, headers
from tests.helpers import ok

ADDRESS = {
    "name": "Li",
    "phone": "13800000000",
    "address": "1 Nanjing Rd",
    "latitude": 31.2,
    "longitude": 121.4,
}


def weekly_plan(shop, **overrides) -> dict:
    body = {
        "name": "Weekly beans",
        "sku_id": shop.skus["BEANS"],
        "quantity": 1,
        "interval": "week",
        "deliveries": 3,
        "price": 20001,  # ¥200.01 over 3 deliveries: 6667 each
        "mode": "express",
        "location_id": shop.warehouse_id,
        "delivery_day": 1,
        **overrides,
    }
    return ok(shop.client.post("/api/v1/periodic-plans", json=body, headers=shop.admin), 201)


def subscribe(shop, plan_id, customer, status=201, **body):
    return ok(
        shop.client.post(
            f"/api/v1/storefront/periodic-plans/{plan_id}/subscriptions", json=body, headers=customer
        ),
        status,
    )


def test_a_plan_delivers_on_schedule_and_a_cancellation_refunds_the_rest_to_the_fen(
    shop, client, clock, runtime
):
    plan = weekly_plan(shop)
    (buyer,) = customers(shop, 1)
    subscribed = subscribe(shop, plan["id"], headers(buyer), address=ADDRESS)
    order = subscribed["order"]
    assert order["total"] == 20001 and order["campaign_kind"] == "plan"
    assert order["fulfilments"][0]["mode"] == "plan" and order["lines"][0]["quantity"] == 3
    reserved_before = shop.level(shop.warehouse_id, "BEANS")["reserved"]
    assert reserved_before == 0  # nothing is reserved until a period is delivered
    sub_id = subscribed["subscription_id"]
    mine = ok(client.get(f"/api/v1/storefront/plan-subscriptions/{sub_id}", headers=headers(buyer)))
    assert mine["status"] == "pending_payment"
    shop.pay(order["id"], customer=headers(buyer))
    mine = ok(client.get(f"/api/v1/storefront/plan-subscriptions/{sub_id}", headers=headers(buyer)))
    assert mine["status"] == "active" and mine["next_at"] is not None
    first = datetime.fromisoformat(mine["next_at"])
    assert first.isoweekday() in (1, 7)  # Monday 08:00 in the shop's zone (Sunday in UTC at most)
    assert sweeps.campaign_lifecycle(runtime)["plan_deliveries"] == 0  # not due yet
    clock.advance(days=8)
    assert sweeps.campaign_lifecycle(runtime)["plan_deliveries"] == 1
    assert sweeps.campaign_lifecycle(runtime)["plan_deliveries"] == 0  # once per period
    mine = ok(client.get(f"/api/v1/storefront/plan-subscriptions/{sub_id}", headers=headers(buyer)))
    assert mine["delivered"] == 1 and len(mine["history"]) == 1
    delivery = ok(client.get(f"/api/v1/orders/{mine['history'][0]['order_id']}", headers=shop.admin))
    assert (
        delivery["total"] == 0
        and delivery["status"] == "paid"
        and delivery["campaign_kind"] == "plan_delivery"
    )
    assert delivery["fulfilments"][0]["mode"] == "express" and delivery["fulfilments"][0]["status"] == "ready"
    assert shop.level(shop.warehouse_id, "BEANS")["reserved"] == 1
    # The customer is told.
    sweeps.dispatch_outbox(runtime)
    inbox = ok(client.get(f"/api/v1/sandbox/inbox/alipay/friend-0-{shop.merchant_id[-6:]}"))
    told = [m for m in inbox if m["title"] == "周期购配送"]
    assert len(told) == 1 and "第 1/3 期" in told[0]["body"]
    # Skipping a delivered period is refused; the next one moves a week on.
    assert (
        ok(
            client.post(
                f"/api/v1/storefront/plan-subscriptions/{sub_id}/skip",
                json={"period": 1},
                headers=headers(buyer),
            ),
            409,
        )["code"]
        == "plan.period_delivered"
    )
    skipped = ok(
        client.post(
            f"/api/v1/storefront/plan-subscriptions/{sub_id}/skip", json={"period": 2}, headers=headers(buyer)
        )
    )
    assert datetime.fromisoformat(skipped["next_at"]) - datetime.fromisoformat(mine["next_at"]) == timedelta(
        days=7
    )
    # Cancel: the two undelivered periods come back, exactly their share of the line.
    cancelled = ok(
        client.post(f"/api/v1/storefront/plan-subscriptions/{sub_id}/cancel", headers=headers(buyer))
    )
    assert cancelled["status"] == "cancelled" and cancelled["refund_id"]
    sweeps.dispatch_outbox(runtime)
    upfront = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert upfront["refunded_amount"] == line_share(20001, 3, 0, 2) == 13334
    with runtime.db.unit_of_work(write=False) as s:
        refund = s.get(Refund, (shop.merchant_id, cancelled["refund_id"]))
        assert refund.amount == 13334 and refund.status == "succeeded"
    ok(client.post(f"/api/v1/storefront/plan-subscriptions/{sub_id}/cancel", headers=headers(buyer)), 409)
    clock.advance(days=30)
    assert sweeps.campaign_lifecycle(runtime)["plan_deliveries"] == 0  # nothing after cancelling
    figures = ok(client.get(f"/api/v1/periodic-plans/{plan['id']}/figures", headers=shop.admin))
    assert figures["subscriptions_cancelled"] == 1 and figures["deliveries_made"] == 1


def test_a_plan_runs_to_completion_and_pause_holds_deliveries(shop, client, clock, runtime):
    plan = weekly_plan(shop, deliveries=2, price=10000)
    (buyer,) = customers(shop, 1)
    subscribed = subscribe(shop, plan["id"], headers(buyer), address=ADDRESS)
    sub_id = subscribed["subscription_id"]
    shop.pay(subscribed["order"]["id"], customer=headers(buyer))
    ok(client.post(f"/api/v1/storefront/plan-subscriptions/{sub_id}/pause", headers=headers(buyer)))
    clock.advance(days=8)
    assert sweeps.campaign_lifecycle(runtime)["plan_deliveries"] == 0
    resumed = ok(
        client.post(f"/api/v1/storefront/plan-subscriptions/{sub_id}/resume", headers=headers(buyer))
    )
    assert datetime.fromisoformat(resumed["next_at"]) > runtime.clock()
    changed = ok(
        client.put(
            f"/api/v1/storefront/plan-subscriptions/{sub_id}/address",
            json={"address": {**ADDRESS, "address": "2 Huaihai Rd"}},
            headers=headers(buyer),
        )
    )
    assert changed["address"]["address"] == "2 Huaihai Rd"
    for _ in range(2):
        clock.advance(days=8)
        sweeps.campaign_lifecycle(runtime)
    done = ok(client.get(f"/api/v1/storefront/plan-subscriptions/{sub_id}", headers=headers(buyer)))
    assert done["status"] == "completed" and done["delivered"] == 2
    assert [h["period"] for h in done["history"]] == [1, 2]
    upfront = ok(client.get(f"/api/v1/orders/{subscribed['order']['id']}", headers=shop.admin))
    assert upfront["status"] == "fulfilled"
    assert (
        ok(
            client.post(f"/api/v1/storefront/plan-subscriptions/{sub_id}/cancel", headers=headers(buyer)), 409
        )["code"]
        == "plan.ended"
    )


def test_plan_errors_and_tenancy(shop, client, other_shop, runtime):
    bad = ok(
        client.post(
            "/api/v1/periodic-plans",
            json={"name": "x", "sku_id": shop.skus["BEANS"], "interval": "month", "deliveries": 3, "price": 10000,
                  "mode": "express", "location_id": shop.warehouse_id, "delivery_day": 5},
            headers=shop.admin,
        ),
        422,
    )  # fmt: skip
    assert bad["code"] == "plan.price_not_divisible"
    store_express = ok(
        client.post(
            "/api/v1/periodic-plans",
            json={"name": "x", "sku_id": shop.skus["BEANS"], "interval": "week", "deliveries": 2, "price": 100,
                  "mode": "express", "location_id": shop.store_id, "delivery_day": 9},
            headers=shop.admin,
        ),
        422,
    )  # fmt: skip
    assert store_express["code"] in ("fulfilment.mode_unavailable", "plan.bad_delivery_day")
    plan = weekly_plan(shop)
    ok(
        client.post(
            f"/api/v1/periodic-plans/{plan['id']}/actions", json={"action": "pause"}, headers=shop.admin
        )
    )
    (buyer,) = customers(shop, 1)
    assert (
        subscribe(shop, plan["id"], headers(buyer), status=409, address=ADDRESS)["code"]
        == "campaign.not_running"
    )
    ok(client.get(f"/api/v1/periodic-plans/{plan['id']}", headers=other_shop.admin), 404)
    subscribe(shop, plan["id"], other_shop.customer, status=404, address=ADDRESS)


def test_monthly_schedule_keeps_the_day_and_weekly_lands_on_the_weekday():
    tz = ZoneInfo("Asia/Shanghai")
    monthly = Plan(interval="month", delivery_day=28)
    first = plans.first_delivery(monthly, datetime(2027, 1, 30, 9, tzinfo=tz), tz)
    assert first == datetime(2027, 2, 28, 8, tzinfo=tz)
    assert plans.following(monthly, first, tz) == datetime(2027, 3, 28, 8, tzinfo=tz)
    weekly = Plan(interval="week", delivery_day=3)  # Wednesday
    first = plans.first_delivery(weekly, datetime(2027, 1, 6, 7, tzinfo=tz), tz)  # a Wednesday morning
    assert first == datetime(2027, 1, 13, 8, tzinfo=tz)
    assert plans.following(weekly, first, tz) == datetime(2027, 1, 20, 8, tzinfo=tz)


def test_a_delivery_and_a_cancellation_cannot_both_count_a_period(shop, client, clock, runtime):
    """The cancellation reads delivered = d and moves only if it still is; the delivery moves
    only if the subscription is still active with delivered = d."""
    plan = weekly_plan(shop)
    (buyer,) = customers(shop, 1)
    subscribed = subscribe(shop, plan["id"], headers(buyer), address=ADDRESS)
    shop.pay(subscribed["order"]["id"], customer=headers(buyer))
    clock.advance(days=8)
    now = runtime.clock()
    sub_id = subscribed["subscription_id"]
    with runtime.db.unit_of_work() as s:
        plans.cancel(s, merchant_id=shop.merchant_id, subscription_id=sub_id, customer_id=None, now=now)
        assert deliveries.deliver(s, merchant_id=shop.merchant_id, subscription_id=sub_id, now=now) is None
    with runtime.db.unit_of_work(write=False) as s:
        sub = s.scalar(select(PlanSubscription).where(PlanSubscription.id == sub_id))
        assert sub.delivered == 0 and sub.status == "cancelled"
        level = s.get(StockLevel, (shop.merchant_id, shop.warehouse_id, shop.skus["BEANS"]))
        assert level.reserved == 0
    upfront = ok(client.get(f"/api/v1/orders/{subscribed['order']['id']}", headers=shop.admin))
    assert upfront["refunded_amount"] == 20001


def test_a_subscription_needs_an_address(shop, client):
    plan = weekly_plan(shop)
    (buyer,) = customers(shop, 1)
    assert subscribe(shop, plan["id"], headers(buyer), status=422)["code"] == "delivery.address_required"
    assert ok(client.get("/api/v1/storefront/plan-subscriptions", headers=headers(buyer))) == []
