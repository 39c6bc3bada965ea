"""``shoplet demo`` on a real port: health, OpenAPI, offline docs, and the whole loop over
loopback HTTP — the notification is delivered by the in-process job consumer."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent / "shoplet"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLET_")}
    env.update(SHOPLET_DATABASE_URL=f"sqlite:///{work / 'demo.db'}", PYTHONUNBUFFERED="1", COLUMNS="300")
    log = open(work / "demo.log", "w+")
    proc = subprocess.Popen(
        [str(BIN), "demo", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # the first demo also simulates a month of customers
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("demo did not answer: " + (work / "demo.log").read_text())
        text = (work / "demo.log").read_text()
        creds = {label: value for label, value in re.findall(r"^\s+([A-Za-z ]+):\s+(\S+)", text, re.M)}
        creds["export line"] = next(line for line in text.splitlines() if line.startswith("export "))
        yield base, creds
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_demo_serves_health_openapi_and_offline_docs(demo):
    base, creds = demo
    assert httpx.get(f"{base}/api/v1/health").json()["status"] == "ok"
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    for word in ("products", "customers", "stores", "orders", "payments", "refunds"):
        assert any(f"/{word}" in p for p in paths), word
    docs = httpx.get(f"{base}/docs").text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", docs)
    assert assets and all(a.startswith("/") for a in assets)
    assert all(httpx.get(base + a).status_code == 200 for a in assets)
    assert {"Admin API key", "Clerk API key", "Customer session", "Merchant id"} <= set(creds)


def test_demo_loop_over_real_http(demo):
    base, creds = demo
    admin = {"Authorization": f"Bearer {creds['Admin API key']}"}
    clerk = {"Authorization": f"Bearer {creds['Clerk API key']}"}
    customer = {"Authorization": f"Bearer {creds['Customer session']}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        products = http.get("/api/v1/storefront/products", params={"limit": 100}, headers=customer).json()[
            "items"
        ]
        assert len(products) >= 20
        latte = next(p for p in products if p["title"] == "Latte")["skus"][0]
        store = http.get("/api/v1/merchant", headers=clerk)
        assert store.status_code == 200
        clerk_store = next(
            s
            for s in http.get("/api/v1/stores", headers=admin).json()["items"]
            if s["code"] == "S-PEOPLES-SQ"
        )
        order = http.post(
            "/api/v1/storefront/orders",
            headers={**customer, "Idempotency-Key": "demo-1"},
            json={"location_id": clerk_store["id"], "lines": [{"sku_id": latte["id"], "quantity": 3}]},
        )
        assert order.status_code == 201, order.text
        order = order.json()
        payment = http.post(f"/api/v1/storefront/orders/{order['id']}/payments", headers=customer).json()
        assert http.post(f"/api/v1/sandbox/trades/{payment['provider_trade_no']}/pay").status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = http.get(f"/api/v1/orders/{order['id']}", headers=clerk).json()
            if current["status"] == "paid":
                break
            time.sleep(0.2)
        assert current["status"] == "paid", "the signed notification was delivered and verified"
        refund = http.post(
            f"/api/v1/orders/{order['id']}/refunds",
            headers={**clerk, "Idempotency-Key": "r-1"},
            json={"lines": [{"line_id": current["lines"][0]["id"], "quantity": 1}]},
        )
        assert refund.status_code == 201, refund.text
        assert refund.json()["amount"] == latte["list_price"] and refund.json()["status"] == "succeeded"
        code = http.get(f"/api/v1/storefront/orders/{order['id']}", headers=customer).json()["fulfilments"][0]
        fulfilled = http.post(
            "/api/v1/pickups/verify", headers=clerk, json={"code": code["pickup_code"]}
        ).json()
        assert fulfilled["status"] == "fulfilled" and fulfilled["refunded_amount"] == latte["list_price"]
        # The demo customer is one of Guide Qian's regulars: she sees them, and the order's commission.
        guide = {"Authorization": f"Bearer {creds['Guide API key']}"}
        mine = _all(http, "/api/v1/workbench/customers", guide)
        assert [g["name"] for c in mine for g in c["groups"]] == ["Morning regulars"]
        commission = [
            c for c in _all(http, "/api/v1/workbench/commissions", guide) if c["order_id"] == order["id"]
        ]
        assert len(commission) == 1 and commission[0]["rate_bp"] == 500


def _all(http, path: str, headers: dict) -> list:
    """Every item of a paginated list (the demo's simulated month makes them long)."""
    items, cursor = [], None
    while True:
        page = http.get(path, params={"limit": 100, **({"after": cursor} if cursor else {})}, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def test_the_demo_shows_every_feature_built(demo):
    base, creds = demo
    admin = {"Authorization": f"Bearer {creds['Admin API key']}"}
    customer = {"Authorization": f"Bearer {creds['Customer session']}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        # A month of simulated history: the figures are never empty.
        figures = http.get("/api/v1/analytics/dashboard", headers=admin).json()
        assert sum(p["customers"] for p in figures["dau"]["points"]) > 300
        assert figures["sales_by_store"]["total"]["orders"] > 50 and figures["new_customers"]["total"] > 300
        assert figures["retention"]["cohorts"][0]["retained"][0] is not None and figures["coupons"]
        kinds = {t["kind"] for t in http.get("/api/v1/coupon-templates", headers=admin).json()["items"]}
        assert kinds == {"cash", "threshold", "percent", "exchange", "free_delivery"}
        assert http.get("/api/v1/storefront/coupon-centre", headers=customer).json()
        claimed = http.post(
            "/api/v1/storefront/coupons/redeem-code", json={"code": creds["Coupon code"]}, headers=customer
        )
        assert claimed.status_code == 201, claimed.text
        tiers = http.get("/api/v1/member-tiers", headers=admin).json()
        assert [t["code"] for t in tiers] == ["silver", "gold"] and tiers[1]["coupon_template_ids"]
        plans = http.get("/api/v1/storefront/light-plans", headers=customer).json()
        joined = http.post(
            "/api/v1/storefront/light-membership", json={"plan_id": plans[0]["id"]}, headers=customer
        )
        assert joined.status_code == 201, joined.text


def test_the_demo_prints_lines_to_paste_into_a_shell(demo):
    base, creds = demo
    exports = dict(re.findall(r"(\w+)=(\S+)", creds["export line"]))
    assert exports["ADMIN"] == creds["Admin API key"] and exports["CUSTOMER"] == creds["Customer session"]
    assert {"CLERK", "GUIDE", "BASE", "STORE"} <= set(exports) and exports["BASE"] == base
    assert exports["STORE"] in creds["export line"] and exports["STORE"].startswith("loc_")


def _shoplet(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLET_")}
    return subprocess.run(
        [str(BIN), *args], env={**base_env, **env}, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_serve_refuses_an_unmigrated_database_and_migrate_says_what_it_applied(tmp_path):
    env = {"SHOPLET_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    refused = _shoplet("serve", "--port", str(_free_port()), env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert (
        refused.stderr.strip().splitlines() == [refused.stderr.strip()]
        and "shoplet migrate" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    applied = _shoplet("migrate", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "applied 0001: initial schema" in applied.stdout and "migration(s) applied" in applied.stdout
    again = _shoplet("migrate", env=env, cwd=tmp_path)
    assert "nothing to apply" in again.stdout


def test_an_invalid_setting_is_one_line_naming_it(tmp_path):
    for name, value in (
        ("SHOPLET_UNPAID_ORDER_TIMEOUT_MINUTES", "soon"),
        ("SHOPLET_SANDBOX_PAYMENTS", "maybe"),
        ("SHOPLET_SANDBOX_SECRET", "short"),
    ):
        result = _shoplet(
            "migrate",
            env={name: value, "SHOPLET_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
            cwd=tmp_path,
        )
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_keys_create_issues_an_admin_key_for_an_existing_merchant(tmp_path):
    env = {"SHOPLET_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}", "SHOPLET_PLATFORM_KEY": "pk-test"}
    assert _shoplet("migrate", env=env, cwd=tmp_path).returncode == 0
    from fastapi.testclient import TestClient

    from shoplet.app import create_app
    from shoplet.config import Settings
    from shoplet.runtime import Runtime

    runtime = Runtime(
        Settings(
            database_url=env["SHOPLET_DATABASE_URL"],
            platform_key="pk-test",
            jobs_path=str(tmp_path / "jobs.db"),
        )
    )
    client = TestClient(create_app(runtime))
    merchant = client.post(
        "/api/v1/platform/merchants", json={"name": "Lost keys"}, headers={"Authorization": "Bearer pk-test"}
    ).json()["merchant"]["id"]
    made = _shoplet("keys", "create", "--merchant", merchant, "--role", "admin", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key_id, token = made.stdout.split()
    me = client.get("/api/v1/merchant", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == merchant
    unknown = _shoplet("keys", "create", "--merchant", "mer_nope", env=env, cwd=tmp_path)
    assert unknown.returncode == 2 and "no merchant" in unknown.stderr
    runtime.db.dispose()


def test_simulate_then_figures_in_the_terminal(tmp_path):
    env = {"SHOPLET_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "COLUMNS": "200"}
    assert _shoplet("migrate", env=env, cwd=tmp_path).returncode == 0
    made = _shoplet("simulate", "--days", "4", "--customers", "30", "--seed", "2", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    merchant = json.loads(made.stdout.strip().splitlines()[-1])["merchant_id"]  # the demo merchant, created
    again = _shoplet(
        "simulate", "--days", "2", "--customers", "10", env=env, cwd=tmp_path
    )  # more of the same shop
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    # Customers whose visit would fall later today (after now) have not come yet.
    assert summary["merchant_id"] == merchant and 0 < summary["customers"] <= 10 and summary["events"] > 10
    shown = _shoplet("figures", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for title in ("Monthly active customers", "Retention", "Funnel", "Sales by store", "New customers"):
        assert title in shown.stdout
    bad = _shoplet("figures", "--since", "2026-12-10", "--until", "2026-12-01", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "'until' must be after 'since'" in bad.stderr
    nobody = _shoplet("figures", "--merchant", "mer_nope", env=env, cwd=tmp_path)
    assert nobody.returncode == 2 and "no merchant" in nobody.stderr
