"""Tiers by growth and the points ledger."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.errors import ShopletError
from shoplet.membership import points
from shoplet.membership.models import Member, PointsLot
from tests.coupons.test_coupons import template
from tests.helpers import ok


def member(shop):
    return ok(shop.client.get("/api/v1/storefront/member", headers=shop.customer))


def ledger(shop):
    return ok(shop.client.get("/api/v1/storefront/points", headers=shop.customer))["items"]


def invariant(runtime, merchant_id, customer_id):
    """The balance is exactly what is left in the lots."""
    with runtime.db.unit_of_work(write=False) as s:
        balance = s.get(Member, (merchant_id, customer_id)).points_balance
        lots = s.scalar(
            select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(
                PointsLot.merchant_id == merchant_id, PointsLot.customer_id == customer_id
            )
        )
    assert balance == lots >= 0
    return balance


def test_payment_earns_growth_and_points_and_refund_reverses_them(shop, client, runtime):
    order = shop.paid_order({"LATTE-T": 2})  # ¥64 paid (first order: list price)
    me = member(shop)
    assert me["growth"] == 64 and me["points_balance"] == 64 and me["tier"] == "base"
    line = order["lines"][0]
    ok(
        client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": line["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    me = member(shop)
    assert me["growth"] == 32 and me["points_balance"] == 32
    ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.admin), 201)
    me = member(shop)
    assert me["growth"] == 0 and me["points_balance"] == 0
    assert [e["kind"] for e in ledger(shop)] == ["earn", "reverse_earn", "reverse_earn"]
    invariant(runtime, shop.merchant_id, shop.customer_id)


def test_tiers_follow_growth_with_multiplier_and_a_pack_once(shop, client, runtime):
    pack = template(shop, total_stock=10)
    silver = ok(
        client.post(
            "/api/v1/member-tiers",
            json={
                "code": "silver",
                "name": "Silver",
                "threshold": 100,
                "points_multiplier": 200,
                "coupon_template_ids": [pack["id"]],
            },
            headers=shop.admin,
        ),
        201,
    )
    ok(
        client.post(
            "/api/v1/member-tiers",
            json={"code": "gold", "name": "Gold", "threshold": 5000},
            headers=shop.admin,
        ),
        201,
    )
    dup = client.post(
        "/api/v1/member-tiers", json={"code": "silver", "name": "x", "threshold": 7}, headers=shop.admin
    )
    assert dup.status_code == 409 and dup.json()["code"] == "tier.code_taken"
    shop.stock(shop.store_id, "BEANS", 50)
    first = shop.paid_order({"BEANS": 2})  # ¥177.98 → 177 growth: silver
    me = member(shop)
    assert me["tier"] == "silver" and me["next_tier"] == "gold" and me["growth_to_next"] == 5000 - 177
    assert me["points_balance"] == 177  # earned at the base tier's 1×
    sweeps.dispatch_outbox(runtime)
    sweeps.dispatch_outbox(runtime)
    assert [
        c["source"] for c in ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
    ] == ["pack"]
    shop.paid_order({"LATTE-T": 1}, coupon_ids=[])  # ¥29 as a silver member: 2× points
    assert member(shop)["points_balance"] == 177 + 58
    ok(client.post(f"/api/v1/orders/{first['id']}/refunds", json={}, headers=shop.admin), 201)
    assert member(shop)["tier"] == "base"
    shop.paid_order({"BEANS": 2}, coupon_ids=[])
    sweeps.dispatch_outbox(runtime)
    changes = ok(client.get(f"/api/v1/members/{shop.customer_id}/tier-changes", headers=shop.admin))
    assert [(c["from_tier"], c["to_tier"]) for c in changes] == [
        ("base", "silver"),
        ("silver", "base"),
        ("base", "silver"),
    ]
    coupons = ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
    assert [c["source"] for c in coupons].count("pack") == 1  # reaching silver again pays no second pack
    assert silver["points_multiplier"] == 200
    invariant(runtime, shop.merchant_id, shop.customer_id)


def test_points_pay_part_of_an_order_and_come_back_on_cancel(shop, client, runtime):
    shop.stock(shop.store_id, "BEANS", 50)
    shop.paid_order({"BEANS": 1})  # 88 points
    ok(
        client.put(
            "/api/v1/loyalty-settings",
            json={"value_per_point": 10, "max_share_percent": 50},
            headers=shop.admin,
        )
    )
    body = {
        "location_id": shop.store_id,
        "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": 1}],
        "use_points": True,
    }
    quote = ok(client.post("/api/v1/storefront/quote", json=body, headers=shop.customer))
    assert quote["points_used"] == 88 and quote["total"] == 2900 - 880
    order = ok(client.post("/api/v1/storefront/orders", json=body, headers=shop.customer), 201)
    assert order["total"] == 2020 and member(shop)["points_balance"] == 0
    ok(client.post(f"/api/v1/storefront/orders/{order['id']}/cancel", headers=shop.customer))
    assert member(shop)["points_balance"] == 88
    order = ok(client.post("/api/v1/storefront/orders", json=body, headers=shop.customer), 201)
    shop.pay(order["id"])
    assert member(shop)["points_balance"] == 20  # 88 spent, 20 earned on ¥20.20 paid
    ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.admin), 201)
    assert member(shop)["points_balance"] == 88  # the spent points come back, the earned ones go
    invariant(runtime, shop.merchant_id, shop.customer_id)


def test_points_expire_at_the_end_of_the_next_year_fifo(shop, client, runtime, clock):
    shop.paid_order({"LATTE-T": 1})  # 32 points, this year
    with runtime.db.unit_of_work(write=False) as s:
        lot = s.scalar(select(PointsLot).where(PointsLot.merchant_id == shop.merchant_id))
    shanghai = ZoneInfo("Asia/Shanghai")  # the merchant's time zone
    assert lot.expires_at == datetime(lot.earned_at.astimezone(shanghai).year + 2, 1, 1, tzinfo=shanghai)
    with runtime.db.unit_of_work() as s:  # a later lot, expiring a year later
        points.credit(
            s,
            merchant_id=shop.merchant_id,
            customer_id=shop.customer_id,
            points=10,
            kind="adjust",
            now=runtime.clock(),
            expires_at=lot.expires_at.replace(year=lot.expires_at.year + 1),
        )
        points.debit(
            s,
            merchant_id=shop.merchant_id,
            customer_id=shop.customer_id,
            points=5,
            kind="adjust",
            now=runtime.clock(),
        )  # FIFO: from the lot expiring first
    with runtime.db.unit_of_work() as s:
        points.expire(s, now=lot.expires_at - timedelta(seconds=1))  # not yet
    assert invariant(runtime, shop.merchant_id, shop.customer_id) == 37
    with runtime.db.unit_of_work() as s:
        points.expire(s, now=lot.expires_at)
    assert invariant(runtime, shop.merchant_id, shop.customer_id) == 10
    last = ledger(shop)[-1]
    assert (last["kind"], last["delta"], last["balance_after"]) == ("expire", -27, 10)


def test_concurrent_spends_never_take_the_balance_below_zero(shop, runtime):
    shop.paid_order({"LATTE-T": 1})
    with runtime.db.unit_of_work() as s:
        points.credit(
            s,
            merchant_id=shop.merchant_id,
            customer_id=shop.customer_id,
            points=68,
            kind="adjust",
            now=runtime.clock(),
        )  # 100 in two lots

    def spend(_):
        try:
            with runtime.db.unit_of_work() as s:
                points.debit(
                    s,
                    merchant_id=shop.merchant_id,
                    customer_id=shop.customer_id,
                    points=30,
                    kind="spend",
                    now=runtime.clock(),
                )
            return "ok"
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(spend, range(8)))
    assert results.count("ok") == 3 and set(results) == {"ok", "points.insufficient"}
    assert invariant(runtime, shop.merchant_id, shop.customer_id) == 10


def test_points_mall_exchange_is_both_or_neither(shop, client, runtime):
    shop.stock(shop.store_id, "BEANS", 50)
    shop.paid_order({"BEANS": 1})  # 88 points
    t = template(shop, total_stock=1)
    item = ok(
        client.post(
            "/api/v1/points-mall/items", json={"template_id": t["id"], "points": 50}, headers=shop.admin
        ),
        201,
    )
    assert [i["id"] for i in ok(client.get("/api/v1/storefront/points-mall", headers=shop.customer))] == [
        item["id"]
    ]
    coupon = ok(
        client.post(f"/api/v1/storefront/points-mall/{item['id']}/exchange", headers=shop.customer), 201
    )
    assert coupon["source"] == "points" and member(shop)["points_balance"] == 38
    sold_out = client.post(f"/api/v1/storefront/points-mall/{item['id']}/exchange", headers=shop.customer)
    assert sold_out.status_code == 409 and sold_out.json()["code"] == "coupon.sold_out"
    assert member(shop)["points_balance"] == 38
    rich = template(shop, total_stock=5)
    dear = ok(
        client.post(
            "/api/v1/points-mall/items", json={"template_id": rich["id"], "points": 500}, headers=shop.admin
        ),
        201,
    )
    poor = client.post(f"/api/v1/storefront/points-mall/{dear['id']}/exchange", headers=shop.customer)
    assert poor.status_code == 409 and poor.json()["code"] == "points.insufficient"
    assert ok(client.get(f"/api/v1/coupon-templates/{rich['id']}", headers=shop.admin))["issued_count"] == 0
    too_much = client.post(
        f"/api/v1/members/{shop.customer_id}/points/adjustments",
        json={"delta": -100, "note": "oops"},
        headers=shop.admin,
    )
    assert too_much.status_code == 409 and member(shop)["points_balance"] == 38
    invariant(runtime, shop.merchant_id, shop.customer_id)


def test_packs_name_only_this_merchants_coupons(shop, other_shop, client):
    theirs = template(other_shop)
    tier = client.post(
        "/api/v1/member-tiers",
        json={"code": "vip", "name": "VIP", "threshold": 10, "coupon_template_ids": [theirs["id"]]},
        headers=shop.admin,
    )
    assert tier.status_code == 422 and tier.json()["code"] == "tier.unknown_coupon"
    plan = client.post(
        "/api/v1/light-plans",
        json={"name": "P", "fee": 100, "period_days": 7, "coupon_template_ids": [theirs["id"]]},
        headers=shop.admin,
    )
    assert plan.status_code == 422 and plan.json()["code"] == "light_plan.unknown_coupon"
    assert ok(client.get("/api/v1/member-tiers", headers=shop.admin)) == []
