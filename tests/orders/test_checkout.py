"""Checkout: stock reserved atomically, idempotent creation, cancellation and timeout."""

from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.orders.models import Order
from tests.helpers import ok


def _orders_of(runtime, merchant_id):
    with runtime.db.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(Order).where(Order.merchant_id == merchant_id))


def test_short_stock_refuses_the_whole_order_and_changes_nothing(shop, runtime):
    shop.stock(shop.store_id, "BEANS", 1)
    refused = shop.order({"LATTE-T": 2, "BEANS": 2}, status=422)
    assert refused["code"] == "stock.insufficient" and refused["sku_id"] == shop.skus["BEANS"]
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 0
    assert shop.level(shop.store_id, "BEANS")["reserved"] == 0
    assert _orders_of(runtime, shop.merchant_id) == 0


def test_same_idempotency_key_returns_the_same_order(shop, runtime):
    first = shop.order({"LATTE-T": 1}, key="k-1")
    again = shop.order({"LATTE-T": 1}, key="k-1")
    assert again["id"] == first["id"]
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 1
    reused = shop.order({"LATTE-T": 2}, key="k-1", status=409)
    assert reused["code"] == "idempotency.key_reused"
    # Keys are per customer: another customer's identical key is their own.
    other = shop.sign_in("someone-else")
    other_order = shop.order(
        {"LATTE-T": 1}, key="k-1", customer={"Authorization": f"Bearer {other['token']}"}
    )
    assert other_order["id"] != first["id"]


def test_a_retry_is_answered_by_its_replay_even_when_checking_out_again_would_be_refused(shop, runtime):
    """The key's record is read with routing's reads (on PostgreSQL in their round trip): a
    retry of an order that took the last unit gets that order back, not ``stock.insufficient``;
    a new request is refused; a key too long is refused before anything is read."""
    shop.stock(shop.store_id, "LATTE-T", 1)
    first = shop.order({"LATTE-T": 1}, key="the-last-one")
    again = shop.order({"LATTE-T": 1}, key="the-last-one")
    assert again["id"] == first["id"]
    refused = shop.order({"LATTE-T": 1}, key="another-one", status=422)
    assert refused["code"] == "stock.insufficient"
    assert shop.order({"LATTE-T": 1}, key="k" * 129, status=422)["code"] == "idempotency.key_invalid"
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 1
    assert _orders_of(runtime, shop.merchant_id) == 1


def test_input_errors_are_clear_and_change_nothing(shop, other_shop, runtime):
    client = shop.client
    cases = [
        ({"location_id": shop.store_id, "lines": []}, 422, "request.invalid"),
        (
            {"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 0}]},
            422,
            "request.invalid",
        ),
        (
            {"location_id": shop.store_id, "lines": [{"sku_id": "sku_missing", "quantity": 1}]},
            422,
            "order.unknown_sku",
        ),
        (
            {"location_id": shop.store_id, "lines": [{"sku_id": other_shop.skus["BEANS"], "quantity": 1}]},
            422,
            "order.unknown_sku",
        ),
        (
            {"location_id": other_shop.store_id, "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}]},
            422,
            "order.location_unavailable",
        ),
        ({"location_id": shop.store_id}, 422, "order.empty"),  # empty cart
    ]
    for body, status, code in cases:
        response = client.post("/api/v1/storefront/orders", json=body, headers=shop.customer)
        assert response.status_code == status, (body, response.text)
        problem = response.json()
        assert problem["code"] == code and problem["detail"].endswith(".")
        assert response.headers["content-type"].startswith("application/problem+json")
    assert _orders_of(runtime, shop.merchant_id) == 0


def test_cart_checkout_empties_the_cart(shop):
    client = shop.client
    ok(
        client.put(
            f"/api/v1/storefront/cart/items/{shop.skus['LATTE-G']}",
            json={"quantity": 2},
            headers=shop.customer,
        )
    )
    cart = ok(
        client.put(
            f"/api/v1/storefront/cart/items/{shop.skus['BEANS']}", json={"quantity": 1}, headers=shop.customer
        )
    )
    assert {(c["sku_id"], c["quantity"]) for c in cart} == {
        (shop.skus["LATTE-G"], 2),
        (shop.skus["BEANS"], 1),
    }
    order = ok(
        client.post("/api/v1/storefront/orders", json={"location_id": shop.store_id}, headers=shop.customer),
        201,
    )
    assert order["total"] == 2 * 3650 + 8899
    assert ok(client.get("/api/v1/storefront/cart", headers=shop.customer)) == []


def test_customer_cancels_and_stock_returns(shop):
    order = shop.order({"LATTE-T": 4})
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 4
    cancelled = ok(shop.client.post(f"/api/v1/storefront/orders/{order['id']}/cancel", headers=shop.customer))
    assert cancelled["status"] == "cancelled"
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 0
    # Twice is harmless; paying a cancelled order is refused.
    ok(shop.client.post(f"/api/v1/storefront/orders/{order['id']}/cancel", headers=shop.customer))
    refused = shop.client.post(f"/api/v1/storefront/orders/{order['id']}/payments", headers=shop.customer)
    assert refused.status_code == 409 and refused.json()["code"] == "order.not_payable"


def test_paid_orders_cannot_be_cancelled(shop):
    order = shop.paid_order({"LATTE-T": 1})
    refused = shop.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shop.admin)
    assert refused.status_code == 409 and refused.json()["code"] == "order.not_cancellable"


def test_unpaid_orders_time_out_and_release_stock(shop, runtime, clock):
    order = shop.order({"LATTE-T": 3})
    clock.advance(minutes=runtime.settings.unpaid_order_timeout_minutes - 1)
    sweeps.cancel_unpaid_orders(runtime)
    assert (
        ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["status"]
        == "pending_payment"
    )
    clock.advance(minutes=2)
    expired = shop.client.post(f"/api/v1/storefront/orders/{order['id']}/payments", headers=shop.customer)
    assert expired.status_code == 409 and expired.json()["code"] == "order.payment_expired"
    sweeps.cancel_unpaid_orders(runtime)
    after = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert after["status"] == "cancelled" and after["cancel_reason"] == "payment_timeout"
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 0


def test_clerk_sees_and_fulfils_only_their_store(shop):
    here = shop.paid_order({"LATTE-T": 1})
    there = shop.paid_order({"LATTE-T": 1}, location=shop.store2_id)
    listed = ok(shop.client.get("/api/v1/orders", headers=shop.clerk))["items"]
    assert [o["id"] for o in listed] == [here["id"]]
    assert shop.client.get(f"/api/v1/orders/{there['id']}", headers=shop.clerk).status_code == 404
    assert shop.client.post(f"/api/v1/orders/{there['id']}/fulfil", headers=shop.clerk).status_code == 404
    handed = shop.client.post(f"/api/v1/orders/{here['id']}/fulfil", headers=shop.clerk)
    assert handed.status_code == 409 and handed.json()["code"] == "fulfilment.pickup_code_required"
    assert shop.pick_up(here["id"])["status"] == "fulfilled"
    again = shop.client.post(f"/api/v1/orders/{here['id']}/fulfil", headers=shop.clerk)
    assert again.status_code == 409 and again.json()["code"] == "order.not_fulfillable"


def test_order_lists_paginate(shop):
    ids = [shop.order({"LATTE-T": 1})["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = ok(
            shop.client.get(
                "/api/v1/storefront/orders",
                params={"limit": 2, **({"after": cursor} if cursor else {})},
                headers=shop.customer,
            )
        )
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
