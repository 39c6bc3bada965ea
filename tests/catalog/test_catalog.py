"""Catalogue: products, SKUs with list and member prices, categories, tags."""

from tests.helpers import ok


def test_product_with_skus_round_trips(client, shop):
    product = ok(client.get(f"/api/v1/products/{shop.product_id}", headers=shop.admin))
    assert product["tags"] == ["hot"] and product["category_id"] == shop.category_id
    assert {(s["code"], s["list_price"], s["member_price"]) for s in product["skus"]} == {
        ("LATTE-T", 3200, 2900),
        ("LATTE-G", 3650, None),
    }
    patched = ok(
        client.patch(f"/api/v1/skus/{shop.skus['LATTE-G']}", json={"member_price": 3300}, headers=shop.admin)
    )
    assert patched["member_price"] == 3300
    filtered = ok(
        client.get("/api/v1/products", params={"category_id": shop.category_id}, headers=shop.admin)
    )
    assert [p["id"] for p in filtered["items"]] == [shop.product_id]


def test_catalogue_input_errors(client, shop):
    cases = [
        ({"title": "X", "skus": [{"code": "A", "list_price": -1}]}, 422, "request.invalid"),
        (
            {"title": "X", "skus": [{"code": "A", "list_price": 100, "member_price": 200}]},
            422,
            "sku.member_price_above_list",
        ),
        ({"title": "X", "skus": [{"code": "LATTE-T", "list_price": 100}]}, 409, "sku.code_taken"),
        ({"title": "X", "skus": []}, 422, "request.invalid"),
        ({"title": "", "skus": [{"code": "A", "list_price": 1}]}, 422, "request.invalid"),
        (
            {"title": "X", "category_id": "cat_nope", "skus": [{"code": "A", "list_price": 1}]},
            404,
            "category.not_found",
        ),
        ({"title": "X", "skus": [{"code": "has space", "list_price": 1}]}, 422, "request.invalid"),
    ]
    before = ok(client.get("/api/v1/products", headers=shop.admin))
    for body, status, code in cases:
        response = client.post("/api/v1/products", json=body, headers=shop.admin)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
    assert ok(client.get("/api/v1/products", headers=shop.admin)) == before
    cleared = client.patch(f"/api/v1/products/{shop.product_id}", json={"title": None}, headers=shop.admin)
    assert cleared.status_code == 422 and cleared.json()["code"] == "request.null_field"


def test_archived_products_cannot_be_ordered(client, shop):
    ok(client.patch(f"/api/v1/products/{shop.product_id}", json={"status": "archived"}, headers=shop.admin))
    refused = shop.order({"LATTE-T": 1}, status=422)
    assert refused["code"] == "order.sku_unavailable"
    browse = ok(client.get("/api/v1/storefront/products", headers=shop.customer))
    assert shop.product_id not in [p["id"] for p in browse["items"]]
