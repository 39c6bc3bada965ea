"""Flash sales: the flash stock sells out exactly, nobody goes past the limit (real threads),
unpaid orders give their stock back, windows and daily slots hold, coupons only where the
template allows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.campaigns import flash
from shoplet.campaigns.models import CampaignQuota, FlashItem, FlashSale
from shoplet.db import utcnow
from shoplet.errors import ShopletError
from shoplet.orders.models import Order, OrderLine
from shoplet.orders.pricing import EnginePricer
from tests.campaigns.helpers import customers, headers, iso
from tests.helpers import ok


def flash_sale(shop, **overrides) -> dict:
    body = {
        "name": "每日必抢",
        "starts_at": iso(timedelta(minutes=-5)),
        "ends_at": iso(timedelta(hours=2)),
        "per_customer_limit": 2,
        "pay_minutes": 5,
        "items": [{"sku_id": shop.skus["BEANS"], "price": 3990, "stock": 10}],
        **overrides,
    }
    return ok(shop.client.post("/api/v1/flash-sales", json=body, headers=shop.admin), 201)


def buy(shop, item_id, customer, *, quantity=1, status=201, **extra):
    return ok(
        shop.client.post(
            f"/api/v1/storefront/flash-items/{item_id}/orders",
            json={"location_id": shop.warehouse_id, "quantity": quantity, **extra},
            headers=customer,
        ),
        status,
    )


def test_a_flash_buy_takes_flash_stock_at_the_flash_price_and_an_unpaid_order_gives_it_back(
    shop, client, clock, runtime
):
    sale = flash_sale(shop)
    item = sale["items"][0]
    assert sale["running"] and item["left"] == 10
    (buyer,) = customers(shop, 1)
    order = buy(shop, item["id"], headers(buyer), quantity=2)
    assert order["total"] == 2 * 3990 and order["campaign_kind"] == "flash"
    assert order["pricing"]["applied"][0]["kind"] == "flash_price"
    assert buy(shop, item["id"], headers(buyer), status=409)["code"] == "flash.over_limit"
    listed = ok(client.get("/api/v1/storefront/flash-sales", headers=headers(buyer)))
    assert listed[0]["items"][0]["left"] == 8
    clock.advance(minutes=6)  # the short payment deadline passes
    sweeps.cancel_unpaid_orders(runtime)
    listed = ok(client.get("/api/v1/storefront/flash-sales", headers=headers(buyer)))
    assert listed[0]["items"][0]["left"] == 10
    again = buy(shop, item["id"], headers(buyer), quantity=2)  # the limit came back too
    shop.pay(again["id"], customer=headers(buyer))
    figures = ok(client.get(f"/api/v1/flash-sales/{sale['id']}/figures", headers=shop.admin))
    assert figures["sold"] == 2 and figures["items"][0]["buyers"] == 1


def test_windows_daily_slots_pause_and_errors(shop, client, other_shop):
    later = flash_sale(shop, starts_at=iso(timedelta(hours=1)))
    (buyer,) = customers(shop, 1)
    item = later["items"][0]
    assert not later["running"] and later["next_start"]
    assert buy(shop, item["id"], headers(buyer), status=409)["code"] == "campaign.not_running"
    over = flash_sale(shop, starts_at=iso(timedelta(hours=-3)), ends_at=iso(timedelta(hours=-1)))
    assert buy(shop, over["items"][0]["id"], headers(buyer), status=409)["code"] == "campaign.over"
    # A one-minute daily slot starting 7 minutes past now in UTC is not now in any zone (zone
    # offsets are whole quarter hours).
    start = utcnow() + timedelta(minutes=7)
    if start.strftime("%H:%M") >= "23:58":  # the slot would wrap past midnight
        start += timedelta(minutes=15)
    slot = [start.strftime("%H:%M"), (start + timedelta(minutes=1)).strftime("%H:%M")]
    sale = flash_sale(shop, daily_slots=[slot], ends_at=iso(timedelta(days=2)))
    assert not sale["running"] and sale["next_start"] is not None
    assert buy(shop, sale["items"][0]["id"], headers(buyer), status=409)["code"] == "campaign.not_running"
    bad = ok(
        client.post(
            "/api/v1/flash-sales",
            json={
                "name": "x",
                "starts_at": iso(timedelta(0)),
                "ends_at": iso(timedelta(hours=1)),
                "items": [{"sku_id": shop.skus["BEANS"], "price": 1, "stock": 1}] * 2,
            },
            headers=shop.admin,
        ),
        422,
    )
    assert bad["code"] == "flash.duplicate_sku"
    live = flash_sale(shop)
    ok(client.post(f"/api/v1/flash-sales/{live['id']}/actions", json={"action": "pause"}, headers=shop.admin))
    assert buy(shop, live["items"][0]["id"], headers(buyer), status=409)["code"] == "campaign.not_running"
    ok(client.get(f"/api/v1/flash-sales/{live['id']}", headers=other_shop.admin), 404)
    buy(shop, live["items"][0]["id"], other_shop.customer, status=404)


def test_coupons_apply_only_where_the_template_allows(shop, client):
    sale = flash_sale(shop)
    (buyer,) = customers(shop, 1)
    plain = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={"name": "¥5", "kind": "cash", "off": 500, "valid_from": iso(timedelta(days=-1)),
                  "valid_until": iso(timedelta(days=9))},
            headers=shop.admin,
        ),
        201,
    )  # fmt: skip
    allowed = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={"name": "¥3 flash", "kind": "cash", "off": 300, "campaigns": True,
                  "valid_from": iso(timedelta(days=-1)), "valid_until": iso(timedelta(days=9))},
            headers=shop.admin,
        ),
        201,
    )  # fmt: skip
    for template in (plain, allowed):
        ok(
            client.post(
                "/api/v1/storefront/coupons", json={"template_id": template["id"]}, headers=headers(buyer)
            ),
            201,
        )
    order = buy(shop, sale["items"][0]["id"], headers(buyer))
    assert order["total"] == 3990 - 300
    assert [a["id"] for a in order["pricing"]["coupons"]] and order["pricing"]["coupons"][0][
        "discount"
    ] == 300


def test_a_flash_rush_sells_exactly_the_flash_stock_and_nobody_passes_the_limit(shop, runtime):
    db = runtime.db
    shop.stock(shop.warehouse_id, "BEANS", 1000)
    sale = flash_sale(
        shop, per_customer_limit=2, items=[{"sku_id": shop.skus["BEANS"], "price": 990, "stock": 15}]
    )
    item_id = sale["items"][0]["id"]
    buyers = [c["id"] for c in customers(shop, 8, "rush")]  # 8 × limit 2 = 16 wanted, 15 in stock
    now = runtime.clock()

    def attempt(args):
        customer_id, quantity = args
        try:
            flash.buy(
                db,
                merchant_id=shop.merchant_id,
                customer_id=customer_id,
                scope=f"customer:{customer_id}",
                request=flash.Buy(item_id=item_id, quantity=quantity, location_id=shop.warehouse_id),
                pricer=EnginePricer(),
                gate=None,
                host_app="alipay",
                scene=None,
                now=now,
                idempotency_key=None,
                payload={},
            )
            return "ok"
        except ShopletError as error:
            assert error.code in ("flash.sold_out", "flash.over_limit"), error.code
            return error.code

    work = [(buyers[i // 4], 1) for i in range(32)]  # each buyer tries four times at once
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, work))
    assert "flash.over_limit" in results
    with db.unit_of_work(write=False) as s:
        item = s.get(FlashItem, (shop.merchant_id, item_id))
        units = s.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(Order, (Order.merchant_id == OrderLine.merchant_id) & (Order.id == OrderLine.order_id))
            .where(Order.merchant_id == shop.merchant_id, Order.campaign_ref == item_id)
        )
        per_customer = s.execute(
            select(Order.customer_id, func.sum(OrderLine.quantity))
            .join(OrderLine, (Order.merchant_id == OrderLine.merchant_id) & (Order.id == OrderLine.order_id))
            .where(Order.merchant_id == shop.merchant_id, Order.campaign_ref == item_id)
            .group_by(Order.customer_id)
        ).all()
        quotas = dict(
            s.execute(
                select(CampaignQuota.customer_id, CampaignQuota.taken).where(
                    CampaignQuota.campaign_id == item_id
                )
            ).all()
        )
    assert item.sold == units == 15 == results.count("ok")
    assert item.sold_out_at is not None
    assert all(q <= 2 for _, q in per_customer)
    assert {c: int(q) for c, q in per_customer} == quotas


def test_daily_slots_are_the_shops_local_time():
    tz = ZoneInfo("Asia/Shanghai")
    day = datetime(2026, 12, 7, tzinfo=tz)
    sale = FlashSale(
        starts_at=day,
        ends_at=day + timedelta(days=3),
        daily_slots=[["10:00", "12:00"], ["20:00", "20:30"]],
        status="active",
    )
    assert flash.is_running(sale, day.replace(hour=10), tz)
    assert not flash.is_running(sale, day.replace(hour=12), tz)
    assert flash.is_running(sale, day.replace(hour=20, minute=29), tz)
    assert flash.next_start(sale, day.replace(hour=13), tz) == day.replace(hour=20)
    assert flash.next_start(sale, day.replace(hour=21), tz) == day.replace(day=8, hour=10)
    assert flash.next_start(sale, day.replace(day=9, hour=21), tz) is None  # the window is over by then
