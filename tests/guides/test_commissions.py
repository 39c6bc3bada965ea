"""Guide attribution and commissions, revisit reminders, and the per-store and per-guide
reports: a bound customer's order is the guide's, its commission is created at payment,
frozen until the after-sale window closes, reversed on refund, then settled."""

from shoplet import sweeps
from tests.guides.test_guides import make_guide
from tests.helpers import ok


def _rule(shop, scope, target_id, rate_bp):
    return ok(
        shop.client.put(
            "/api/v1/commission-rules",
            json={"scope": scope, "target_id": target_id, "rate_bp": rate_bp},
            headers=shop.admin,
        )
    )


def test_commission_from_payment_to_settlement_with_a_refund(shop, client, runtime, clock):
    amy, amy_key = make_guide(shop, "Amy")
    ok(client.put("/api/v1/guide-policy", json={"after_sale_days": 7}, headers=shop.admin))
    _rule(shop, "merchant", None, 300)
    _rule(shop, "store", shop.store_id, 500)
    unbound = shop.paid_order({"LATTE-T": 1})  # before binding: nobody's
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    _rule(shop, "guide", amy, 1000)  # the most specific rule wins
    order = shop.paid_order({"BEANS": 2}, location=shop.store2_id)  # any store, or the warehouse: still Amy's
    assert order["guide_id"] == amy and unbound["guide_id"] is None
    by_guide = ok(client.get("/api/v1/orders", params={"guide_id": amy}, headers=shop.admin))["items"]
    assert [o["id"] for o in by_guide] == [order["id"]]
    [mine] = ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"]
    goods = 2 * shop.prices["BEANS"]
    assert (
        mine["order_id"],
        mine["base"],
        mine["rate_bp"],
        mine["amount"],
        mine["status"],
        mine["frozen_until"],
    ) == (order["id"], goods, 1000, goods // 10, "frozen", None)
    # Half the goods come back: half the commission is reversed.
    ok(
        client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    clerk2 = shop.client.post(
        "/api/v1/staff", json={"name": "C2", "role": "clerk", "store_id": shop.store2_id}, headers=shop.admin
    ).json()
    key2 = {
        "Authorization": "Bearer "
        + ok(
            client.post(f"/api/v1/staff/{clerk2['id']}/api-keys", json={"name": "till"}, headers=shop.admin),
            201,
        )["token"]
    }
    shop.pick_up(order["id"], clerk=key2)
    [mine] = ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"]
    assert (mine["reversed_amount"], mine["net"], mine["refunded"]) == (
        goods // 20,
        goods // 10 - goods // 20,
        goods // 2,
    )
    assert mine["frozen_until"] is not None
    clock.advance(days=6)
    sweeps.fulfilment_lifecycle(runtime)
    assert ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"][0]["status"] == "frozen"
    clock.advance(days=2)
    sweeps.fulfilment_lifecycle(runtime)
    [mine] = ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"]
    assert mine["status"] == "settled" and mine["settled_at"]
    sales = ok(client.get("/api/v1/workbench/sales", headers=amy_key))
    assert sales == {
        "guide_id": amy,
        "orders": 1,
        "sales": goods,
        "refunded": goods // 2,
        "commission_frozen": 0,
        "commission_settled": mine["net"],
        "commission_reversed": goods // 20,
    }
    stores = {r["store_id"]: r for r in ok(client.get("/api/v1/reports/stores", headers=shop.admin))}
    s1, s2 = stores[shop.store_id], stores[shop.store2_id]
    assert (s2["orders"], s2["revenue"], s2["refunds"], s2["commission"]) == (
        1,
        goods,
        shop.prices["BEANS"],
        0,
    )
    # Commission counts for Amy's own store (she works at store 1), not for the store that sold.
    assert (s1["orders"], s1["revenue"], s1["commission"], s1["commission_settled"]) == (
        1,
        unbound["total"],
        mine["net"],
        mine["net"],
    )
    [guide_row] = ok(client.get("/api/v1/reports/guides", headers=shop.admin))
    assert (guide_row["guide_id"], guide_row["name"], guide_row["revenue"], guide_row["commission"]) == (
        amy,
        "Amy",
        goods,
        mine["net"],
    )


def test_a_full_refund_reverses_all_of_it(shop, client):
    amy, amy_key = make_guide(shop, "Amy")
    _rule(shop, "guide", amy, 333)
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    order = shop.paid_order({"LATTE-T": 3})
    ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.admin), 201)
    [mine] = ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"]
    assert mine["status"] == "reversed" and mine["net"] == 0 and mine["reversed_amount"] == mine["amount"] > 0


def test_rules_need_a_real_store_or_guide(shop, client):
    for body in (
        {"scope": "guide", "target_id": "stf_nope", "rate_bp": 100},
        {"scope": "store", "target_id": shop.warehouse_id, "rate_bp": 100},
        {"scope": "store", "rate_bp": 100},
    ):
        assert client.put("/api/v1/commission-rules", json=body, headers=shop.admin).status_code == 404
    assert (
        client.put(
            "/api/v1/commission-rules", json={"scope": "merchant", "rate_bp": 10_001}, headers=shop.admin
        ).status_code
        == 422
    )
    _rule(shop, "merchant", None, 200)
    assert ok(client.get("/api/v1/commission-rules", headers=shop.admin)) == [
        {
            "scope": "merchant",
            "target_id": None,
            "rate_bp": 200,
            "updated_at": ok(client.get("/api/v1/commission-rules", headers=shop.admin))[0]["updated_at"],
        }
    ]
    assert client.delete("/api/v1/commission-rules/merchant", headers=shop.admin).status_code == 204
    assert client.delete("/api/v1/commission-rules/merchant", headers=shop.admin).status_code == 404


