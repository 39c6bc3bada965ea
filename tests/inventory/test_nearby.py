"""Stores near me: distance, open now in the shop's time zone, stock for the cart."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from shoplet.inventory.hours import DAYS, check_hours, distance_m, open_at
from tests.helpers import ok


def test_distance_is_the_great_circle():
    # People's Square to the Oriental Pearl Tower, Shanghai: about 2.6 km
    assert 2400 < distance_m(31.2304, 121.4737, 31.2397, 121.4998) < 2800
    assert distance_m(31.2, 121.4, 31.2, 121.4) == 0


def test_opening_hours_including_past_midnight():
    hours = check_hours({"fri": ["18:00", "02:00"], "sat": ["10:00", "22:00"]})
    at = lambda d, h, m=0: datetime(2026, 11, d, h, m)  # noqa: E731 - 2026-11-20 is a Friday
    assert open_at(hours, at(20, 19)) is True
    assert open_at(hours, at(21, 1, 30)) is True  # Friday night, after midnight
    assert open_at(hours, at(21, 2, 0)) is False
    assert open_at(hours, at(21, 10)) is True
    assert open_at(hours, at(22, 1)) is False  # Saturday closes at 22:00, not past midnight
    assert open_at({}, at(20, 12)) is None
    assert open_at(check_hours({"mon": ["00:00", "24:00"]}), datetime(2026, 11, 23, 23, 59)) is True
    for bad in (
        {"funday": ["09:00", "10:00"]},
        {"mon": ["9:00", "10:00"]},
        {"mon": ["09:00"]},
        {"mon": ["09:00", "09:00"]},
        {"mon": ["25:00", "26:00"]},
    ):
        with pytest.raises(ValueError):
            check_hours(bad)


def test_stores_near_me_with_open_now_and_stock_for_the_cart(shop, client, runtime):
    today = DAYS[runtime.clock().astimezone(ZoneInfo("Asia/Shanghai")).weekday()]
    other_day = DAYS[(DAYS.index(today) + 3) % 7]
    ok(
        client.patch(
            f"/api/v1/stores/{shop.store_id}",
            json={"latitude": 31.2304, "longitude": 121.4737, "opening_hours": {today: ["00:00", "24:00"]}},
            headers=shop.admin,
        )
    )
    ok(
        client.patch(
            f"/api/v1/stores/{shop.store2_id}",
            json={
                "latitude": 31.2397,
                "longitude": 121.4998,
                "opening_hours": {other_day: ["09:00", "10:00"]},
            },
            headers=shop.admin,
        )
    )
    bad = client.patch(
        f"/api/v1/stores/{shop.store2_id}",
        json={"opening_hours": {"mon": ["9am", "5pm"]}},
        headers=shop.admin,
    )
    assert bad.status_code == 422
    near = {"lat": 31.2300, "lng": 121.4740}
    rows = ok(
        client.get(
            "/api/v1/storefront/stores/nearby",
            params={**near, "skus": f"{shop.skus['LATTE-T']}:15"},
            headers=shop.customer,
        )
    )
    assert [r["id"] for r in rows] == [shop.store_id, shop.store2_id]  # the warehouse is not a store
    first, second = rows
    assert first["distance_m"] < 100 and 2000 < second["distance_m"] < 3000
    assert first["open_now"] is True and second["open_now"] is False
    assert first["has_stock"] is True and second["has_stock"] is False  # S2 holds only 10
    assert second["missing"] == [shop.skus["LATTE-T"]]
    ok(
        client.put(
            f"/api/v1/storefront/cart/items/{shop.skus['BEANS']}", json={"quantity": 5}, headers=shop.customer
        )
    )
    by_cart = ok(client.get("/api/v1/storefront/stores/nearby", params=near, headers=shop.customer))
    assert all(r["has_stock"] for r in by_cart)
    only = ok(
        client.get(
            "/api/v1/storefront/stores/nearby",
            params={**near, "open_only": True, "radius_m": 1000},
            headers=shop.customer,
        )
    )
    assert [r["id"] for r in only] == [shop.store_id]
    wrong = client.get(
        "/api/v1/storefront/stores/nearby", params={**near, "skus": "x:-1"}, headers=shop.customer
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "store.bad_skus"
    assert (
        client.get(
            "/api/v1/storefront/stores/nearby", params={"lat": 91, "lng": 0}, headers=shop.customer
        ).status_code
        == 422
    )


def test_transfers_move_stock_both_sides_or_not_at_all(shop, client):
    body = {
        "from_location_id": shop.warehouse_id,
        "to_location_id": shop.store_id,
        "reason": "restock",
        "lines": [
            {"sku_id": shop.skus["LATTE-T"], "quantity": 30},
            {"sku_id": shop.skus["BEANS"], "quantity": 5},
        ],
    }
    moved = ok(
        client.post("/api/v1/stock-transfers", json=body, headers={**shop.admin, "Idempotency-Key": "t1"}),
        201,
    )
    again = ok(
        client.post("/api/v1/stock-transfers", json=body, headers={**shop.admin, "Idempotency-Key": "t1"}),
        201,
    )
    assert again["id"] == moved["id"]
    assert shop.level(shop.warehouse_id, "LATTE-T")["on_hand"] == 70
    assert shop.level(shop.store_id, "LATTE-T")["on_hand"] == 50
    too_much = {
        **body,
        "lines": [
            {"sku_id": shop.skus["BEANS"], "quantity": 1},
            {"sku_id": shop.skus["LATTE-T"], "quantity": 71},
        ],
    }
    short = client.post("/api/v1/stock-transfers", json=too_much, headers=shop.admin)
    assert short.status_code == 422 and short.json()["code"] == "stock.transfer_short"
    assert shop.level(shop.warehouse_id, "BEANS")["on_hand"] == 95  # the BEANS line did not move either
    same = client.post(
        "/api/v1/stock-transfers", json={**body, "to_location_id": shop.warehouse_id}, headers=shop.admin
    )
    assert same.status_code == 422 and same.json()["code"] == "stock.transfer_same_place"
    not_my_store = client.post("/api/v1/stock-transfers", json=body, headers=shop.clerk)  # the clerk is at S1
    assert not_my_store.status_code == 404
    back = {
        **body,
        "from_location_id": shop.store_id,
        "to_location_id": shop.warehouse_id,
        "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": 1}],
    }
    ok(client.post("/api/v1/stock-transfers", json=back, headers=shop.clerk), 201)
    assert len(ok(client.get("/api/v1/stock-transfers", headers=shop.admin))["items"]) == 2


def test_another_merchant_cannot_move_our_stock(shop, other_shop, client):
    body = {
        "from_location_id": shop.warehouse_id,
        "to_location_id": other_shop.store_id,
        "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
    }
    assert client.post("/api/v1/stock-transfers", json=body, headers=other_shop.admin).status_code == 404
    assert shop.level(shop.warehouse_id, "BEANS")["on_hand"] == 100
