"""Regression tests for what a new user and an attacker found (issue 11): every class of
bad input is a 4xx that changes nothing, defaults are safe, operations are recoverable."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.app import create_app
from shoplet.config import Settings
from shoplet.customers.models import Customer
from shoplet.pricing import InvalidCart, price
from shoplet.runtime import Runtime
from tests.helpers import PLATFORM, bearer, ok

HUGE = 2**63


def problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if code:
        assert body["code"] == code, body
    return body


def test_date_filters_take_a_date_or_a_moment_with_an_offset(shop, client):
    a_date = ok(client.get("/api/v1/reports/stores", params={"since": "2026-01-01"}, headers=shop.admin))
    assert {row["store_id"] for row in a_date} >= {shop.store_id}
    ok(
        client.get(
            "/api/v1/reports/guides",
            params={"since": "2026-01-01T00:00:00+08:00", "until": "2030-01-01"},
            headers=shop.admin,
        )
    )
    for bad in ("2026-01-01T00:00:00", "yesterday", "2026-13-01", "0001-01-01T00:00:00+14:00", "9999-12-31"):
        for path in ("/api/v1/reports/stores", "/api/v1/reports/guides"):
            problem(client.get(path, params={"until": bad}, headers=shop.admin), 422, "request.bad_time")


def test_a_date_means_midnight_in_the_shops_time_zone(shop, client):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    shop.paid_order({"LATTE-T": 1})
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the shop's own day, not UTC's
    tomorrow = today + timedelta(days=1)

    def orders(since: str, until: str) -> int:
        rows = ok(
            client.get("/api/v1/reports/stores", params={"since": since, "until": until}, headers=shop.admin)
        )
        return sum(r["orders"] for r in rows)

    assert orders(today.isoformat(), tomorrow.isoformat()) == 1
    assert orders(f"{today}T00:00:00+08:00", f"{tomorrow}T00:00:00+08:00") == 1
    assert orders(tomorrow.isoformat(), (tomorrow + timedelta(days=1)).isoformat()) == 0


def test_times_outside_2000_to_2100_are_refused_in_every_window(shop, client):
    for moment in ("0001-01-01T00:00:00+14:00", "2101-01-01T00:00:00+00:00", "1999-12-31T23:59:59+00:00"):
        problem(
            client.post(
                "/api/v1/promotions",
                json={"name": "x", "kind": "item_percent", "percent_off": 10, "starts_at": moment},
                headers=shop.admin,
            ),
            422,
        )
        problem(
            client.post(
                "/api/v1/coupon-templates",
                json={"name": "x", "kind": "cash", "off": 100, "valid_from": moment},
                headers=shop.admin,
            ),
            422,
        )
        problem(
            client.post(
                "/api/v1/coupon-templates",
                json={
                    "name": "x",
                    "kind": "cash",
                    "off": 100,
                    "validity": "relative",
                    "valid_days": 3,
                    "claim_ends_at": moment,
                },
                headers=shop.admin,
            ),
            422,
        )
    with pytest.raises(InvalidCart, match="2000 and 2100"):
        price({"now": "0001-01-01T00:00:00+14:00", "lines": [{"sku": "a", "quantity": 1, "unit_price": 1}]})


def test_every_amount_and_count_has_an_upper_bound(shop, client):
    for field in ("total_stock", "per_customer_limit", "per_day_limit", "budget", "off"):
        body = {"name": "x", "kind": "cash", "off": 100, "validity": "relative", "valid_days": 3, field: HUGE}
        problem(client.post("/api/v1/coupon-templates", json=body, headers=shop.admin), 422)
    problem(
        client.post(
            "/api/v1/promotions", json={"name": "x", "kind": "item_price", "price": HUGE}, headers=shop.admin
        ),
        422,
    )
    problem(
        client.post(
            "/api/v1/promotions",
            json={"name": "x", "kind": "threshold_off", "tiers": [{"threshold": 1, "off": HUGE}]},
            headers=shop.admin,
        ),
        422,
    )
    # The largest documented value is accepted, and stored the same on every database.
    big = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={
                "name": "big",
                "kind": "cash",
                "off": 2_000_000_000,
                "validity": "relative",
                "valid_days": 3,
                "total_stock": 1_000_000_000,
                "budget": 2_000_000_000,
            },
            headers=shop.admin,
        ),
        201,
    )
    assert big["params"]["off"] == 2_000_000_000 and big["total_stock"] == 1_000_000_000
    # An order worth more than any amount column holds is refused whole, on every database.
    ok(
        client.patch(
            f"/api/v1/skus/{shop.skus['BEANS']}", json={"list_price": 100_000_000}, headers=shop.admin
        )
    )
    problem(
        client.post(
            "/api/v1/storefront/orders",
            json={
                "location_id": shop.warehouse_id,
                "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 21}],
            },
            headers=shop.customer,
        ),
        422,
        "order.too_large",
    )
    assert shop.level(shop.warehouse_id, "BEANS")["reserved"] == 0
    with pytest.raises(InvalidCart, match="at most"):
        price(
            {
                "now": "2026-11-21T10:00:00+08:00",
                "lines": [{"sku": "a", "quantity": 1, "unit_price": 100}],
                "coupons": [{"id": "c", "kind": "cash", "off": HUGE}],
            }
        )
    with pytest.raises(InvalidCart, match="at most"):
        price(
            {"now": "2026-11-21T10:00:00+08:00", "lines": [{"sku": "a", "quantity": HUGE, "unit_price": 100}]}
        )


def test_members_and_followers_page_through_and_garbage_cursors_are_refused(shop, client):
    second = bearer(shop.sign_in("second-member")["token"])
    shop.paid_order({"LATTE-T": 1})
    shop.paid_order({"LATTE-T": 1}, customer=second)
    for headers in (shop.customer, second):
        ok(client.put("/api/v1/storefront/following", headers=headers))
    for path in ("/api/v1/members", "/api/v1/followers"):
        first = ok(client.get(path, params={"limit": 1}, headers=shop.admin))
        assert len(first["items"]) == 1 and first["next_cursor"]
        rest = ok(client.get(path, params={"limit": 1, "after": first["next_cursor"]}, headers=shop.admin))
        assert len(rest["items"]) == 1 and rest["items"] != first["items"]
        problem(client.get(path, params={"after": "not a cursor!"}, headers=shop.admin), 422)
    problem(
        client.get("/api/v1/orders", params={"after": "'; DROP TABLE orders; --"}, headers=shop.admin), 422
    )


def test_unknown_time_zones_are_refused(client):
    problem(
        client.post(
            "/api/v1/platform/merchants",
            json={"name": "Mars shop", "timezone": "Mars/Olympus"},
            headers=PLATFORM,
        ),
        422,
    )
    problem(
        client.post(
            "/api/v1/platform/merchants",
            json={"name": "Path shop", "timezone": "../../etc/passwd"},
            headers=PLATFORM,
        ),
        422,
    )
    made = ok(
        client.post(
            "/api/v1/platform/merchants",
            json={"name": "Paris shop", "timezone": "Europe/Paris"},
            headers=PLATFORM,
        ),
        201,
    )
    assert made["merchant"]["timezone"] == "Europe/Paris"


@pytest.mark.parametrize("bad", ["\u0000", "a\u0000b", "\u0007bell", "\u001b[31m"])
def test_control_characters_are_refused_everywhere_and_nothing_is_stored(shop, client, runtime, bad):
    with runtime.db.unit_of_work(write=False) as s:
        customers_before = s.scalar(select(func.count()).select_from(Customer))
    problem(
        client.post("/api/v1/customers", json={"name": f"Mei{bad}"}, headers=shop.admin),
        422,
        "request.control_character",
    )
    tagged = problem(
        client.post("/api/v1/customers", json={"name": "Mei", "tags": [f"vip{bad}"]}, headers=shop.admin), 422
    )
    assert "'tags'" in tagged["detail"], tagged  # the answer names the field
    nested = problem(
        client.post(
            "/api/v1/products",
            json={"title": "x", "skus": [{"code": "X1", "list_price": 1, "attributes": {"k": bad}}]},
            headers=shop.admin,
        ),
        422,
    )
    assert "'skus.attributes.k'" in nested["detail"], nested
    problem(
        client.post(
            "/api/v1/storefront/sessions",
            json={"merchant_id": shop.merchant_id, "host_app": "alipay", "auth_code": f"sandbox:u{bad}"},
        ),
        422,
    )
    problem(
        client.post(
            "/api/v1/storefront/sessions",
            json={"merchant_id": f"mer{bad}", "host_app": "alipay", "auth_code": "sandbox:u"},
        ),
        422,
    )
    encoded = bad.encode().hex()
    escaped = "".join(f"%{encoded[i : i + 2]}" for i in range(0, len(encoded), 2))
    problem(
        client.get(f"/api/v1/customers/cus{escaped}", headers=shop.admin), 422, "request.control_character"
    )
    problem(
        client.get(f"/api/v1/orders?after=ord{escaped}", headers=shop.admin), 422, "request.control_character"
    )
    with runtime.db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == customers_before
    # Tabs and line breaks are text, not control characters.
    ok(client.post("/api/v1/customers", json={"name": "Mei\tLin"}, headers=shop.admin), 201)


def test_numbers_and_flags_are_not_coerced(shop, client):
    line = {"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": 1}]}
    for quantity in ("2", True, False, 1.5):
        body = {**line, "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": quantity}]}
        problem(client.post("/api/v1/storefront/quote", json=body, headers=shop.customer), 422)
    problem(
        client.post("/api/v1/storefront/quote", json={**line, "use_points": "yes"}, headers=shop.customer),
        422,
    )
    problem(
        client.post("/api/v1/storefront/quote", json={**line, "use_points": 1}, headers=shop.customer), 422
    )
    problem(
        client.patch(f"/api/v1/skus/{shop.skus['BEANS']}", json={"list_price": "100"}, headers=shop.admin),
        422,
    )
    ok(client.post("/api/v1/storefront/quote", json=line, headers=shop.customer))


def test_text_has_length_limits_and_bodies_a_size_limit(shop, client):
    products = ok(client.get("/api/v1/products", headers=shop.admin))["items"]
    problem(
        client.patch(
            f"/api/v1/products/{products[0]['id']}", json={"tags": ["x" * 1_000_000]}, headers=shop.admin
        ),
        422,
    )
    problem(
        client.patch(f"/api/v1/products/{products[0]['id']}", json={"tags": ["x" * 33]}, headers=shop.admin),
        422,
    )
    problem(client.post("/api/v1/customers", json={"name": "x" * 201}, headers=shop.admin), 422)
    problem(
        client.post(
            "/api/v1/customers",
            content=b'{"name": "' + b"x" * 2_000_000 + b'"}',
            headers={**shop.admin, "Content-Type": "application/json"},
        ),
        413,
        "request.too_large",
    )
    after = ok(client.get(f"/api/v1/products/{products[0]['id']}", headers=shop.admin))
    assert after["tags"] == products[0]["tags"]


def test_head_works_where_get_does_and_405_says_what_is_allowed(shop, client):
    head = client.head("/api/v1/products", headers=shop.admin)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(
        client.get("/api/v1/products", headers=shop.admin).content
    )
    wrong = client.put("/api/v1/products", headers=shop.admin)
    problem(wrong, 405)
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unexpected_error_is_a_problem_with_an_id_and_the_connection_stays_open(runtime, caplog):
    app = create_app(runtime)

    @app.get("/api/v1/boom", include_in_schema=False)
    def boom() -> dict:
        raise RuntimeError("a bug")

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            failed = http.get("/api/v1/boom")
            body = problem(failed, 500, "internal")
            assert body["error_id"].startswith("err_") and body["error_id"] in body["detail"]
            assert failed.headers.get("connection") != "close"
            assert http.get("/api/v1/health").status_code == 200  # the same keep-alive connection
        assert any(body["error_id"] in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_sandbox_is_off_unless_asked_for(database, tmp_path):
    plain = Runtime(Settings(database_url=database.url, jobs_path=str(tmp_path / "jobs.db")))
    assert plain.sandbox is None and plain.hosts == {} and "sandbox" not in plain.providers
    from fastapi.testclient import TestClient

    client = TestClient(create_app(plain), raise_server_exceptions=False)
    problem(client.post("/api/v1/sandbox/trades/sbx123/pay"), 404)
    problem(client.post("/api/v1/payments/notify/sandbox", content=b"{}"), 404, "payment.provider_unknown")
    assert not [p for p in client.get("/openapi.json").json()["paths"] if "sandbox" in p]


def test_the_sandbox_secret_is_generated_per_installation(database, tmp_path):
    one = Runtime(
        Settings(database_url=database.url, sandbox_payments=True, jobs_path=str(tmp_path / "a.db"))
    )
    two = Runtime(
        Settings(database_url=database.url, sandbox_payments=True, jobs_path=str(tmp_path / "b.db"))
    )
    assert one.sandbox.secret == two.sandbox.secret  # every process of this installation agrees
    assert one.sandbox.secret != "shoplet-sandbox-secret" and len(one.sandbox.secret) >= 32
    other = f"sqlite:///{tmp_path / 'other.db'}"
    from shoplet.migrate import upgrade

    upgrade(other)
    elsewhere = Runtime(Settings(database_url=other, sandbox_payments=True, jobs_path=str(tmp_path / "c.db")))
    assert elsewhere.sandbox.secret != one.sandbox.secret
    configured = Runtime(
        Settings(
            database_url=database.url,
            sandbox_payments=True,
            sandbox_secret="s" * 32,
            jobs_path=str(tmp_path / "d.db"),
        )
    )
    assert configured.sandbox.secret == "s" * 32


def test_the_last_admin_key_and_the_last_admin_cannot_be_removed(shop, client):
    keys = ok(client.get("/api/v1/api-keys", headers=shop.admin))["items"]
    owner = next(k for k in keys if k["staff_id"] is None)
    problem(client.delete(f"/api/v1/api-keys/{owner['id']}", headers=shop.admin), 409, "api_key.last_admin")
    admin = ok(client.post("/api/v1/staff", json={"name": "Boss", "role": "admin"}, headers=shop.admin), 201)
    boss = ok(
        client.post(f"/api/v1/staff/{admin['id']}/api-keys", json={"name": "boss"}, headers=shop.admin), 201
    )
    ok(client.delete(f"/api/v1/api-keys/{owner['id']}", headers=shop.admin))  # the boss's key still works
    boss_key = bearer(boss["token"])
    problem(client.post(f"/api/v1/staff/{admin['id']}/deactivate", headers=boss_key), 409, "staff.last_admin")
    problem(
        client.delete(f"/api/v1/api-keys/{boss['key']['id']}", headers=boss_key), 409, "api_key.last_admin"
    )
    spare = ok(client.post("/api/v1/api-keys", json={"name": "spare"}, headers=boss_key), 201)
    ok(client.post(f"/api/v1/staff/{admin['id']}/deactivate", headers=boss_key))
    assert ok(client.get("/api/v1/merchant", headers=bearer(spare["token"])))["id"] == shop.merchant_id


def test_two_revocations_at_once_leave_a_working_admin_key(shop, client):
    second = ok(client.post("/api/v1/api-keys", json={"name": "second"}, headers=shop.admin), 201)
    owner = next(
        k
        for k in ok(client.get("/api/v1/api-keys", headers=shop.admin))["items"]
        if k["id"] != second["key"]["id"]
    )
    barrier, results = threading.Barrier(2), []

    def revoke(key_id: str, token: dict) -> None:
        barrier.wait()
        results.append(client.delete(f"/api/v1/api-keys/{key_id}", headers=token).status_code)

    threads = [
        threading.Thread(target=revoke, args=(owner["id"], bearer(second["token"]))),
        threading.Thread(target=revoke, args=(second["key"]["id"], shop.admin)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) in ([200, 401], [200, 409])  # the second waits, then finds itself revoked or last
    with shop.runtime.db.unit_of_work(write=False) as s:
        from shoplet.tenancy.models import ApiKey

        working = s.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(
                ApiKey.merchant_id == shop.merchant_id, ApiKey.staff_id.is_(None), ApiKey.revoked_at.is_(None)
            )
        )
    assert working == 1


def test_fully_refunded_orders_read_refunded_and_lists_filter_by_it(shop, client):
    order = shop.paid_order({"LATTE-T": 2})
    ok(
        client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    assert ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["status"] == "paid"
    ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.admin), 201)
    assert ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["status"] == "refunded"
    listed = ok(client.get("/api/v1/orders", params={"status": "refunded"}, headers=shop.admin))["items"]
    assert [o["id"] for o in listed] == [order["id"]]
    again = client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.admin)
    problem(again, 409, "refund.already_refunded")


def test_storefront_product_detail_categories_and_the_admin_coupon_list(shop, client):
    categories = ok(client.get("/api/v1/storefront/categories", headers=shop.customer))
    assert [c["id"] for c in categories] == [shop.category_id]
    latte = ok(client.get(f"/api/v1/storefront/products/{shop.product_id}", headers=shop.customer))
    assert {s["code"] for s in latte["skus"]} == {"LATTE-T", "LATTE-G"}
    only = ok(
        client.get(
            "/api/v1/storefront/products", params={"category_id": shop.category_id}, headers=shop.customer
        )
    )["items"]
    assert [p["id"] for p in only] == [shop.product_id]
    ok(client.patch(f"/api/v1/products/{shop.product_id}", json={"status": "archived"}, headers=shop.admin))
    problem(client.get(f"/api/v1/storefront/products/{shop.product_id}", headers=shop.customer), 404)
    template = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={"name": "¥5", "kind": "cash", "off": 500, "validity": "relative", "valid_days": 7},
            headers=shop.admin,
        ),
        201,
    )
    coupon = ok(
        client.post(
            "/api/v1/storefront/coupons", json={"template_id": template["id"]}, headers=shop.customer
        ),
        201,
    )
    for params in (
        {},
        {"template_id": template["id"]},
        {"customer_id": shop.customer_id},
        {"status": "available"},
    ):
        listed = ok(client.get("/api/v1/coupons", params=params, headers=shop.admin))["items"]
        assert [c["id"] for c in listed] == [coupon["id"]], params
    assert ok(client.get("/api/v1/coupons", params={"status": "used"}, headers=shop.admin))["items"] == []
    assert ok(client.get("/api/v1/coupons", headers=shop.clerk))["items"][0]["id"] == coupon["id"]
    problem(client.get("/api/v1/coupons", headers=shop.customer), 403)


def test_an_expired_pickup_order_is_closed_by_the_sweep(shop, runtime, clock):
    order = shop.paid_order({"LATTE-T": 1})
    clock.advance(hours=49)
    sweeps.fulfilment_lifecycle(runtime)
    assert ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["status"] == "closed"


def test_deep_nesting_and_lone_surrogates_are_refused_before_anything_is_stored(shop, client):
    before = ok(client.get("/api/v1/products", headers=shop.admin))["items"]
    json = {**shop.admin, "Content-Type": "application/json"}
    for depth in (5, 900):
        nested = b"[" * depth + b"]" * depth
        problem(
            client.post(
                "/api/v1/products",
                headers=json,
                content=b'{"title": "x", "skus": [{"code": "A", '
                b'"list_price": 1, "attributes": {"a": ' + nested + b"}}]}",
            ),
            422,
        )
    problem(
        client.post(
            "/api/v1/products",
            headers=json,
            content=b'{"title": "x", "skus": [{"code": "A", '
            b'"list_price": 1, "attributes": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}]}",
        ),
        400,
        "request.unreadable_body",
    )
    problem(client.post("/api/v1/customers", headers=json, content=b'{"name": "\\ud800"}'), 422)
    assert ok(client.get("/api/v1/products", headers=shop.admin))["items"] == before
    ok(
        client.post(
            "/api/v1/products",
            json={
                "title": "Mug",
                "skus": [
                    {
                        "code": "MUG",
                        "list_price": 100,
                        "attributes": {"colour": "blue", "sizes": [{"ml": 350}]},
                    }
                ],
            },
            headers=shop.admin,
        ),
        201,
    )


def test_a_chunked_body_over_the_limit_is_a_413(shop, client):
    def chunks():
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    problem(
        client.post(
            "/api/v1/customers", content=chunks(), headers={**shop.admin, "Content-Type": "application/json"}
        ),
        413,
        "request.too_large",
    )


def test_concurrent_first_uses_of_the_installation_secret_agree(database):
    from sqlalchemy import delete

    from shoplet.payments.models import InstallationSecret
    from shoplet.payments.sandbox import installation_secret

    name = f"race-{time.monotonic_ns()}"
    barrier, seen = threading.Barrier(4), []

    def first_use() -> None:
        barrier.wait()
        seen.append(installation_secret(database, name))

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and len(set(seen)) == 1
    with database.unit_of_work() as s:
        rows = select(func.count()).select_from(InstallationSecret).where(InstallationSecret.name == name)
        assert s.scalar(rows) == 1
        s.execute(delete(InstallationSecret).where(InstallationSecret.name == name))
