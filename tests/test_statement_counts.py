"""Lists load related rows in batches: a page of 5 and a page of 50 cost the same statements.

One shop gets twelve of everything a list shows; then every paginated list endpoint is read
with ``limit=5`` and ``limit=50`` and the SQL statements each request sends are counted. A
view that queries once per row (an N+1) costs at least seven more statements on the longer
page and fails here. The walk covers every GET operation with a ``limit`` parameter: a new
list endpoint is measured as soon as it exists (add its seed data below).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shoplet import sweeps
from shoplet.customers.models import CustomerIdentity
from shoplet.scoping import owned
from tests.campaigns.helpers import group_campaign, open_group
from tests.campaigns.test_flash import flash_sale
from tests.campaigns.test_plans import ADDRESS, weekly_plan
from tests.guides.test_guides import make_guide
from tests.helpers import PLATFORM, Shop, bearer, counting, ok

N = 12  # rows of each kind: a page of 5 then the rest


def _seed(shop: Shop, client) -> dict[str, dict]:
    """N of every listed thing; returns the headers and path values the walk needs."""
    admin = shop.admin

    def post(path: str, body: dict, headers: dict = admin, status: int = 201) -> dict:
        return ok(client.post(path, json=body, headers=headers), status)

    guide_id, guide = make_guide(shop, "Amy")
    endpoint_id = _endpoint(shop, client)  # every event below is a delivery to it
    at = (shop.runtime.clock() + timedelta(hours=1)).isoformat()
    ok(client.put("/api/v1/commission-rules", json={"scope": "merchant", "rate_bp": 300}, headers=admin))
    shop.stock(shop.store_id, "BEANS", 200)
    campaigns = [group_campaign(shop, stock=1000, per_customer_limit=5) for _ in range(N)]
    sales = [flash_sale(shop) for _ in range(N)]
    periodic = [weekly_plan(shop) for _ in range(N)]
    for i in range(N):
        post("/api/v1/platform/merchants", {"name": f"Counted {i}"}, PLATFORM)
        post("/api/v1/api-keys", {"name": f"key {i}"})
        post("/api/v1/staff", {"name": f"Clerk {i}", "role": "clerk", "store_id": shop.store_id})
        store = post(
            "/api/v1/stores",
            {
                "kind": "store",
                "code": f"C{i}",
                "name": f"Store {i}",
                "latitude": 31.2 + i / 1000,
                "longitude": 121.4,
            },
        )
        category = post("/api/v1/categories", {"code": f"cat{i}", "name": f"Category {i}"})
        post(
            "/api/v1/products",
            {
                "title": f"Product {i}",
                "category_id": category["id"],
                "skus": [{"code": f"P{i}", "list_price": 100 + i}],
            },
        )
        post(
            "/api/v1/stock-transfers",
            {
                "from_location_id": shop.warehouse_id,
                "to_location_id": store["id"],
                "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
            },
        )
        post(
            "/api/v1/promotions",
            {"name": f"Promo {i}", "kind": "threshold_off", "every": 10000 + i, "off": 100},
        )
        template = post(
            "/api/v1/coupon-templates",
            {
                "name": f"¥{i + 1} off",
                "kind": "cash",
                "off": 100 + i,
                "validity": "relative",
                "valid_days": 30,
            },
        )
        post("/api/v1/coupon-event-rules", {"event": "joined", "template_id": template["id"]})
        post("/api/v1/points-mall/items", {"template_id": template["id"], "points": 10 + i})
        post(
            "/api/v1/storefront/coupons", {"template_id": template["id"]}, shop.customer
        )  # the main customer's
        post(
            "/api/v1/light-plans", {"name": f"Pass {i}", "fee": 1000 + i, "period_days": 30, "percent_off": 5}
        )
        life = post("/api/v1/life/posts", {"title": f"Post {i}", "body": "b"})
        post(f"/api/v1/life/posts/{life['id']}/publish", {}, admin, 200)
        if i:  # scheduled pushes (the first customer follows below)
            post("/api/v1/life/pushes", {"post_id": life["id"], "segment": {"kind": "all"}, "send_at": at})
        # another customer: follows, is bound to the guide, orders, pays (a member with a
        # commission), and joins a light plan
        session = shop.sign_in(f"counted-{shop.merchant_id}-{i}")
        customer = bearer(session["token"])
        ok(client.put("/api/v1/storefront/following", headers=customer))
        post("/api/v1/storefront/guide", {"guide_id": guide_id}, customer, 200)
        shop.paid_order({"LATTE-T": 1}, customer=customer, key=f"counted-{i}")
        open_group(shop, campaigns[0]["id"], customer)  # twelve groups of one campaign
        post(
            f"/api/v1/storefront/periodic-plans/{periodic[0]['id']}/subscriptions",
            {"address": ADDRESS},
            customer,
        )
        shop.paid_order({"BEANS": 1})  # the main customer's orders and points entries
    plans = ok(client.get("/api/v1/light-plans", params={"limit": 50}, headers=admin))["items"]
    for i, plan in enumerate(plans[:N]):
        joiner = bearer(shop.sign_in(f"light-{shop.merchant_id}-{i}")["token"])
        post("/api/v1/storefront/light-membership", {"plan_id": plan["id"]}, joiner)
    joined = ok(client.get("/api/v1/light-memberships", params={"limit": 50}, headers=admin))["items"]
    for membership in joined[::2]:  # half of them settled and ended: those render their settlement
        ok(client.post(f"/api/v1/light-memberships/{membership['id']}/cancel", headers=admin))
    sweeps.dispatch_outbox(shop.runtime)
    return {
        "staff": admin,
        "guide": guide,
        "customer": shop.customer,
        "platform": PLATFORM,
        "paths": {
            "customer_id": shop.customer_id,
            "endpoint_id": endpoint_id,
            "group_campaign_id": campaigns[0]["id"],
            "periodic_plan_id": periodic[0]["id"],
            "flash_sale_id": sales[0]["id"],
            "host_app": "alipay",
            "host_user_id": _host_user(shop),
        },
    }


def _host_user(shop) -> str:
    with shop.runtime.db.unit_of_work(write=False) as s:
        return s.scalars(
            select(CustomerIdentity.host_user_id).where(
                owned(CustomerIdentity, shop.merchant_id), CustomerIdentity.customer_id == shop.customer_id
            )
        ).one()


def _endpoint(shop, client) -> str:
    shop.runtime.settings.webhooks_allow_private = True
    return ok(
        client.post("/api/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/h"}, headers=shop.admin),
        201,
    )["id"]


def _operations(client) -> list[str]:
    paths = []
    for path, methods in client.get("/openapi.json").json()["paths"].items():
        get = methods.get("get")
        if get and any(p["name"] == "limit" and p["in"] == "query" for p in get.get("parameters", [])):
            paths.append(path)
    return paths


def _headers(path: str, seeded: dict) -> dict:
    if path.startswith("/api/v1/platform/"):
        return seeded["platform"]
    if path.startswith("/api/v1/storefront/"):
        return seeded["customer"]
    if path.startswith("/api/v1/workbench/"):
        return seeded["guide"]
    return seeded["staff"]


# Filters without which a list is empty, and lists that are not tenant rows of this shop.
PARAMS = {"/api/v1/storefront/stores/nearby": {"lat": 31.2, "lng": 121.4}}
SHORT = {"/api/v1/workbench/reminders"}  # reminders need bindings weeks old: measured, not filled


def test_every_list_costs_the_same_statements_for_5_rows_as_for_50(shop, client, runtime):
    seeded = _seed(shop, client)
    operations = _operations(client)
    assert len(operations) >= 25, operations  # the walk really walks
    failures: list[str] = []
    for template in operations:
        path = template.format(**seeded["paths"])
        headers = _headers(template, seeded)
        params = PARAMS.get(template, {})
        ok(client.get(path, params={**params, "limit": 5}, headers=headers))  # warm: key last-used, caches
        counts, sizes = [], []
        for limit in (5, 50):
            with counting(runtime.db.engine) as statements:
                body = ok(client.get(path, params={**params, "limit": limit}, headers=headers))
            counts.append(len(statements))
            sizes.append(len(body["items"] if isinstance(body, dict) else body))
        if template not in SHORT and not (sizes[0] == 5 and sizes[1] > 5 + 5):
            failures.append(f"{template}: seed more rows (pages of {sizes[0]} and {sizes[1]})")
        if abs(counts[1] - counts[0]) > 1:
            failures.append(
                f"{template}: {counts[0]} statements for {sizes[0]} rows, {counts[1]} for {sizes[1]}"
            )
    assert not failures, "\n".join(failures)
