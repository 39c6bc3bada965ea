"""Stock per SKU per location: adjustments, stock-takes, never below what is reserved."""

from sqlalchemy import select

from shoplet.inventory.models import StockMovement
from tests.helpers import ok


def test_adjustments_and_counts_are_logged(client, shop, runtime):
    level = ok(
        client.post(
            f"/api/v1/stores/{shop.store_id}/stock/{shop.skus['BEANS']}/adjustments",
            json={"delta": 5, "reason": "delivery"},
            headers=shop.admin,
        )
    )
    assert level == {
        "location_id": shop.store_id,
        "sku_id": shop.skus["BEANS"],
        "on_hand": 25,
        "reserved": 0,
        "available": 25,
    }
    shop.stock(shop.store_id, "BEANS", 7)
    with runtime.db.unit_of_work(write=False) as s:
        deltas = [
            m.on_hand_delta
            for m in s.scalars(
                select(StockMovement)
                .where(
                    StockMovement.merchant_id == shop.merchant_id,
                    StockMovement.location_id == shop.store_id,
                    StockMovement.sku_id == shop.skus["BEANS"],
                )
                .order_by(StockMovement.id)
            )
        ]
    assert deltas == [20, 5, -18]


def test_stock_cannot_drop_below_reserved(client, shop):
    shop.order({"BEANS": 5})
    refused = client.post(
        f"/api/v1/stores/{shop.store_id}/stock/{shop.skus['BEANS']}/adjustments",
        json={"delta": -16, "reason": "damaged"},
        headers=shop.admin,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "stock.adjustment_below_reserved"
    assert shop.level(shop.store_id, "BEANS") == {
        **shop.level(shop.store_id, "BEANS"),
        "on_hand": 20,
        "reserved": 5,
    }
    negative = client.put(
        f"/api/v1/stores/{shop.store_id}/stock/{shop.skus['BEANS']}", json={"on_hand": -1}, headers=shop.admin
    )
    assert negative.status_code == 422


def test_clerk_adjusts_only_their_own_store(client, shop):
    ok(
        client.post(
            f"/api/v1/stores/{shop.store_id}/stock/{shop.skus['BEANS']}/adjustments",
            json={"delta": 1, "reason": "found one"},
            headers=shop.clerk,
        )
    )
    other = client.post(
        f"/api/v1/stores/{shop.store2_id}/stock/{shop.skus['BEANS']}/adjustments",
        json={"delta": 1, "reason": "x"},
        headers=shop.clerk,
    )
    assert other.status_code == 404


def test_unknown_sku_or_store(client, shop):
    assert (
        client.put(
            f"/api/v1/stores/{shop.store_id}/stock/sku_nope", json={"on_hand": 1}, headers=shop.admin
        ).status_code
        == 404
    )
    assert (
        client.put(
            f"/api/v1/stores/loc_nope/stock/{shop.skus['BEANS']}", json={"on_hand": 1}, headers=shop.admin
        ).status_code
        == 404
    )
    duplicate = client.post("/api/v1/stores", json={"code": "S1", "name": "dup"}, headers=shop.admin)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "store.code_taken"