def test_revisit_reminders_and_visits(shop, client, clock):
    amy, amy_key = make_guide(shop, "Amy")
    ok(client.put("/api/v1/guide-policy", json={"revisit_days": 10}, headers=shop.admin))
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    assert ok(client.get("/api/v1/workbench/reminders", headers=amy_key)) == []
    clock.advance(days=11)
    [due] = ok(client.get("/api/v1/workbench/reminders", headers=amy_key))
    assert (
        due["customer_id"] == shop.customer_id and due["days_unseen"] == 11 and due["last_order_at"] is None
    )
    ok(
        client.post(
            f"/api/v1/workbench/customers/{shop.customer_id}/visits", json={"note": "called"}, headers=amy_key
        ),
        201,
    )
    assert ok(client.get("/api/v1/workbench/reminders", headers=amy_key)) == []
    clock.advance(days=11)
    shop.paid_order({"LATTE-T": 1})  # buying is being seen too
    assert ok(client.get("/api/v1/workbench/reminders", headers=amy_key)) == []
    bob, bob_key = make_guide(shop, "Bob")  # not Bob's customer
    assert (
        client.post(
            f"/api/v1/workbench/customers/{shop.customer_id}/visits", json={}, headers=bob_key
        ).status_code
        == 404
    )


def test_the_light_store_loop_over_http(shop, client):
    """Done-when of issue 6: find a nearby store, check out for pickup with the missing line
    routed to the warehouse, the clerk verifies the pickup, the warehouse ships, the guide
    sees the order and its commission, and a refund reverses it."""
    amy, amy_key = make_guide(shop, "Amy")
    _rule(shop, "merchant", None, 500)
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    shop.stock(shop.store_id, "BEANS", 0)
    near = ok(
        client.get(
            "/api/v1/storefront/stores/nearby",
            params={"lat": 31.2, "lng": 121.4, "skus": f"{shop.skus['LATTE-T']}:1,{shop.skus['BEANS']}:1"},
            headers=shop.customer,
        )
    )
    chosen = next(s for s in near if s["id"] == shop.store_id)
    assert chosen["missing"] == [shop.skus["BEANS"]]
    order = ok(
        client.post(
            "/api/v1/storefront/orders",
            json={
                "location_id": chosen["id"],
                "lines": [
                    {"sku_id": shop.skus["LATTE-T"], "quantity": 1},
                    {"sku_id": shop.skus["BEANS"], "quantity": 1},
                ],
                "fulfilment": {"routing": "split"},
            },
            headers=shop.customer,
        ),
        201,
    )
    shop.pay(order["id"])
    assert shop.pick_up(order["id"])["status"] == "paid"
    assert (
        ok(client.post(f"/api/v1/orders/{order['id']}/fulfil", headers=shop.admin))["status"] == "fulfilled"
    )
    [mine] = ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"]
    assert mine["order_id"] == order["id"] and mine["amount"] == order["total"] * 500 // 10_000
    ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json={"restock": True}, headers=shop.admin), 201)
    [mine] = ok(client.get("/api/v1/workbench/commissions", headers=amy_key))["items"]
    assert mine["status"] == "reversed" and mine["net"] == 0
    assert shop.level(shop.warehouse_id, "BEANS")["on_hand"] == 100  # the shipped beans came back


def test_a_split_order_counts_for_each_location_that_handed_over(shop, client):
    """Per-store revenue: the store earns the lines it handed over, the warehouse the lines it
    shipped and the delivery fee; refunds count where their lines were."""
    ok(
        client.patch(
            f"/api/v1/stores/{shop.warehouse_id}",
            json={"fulfilment": {"express_fee": 800}},
            headers=shop.admin,
        )
    )
    shop.stock(shop.store_id, "BEANS", 0)

    def checkout(routing):
        order = ok(
            client.post(
                "/api/v1/storefront/orders",
                json={
                    "location_id": shop.store_id,
                    "fulfilment": {"routing": routing},
                    "lines": [
                        {"sku_id": shop.skus["LATTE-T"], "quantity": 1},
                        {"sku_id": shop.skus["BEANS"], "quantity": 1},
                    ],
                },
                headers=shop.customer,
            ),
            201,
        )
        shop.pay(order["id"])
        return order

    split = checkout("split")
    assert sorted((f["mode"], f["fee"], f["delivery_paid"]) for f in split["fulfilments"]) == [
        ("express", 800, 800),
        ("pickup", 0, 0),
    ]
    beans = next(line for line in split["lines"] if line["sku_id"] == shop.skus["BEANS"])
    latte = next(line for line in split["lines"] if line["sku_id"] == shop.skus["LATTE-T"])
    ok(
        client.post(
            f"/api/v1/orders/{split['id']}/refunds",
            json={"lines": [{"line_id": beans["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    whole = checkout("warehouse")  # then refunded in full before it ships: the delivery fee comes back too
    ok(client.post(f"/api/v1/orders/{whole['id']}/refunds", json={}, headers=shop.admin), 201)
    stores = {r["store_id"]: r for r in ok(client.get("/api/v1/reports/stores", headers=shop.admin))}
    store, warehouse = stores[shop.store_id], stores[shop.warehouse_id]
    assert (store["orders"], store["revenue"], store["refunds"]) == (1, latte["total"], 0)
    assert (warehouse["orders"], warehouse["revenue"], warehouse["refunds"]) == (
        2,
        beans["total"] + 800 + whole["total"],
        beans["total"] + whole["total"],
    )
    assert store["revenue"] + warehouse["revenue"] == split["total"] + whole["total"]
    assert stores[shop.store2_id]["orders"] == 0
