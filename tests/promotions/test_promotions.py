"""Promotions as merchant data, and checkout priced by the engine with them."""

from tests.helpers import ok

LATTE, GRANDE, BEANS = 3200, 3650, 8899


def create(shop, **body):
    return ok(shop.client.post("/api/v1/promotions", json={"name": "promo", **body}, headers=shop.admin), 201)


def test_checkout_applies_the_best_running_promotions_and_keeps_allocations(shop, client):
    create(
        shop, name="Latte day", kind="item_percent", percent_off=10, scope={"skus": [shop.skus["LATTE-T"]]}
    )
    create(
        shop,
        name="¥20 off ¥100",
        kind="threshold_off",
        tiers=[{"threshold": 10000, "off": 2000}],
        group="order",
    )
    create(shop, name="5% off", kind="threshold_percent", threshold=0, percent_off=5, group="order")
    quote = ok(
        client.post(
            "/api/v1/storefront/quote",
            json={
                "location_id": shop.store_id,
                "lines": [
                    {"sku_id": shop.skus["LATTE-T"], "quantity": 2},
                    {"sku_id": shop.skus["BEANS"], "quantity": 1},
                ],
            },
            headers=shop.customer,
        )
    )
    # Latte 2 × (3200 − 320) = 5760; + 8899 = 14659 ≥ 10000 → ¥20 off beats 5% (733) in the same group.
    assert quote["subtotal"] == 2 * LATTE + BEANS and quote["total"] == 14659 - 2000
    assert [(a["name"], a["amount"]) for a in quote["applied"]] == [
        ("Latte day", 640),
        ("¥20 off ¥100", 2000),
    ]
    order = shop.order({"LATTE-T": 2, "BEANS": 1})
    assert order["total"] == quote["total"] and order["discount"] == 2640
    assert [line["total"] for line in order["lines"]] == [5760 - 786, BEANS - 1214]  # 2000 split 5760 : 8899
    assert {p["name"] for p in order["pricing"]["promotions"]} == {"Latte day", "¥20 off ¥100"}


def test_editing_or_stopping_a_promotion_never_changes_placed_orders(shop, client):
    promo = create(shop, kind="item_price", price=2000, scope={"skus": [shop.skus["LATTE-T"]]})
    order = shop.paid_order({"LATTE-T": 2})
    assert order["total"] == 4000
    edited = ok(client.patch(f"/api/v1/promotions/{promo['id']}", json={"price": 2500}, headers=shop.admin))
    assert edited["version"] == 2 and edited["params"] == {"price": 2500}
    assert shop.order({"LATTE-T": 1})["total"] == 2500
    ok(client.post(f"/api/v1/promotions/{promo['id']}/stop", headers=shop.admin))
    assert shop.order({"LATTE-T": 1})["total"] == 2900  # now a member: the member price
    kept = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert kept["total"] == 4000 and kept["pricing"]["promotions"][0]["version"] == 1
    # A partial refund returns exactly the allocated amount of the unit.
    refund = ok(
        client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": kept["lines"][0]["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    assert refund["amount"] == 2000
    again = client.patch(f"/api/v1/promotions/{promo['id']}", json={"price": 1}, headers=shop.admin)
    assert again.status_code == 409 and again.json()["code"] == "promotion.stopped"


def test_pause_resume_and_schedule(shop, client, clock):
    promo = create(shop, kind="item_percent", percent_off=50, paused=True)
    assert promo["state"] == "paused" and shop.order({"BEANS": 1})["total"] == BEANS
    ok(client.post(f"/api/v1/promotions/{promo['id']}/resume", headers=shop.admin))
    assert shop.order({"BEANS": 1})["total"] == BEANS - 4450
    later = (clock().replace(microsecond=0)).isoformat()
    scheduled = ok(
        client.patch(
            f"/api/v1/promotions/{promo['id']}",
            json={"starts_at": later.replace("+00:00", "Z")},
            headers=shop.admin,
        )
    )
    clock.advance(seconds=-60)
    assert ok(client.get(f"/api/v1/promotions/{promo['id']}", headers=shop.admin))["state"] == "scheduled"
    assert shop.order({"BEANS": 1})["total"] == BEANS
    clock.advance(seconds=120)
    assert shop.order({"BEANS": 1})["total"] == BEANS - 4450
    assert scheduled["version"] == 2


def test_channels_and_stores_limit_where_a_promotion_runs(shop, client):
    create(shop, kind="item_percent", percent_off=50, host_apps=["taobao"])
    create(shop, kind="item_percent", percent_off=20, store_ids=[shop.store2_id])
    assert shop.order({"BEANS": 1})["total"] == BEANS  # alipay, store 1: neither runs
    assert shop.order({"BEANS": 1}, location=shop.store2_id)["total"] == BEANS - 1780
    taobao = shop.sign_in("tb-user", host_app="taobao")
    buyer = {"Authorization": f"Bearer {taobao['token']}"}
    assert shop.order({"BEANS": 1}, customer=buyer)["total"] == BEANS - 4450


def test_members_get_member_prices_and_see_what_membership_saves(shop, client):
    first = shop.paid_order({"LATTE-G": 1})  # the first paid order enrols
    assert first["total"] == GRANDE
    quote = ok(
        client.post(
            "/api/v1/storefront/quote",
            json={"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": 3}]},
            headers=shop.customer,
        )
    )
    assert quote["member"] and quote["total"] == 3 * 2900 and quote["member_savings"] == 3 * 300
    assert quote["applied"][0]["id"] == "member_price"


def test_promotion_input_errors_change_nothing(shop, client):
    cases = [
        ({"kind": "bundle", "count": 3}, "promotion.invalid"),
        ({"kind": "item_percent", "percent_off": 120}, "request.invalid"),
        ({"kind": "mystery"}, "request.invalid"),
        (
            {"kind": "item_percent", "percent_off": 5, "scope": {"skus": ["sku_nope"]}},
            "promotion.unknown_sku",
        ),
        ({"kind": "item_percent", "percent_off": 5, "store_ids": ["loc_nope"]}, "promotion.unknown_store"),
        (
            {
                "kind": "item_percent",
                "percent_off": 5,
                "starts_at": "2026-12-02T00:00:00Z",
                "ends_at": "2026-12-01T00:00:00Z",
            },
            "promotion.window",
        ),
        ({"kind": "item_percent", "percent_off": 5, "starts_at": "2026-12-02T00:00:00"}, "request.invalid"),
    ]
    for body, code in cases:
        response = client.post("/api/v1/promotions", json={"name": "x", **body}, headers=shop.admin)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == code
    assert ok(client.get("/api/v1/promotions", headers=shop.admin))["items"] == []
    assert (
        client.post(
            "/api/v1/promotions",
            json={"name": "x", "kind": "item_percent", "percent_off": 5},
            headers=shop.clerk,
        ).status_code
        == 403
    )
