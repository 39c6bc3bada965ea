"""Walk every endpoint of the API as another merchant: every object of merchant A is a 404
for merchant B (never a 403), lists never show it, and nothing of A changes."""

import re
from datetime import timedelta

from sqlalchemy import text

from tests.campaigns.helpers import group_campaign as group_campaign_of
from tests.campaigns.helpers import open_group as open_group_of
from tests.campaigns.test_flash import flash_sale as flash_sale_of
from tests.campaigns.test_plans import ADDRESS as PLAN_ADDRESS
from tests.campaigns.test_plans import weekly_plan
from tests.guides.test_guides import make_guide
from tests.helpers import ok

# Endpoints that take no tenant object in their path, or are not tenant-scoped by design.
UNSCOPED = {
    "/api/v1/health",
    "/api/v1/platform/merchants",
    "/api/v1/platform/merchants/{merchant_id}/suspend",
    "/api/v1/platform/merchants/{merchant_id}/reactivate",
    "/api/v1/storefront/sessions",
    "/api/v1/payments/notify/{provider}",
    "/api/v1/sandbox/trades/{trade_no}/pay",
    "/api/v1/sandbox/inbox/{host_app}/{host_user_id}",  # the sandbox host app's, not a merchant's
    "/api/v1/media/{merchant_id}/{media_id}",  # public images: tests/messaging/test_pushes.py
    "/api/v1/messages/notices/{code}",  # Shoplet's notice codes, the same for every merchant
}

BODIES = {
    ("put", "/api/v1/stores/{store_id}/stock/{sku_id}"): {"on_hand": 1},
    ("post", "/api/v1/stores/{store_id}/stock/{sku_id}/adjustments"): {"delta": 1, "reason": "x"},
    ("patch", "/api/v1/stores/{store_id}"): {"name": "Hijacked"},
    ("patch", "/api/v1/products/{product_id}"): {"title": "Hijacked"},
    ("patch", "/api/v1/skus/{sku_id}"): {"list_price": 1},
    ("post", "/api/v1/products/{product_id}/skus"): {"code": "HIJACK", "list_price": 1},
    ("post", "/api/v1/staff/{staff_id}/api-keys"): {"name": "hijack"},
    ("put", "/api/v1/staff/{staff_id}/credentials"): {"login": "hijack", "password": "hijack-password-1"},
    ("post", "/api/v1/customers/{customer_id}/identities"): {"host_app": "h5", "host_user_id": "hijack"},
    ("post", "/api/v1/customers/{customer_id}/sessions"): {"host_app": "h5"},
    ("post", "/api/v1/orders/{order_id}/refunds"): {},
    ("put", "/api/v1/life/posts/{post_id}"): {"title": "Hijacked", "body": "x"},
    ("post", "/api/v1/life/posts/{post_id}/publish"): {},
    ("post", "/api/v1/messages/templates/{message_template_id}/send"): {"customer_ids": ["cus_x"]},
    ("patch", "/api/v1/webhooks/endpoints/{endpoint_id}"): {"description": "Hijacked"},
    ("put", "/api/v1/storefront/cart/items/{sku_id}"): {"quantity": 1},
    ("patch", "/api/v1/promotions/{promotion_id}"): {"name": "Hijacked"},
    ("patch", "/api/v1/coupon-templates/{template_id}"): {"name": "Hijacked"},
    ("put", "/api/v1/coupon-templates/{template_id}/guide-quotas/{guide_id}"): {"quota": 9},
    ("patch", "/api/v1/member-tiers/{tier_id}"): {"name": "Hijacked"},
    ("patch", "/api/v1/light-plans/{plan_id}"): {"name": "Hijacked"},
    ("post", "/api/v1/members/{customer_id}/points/adjustments"): {"delta": 5, "note": "hijack"},
    ("post", "/api/v1/workbench/customers/{customer_id}/visits"): {"note": "hijack"},
    ("patch", "/api/v1/workbench/groups/{group_id}"): {"name": "Hijacked"},
    ("post", "/api/v1/group-campaigns/{group_campaign_id}/actions"): {"action": "stop"},
    ("post", "/api/v1/flash-sales/{flash_sale_id}/actions"): {"action": "stop"},
    ("post", "/api/v1/periodic-plans/{periodic_plan_id}/actions"): {"action": "stop"},
    ("post", "/api/v1/storefront/group-campaigns/{group_campaign_id}/groups"): {"location_id": "loc_x"},
    ("post", "/api/v1/storefront/buying-groups/{buying_group_id}/orders"): {"location_id": "loc_x"},
    ("post", "/api/v1/storefront/flash-items/{flash_item_id}/orders"): {"location_id": "loc_x"},
    ("post", "/api/v1/storefront/periodic-plans/{periodic_plan_id}/subscriptions"): {},
    ("post", "/api/v1/storefront/plan-subscriptions/{subscription_id}/skip"): {"period": 1},
    ("put", "/api/v1/storefront/plan-subscriptions/{subscription_id}/address"): {
        "address": {"name": "x", "phone": "123", "address": "x", "latitude": 31.2, "longitude": 121.4}
    },
}

# Lists that need query parameters.
QUERIES = {"/api/v1/storefront/stores/nearby": {"lat": 31.2, "lng": 121.4}}

# Snapshot of every tenant table: a walk must leave merchant A's rows exactly as they were.
TENANT_TABLES = [
    "group_campaigns",
    "buying_groups",
    "group_seats",
    "campaign_quotas",
    "flash_sales",
    "flash_items",
    "plans",
    "plan_subscriptions",
    "plan_deliveries",
    "posts",
    "pushes",
    "message_templates",
    "webhook_endpoints",
    "webhook_deliveries",
    "coupon_issue_jobs",
    "coupon_codes",
    "coupon_event_rules",
    "coupon_templates",
    "coupons",
    "coupon_claim_counts",
    "promotions",
    "stock_locations",
    "stock_levels",
    "products",
    "skus",
    "staff",
    "staff_invites",
    "console_sessions",
    "api_keys",
    "customers",
    "customer_identities",
    "customer_sessions",
    "orders",
    "order_lines",
    "payments",
    "refunds",
    "cart_items",
    "members",
    "followers",
    "guide_policies",
    "guide_bindings",
    "guide_binding_changes",
    "guide_coupon_quotas",
    "member_tiers",
    "member_tier_changes",
    "growth_entries",
    "points_lots",
    "points_entries",
    "loyalty_settings",
    "light_plans",
    "light_memberships",
    "light_benefits",
    "light_settlements",
    "points_mall_items",
    "coupon_pack_grants",
    "sandbox_agreements",
    "sandbox_agreement_charges",
    "stock_transfers",
    "fulfilments",
    "delivery_slots",
    "commissions",
    "commission_rules",
    "guide_visits",
    "guide_groups",
    "guide_group_members",
    "events",
]


def _snapshot(runtime, merchant_id):
    with runtime.db.unit_of_work(write=False) as s:
        return {
            t: sorted(
                map(
                    repr,
                    s.execute(text(f"SELECT * FROM {t} WHERE merchant_id = :m"), {"m": merchant_id}).all(),
                )
            )
            for t in TENANT_TABLES
        }


def test_every_endpoint_hides_another_merchants_objects(shop, other_shop, client, runtime):
    a, b = shop, other_shop
    order = a.paid_order({"LATTE-T": 2})
    payment = ok(client.get(f"/api/v1/orders/{order['id']}/payments", headers=a.admin))[0]
    refund = ok(
        client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]},
            headers=a.admin,
        ),
        201,
    )
    unpaid = a.order({"LATTE-T": 1})
    promotion = ok(
        client.post(
            "/api/v1/promotions",
            json={"name": "10% off", "kind": "item_percent", "percent_off": 10},
            headers=a.admin,
        ),
        201,
    )
    coupon_template = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={"name": "¥5", "kind": "cash", "off": 500, "validity": "relative", "valid_days": 7},
            headers=a.admin,
        ),
        201,
    )
    coupon = ok(
        client.post(
            "/api/v1/storefront/coupons", json={"template_id": coupon_template["id"]}, headers=a.customer
        ),
        201,
    )
    ok(
        client.post(
            f"/api/v1/coupon-templates/{coupon_template['id']}/codes", json={"count": 3}, headers=a.admin
        ),
        201,
    )
    issue_job = ok(
        client.post(f"/api/v1/coupon-templates/{coupon_template['id']}/issue-jobs", json={}, headers=a.admin),
        202,
    )
    rule = ok(
        client.post(
            "/api/v1/coupon-event-rules",
            json={"event": "joined", "template_id": coupon_template["id"]},
            headers=a.admin,
        ),
        201,
    )
    a_guide, a_guide_key = make_guide(a, "A's guide")
    b_guide, b_guide_key = make_guide(b, "B's guide")
    ok(client.put("/api/v1/guide-policy", json={"protection_days": 3}, headers=a.admin))
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": a_guide}, headers=a.customer))
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": b_guide}, headers=b.customer))
    ok(
        client.put(
            f"/api/v1/coupon-templates/{coupon_template['id']}/guide-quotas/{a_guide}",
            json={"quota": 3},
            headers=a.admin,
        )
    )
    ok(client.put("/api/v1/storefront/following", headers=a.customer))
    ok(
        client.put(
            "/api/v1/commission-rules",
            json={"scope": "guide", "target_id": a_guide, "rate_bp": 500},
            headers=a.admin,
        )
    )
    attributed = a.paid_order({"LATTE-G": 1})
    commission = ok(client.get("/api/v1/commissions", headers=a.admin))["items"][0]
    assert commission["order_id"] == attributed["id"]
    ok(
        client.post(
            f"/api/v1/workbench/customers/{a.customer_id}/visits",
            json={"note": "called"},
            headers=a_guide_key,
        ),
        201,
    )
    group = ok(client.post("/api/v1/workbench/groups", json={"name": "Regulars"}, headers=a_guide_key), 201)
    ok(client.put(f"/api/v1/workbench/groups/{group['id']}/customers/{a.customer_id}", headers=a_guide_key))
    ok(client.post("/api/v1/workbench/groups", json={"name": "B's own"}, headers=b_guide_key), 201)
    tier = ok(
        client.post(
            "/api/v1/member-tiers",
            json={"code": "silver", "name": "Silver", "threshold": 10},
            headers=a.admin,
        ),
        201,
    )
    ok(client.put("/api/v1/loyalty-settings", json={"points_per_yuan": 2}, headers=a.admin))
    light_plan = ok(
        client.post(
            "/api/v1/light-plans", json={"name": "Pass", "fee": 990, "period_days": 30}, headers=a.admin
        ),
        201,
    )
    light_membership = ok(
        client.post(
            "/api/v1/storefront/light-membership", json={"plan_id": light_plan["id"]}, headers=a.customer
        ),
        201,
    )
    mall_item = ok(
        client.post(
            "/api/v1/points-mall/items",
            json={"template_id": coupon_template["id"], "points": 5},
            headers=a.admin,
        ),
        201,
    )
    b.paid_order({"LATTE-T": 1})  # B's own customer is a member with a light membership: B's views answer
    b_plan = ok(
        client.post(
            "/api/v1/light-plans", json={"name": "B pass", "fee": 990, "period_days": 30}, headers=b.admin
        ),
        201,
    )
    ok(
        client.post(
            "/api/v1/storefront/light-membership", json={"plan_id": b_plan["id"]}, headers=b.customer
        ),
        201,
    )
    transfer = ok(
        client.post(
            "/api/v1/stock-transfers",
            json={
                "from_location_id": a.warehouse_id,
                "to_location_id": a.store_id,
                "lines": [{"sku_id": a.skus["BEANS"], "quantity": 1}],
            },
            headers=a.admin,
        ),
        201,
    )
    ok(client.put("/api/v1/storefront/following", headers=a.customer))
    post = ok(client.post("/api/v1/life/posts", json={"title": "t", "body": "b"}, headers=a.admin), 201)
    ok(client.post(f"/api/v1/life/posts/{post['id']}/publish", json={}, headers=a.admin))
    push = ok(client.post("/api/v1/life/pushes", json={"post_id": post["id"], "segment": {"kind": "all"},
                                                        "send_at": (runtime.clock() + timedelta(hours=1)).isoformat()},
                          headers=a.admin), 201)  # fmt: skip
    message_template = ok(
        client.post(
            "/api/v1/messages/templates", json={"name": "n", "title": "t", "body": "b"}, headers=a.admin
        ),
        201,
    )
    runtime.settings.webhooks_allow_private = True
    endpoint = ok(
        client.post("/api/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/h"}, headers=a.admin), 201
    )
    delivery = ok(client.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/ping", headers=a.admin), 202)
    group_campaign = group_campaign_of(a)
    leader_order = open_group_of(a, group_campaign["id"], a.customer)
    a.pay(leader_order["id"])
    flash_sale = flash_sale_of(a)
    periodic_plan = weekly_plan(a)
    subscribed = ok(
        client.post(
            f"/api/v1/storefront/periodic-plans/{periodic_plan['id']}/subscriptions",
            json={"address": PLAN_ADDRESS},
            headers=a.customer,
        ),
        201,
    )
    a.pay(subscribed["order"]["id"])
    staff = ok(client.get("/api/v1/staff", headers=a.admin))["items"][0]
    key = ok(client.get("/api/v1/api-keys", headers=a.admin))["items"][0]
    ids = {
        "store_id": a.store_id,
        "sku_id": a.skus["LATTE-T"],
        "product_id": a.product_id,
        "staff_id": staff["id"],
        "key_id": key["id"],
        "customer_id": a.customer_id,
        "payment_id": payment["id"],
        "refund_id": refund["id"],
        "promotion_id": promotion["id"],
        "template_id": coupon_template["id"],
        "coupon_id": coupon["id"],
        "code": coupon["code"],
        "rule_id": rule["id"],
        "job_id": issue_job["id"],
        "guide_id": a_guide,
        "tier_id": tier["id"],
        "plan_id": light_plan["id"],
        "membership_id": light_membership["id"],
        "item_id": mall_item["id"],
        "transfer_id": transfer["id"],
        "scope": "guide",
        "group_id": group["id"],
        "post_id": post["id"],
        "push_id": push["id"],
        "message_template_id": message_template["id"],
        "endpoint_id": endpoint["id"],
        "delivery_id": delivery["id"],
        "group_campaign_id": group_campaign["id"],
        "buying_group_id": leader_order["campaign_ref"],
        "flash_sale_id": flash_sale["id"],
        "flash_item_id": flash_sale["items"][0]["id"],
        "periodic_plan_id": periodic_plan["id"],
        "subscription_id": subscribed["subscription_id"],
    }
    before = _snapshot(runtime, a.merchant_id)
    walked = 0
    for path, operations in ok(client.get("/openapi.json"))["paths"].items():
        if path in UNSCOPED:
            continue
        params = re.findall(r"{(\w+)}", path)
        for method in operations:
            if not params:
                continue
            values = dict(ids)
            # Cancelling must target an order that could be cancelled, to prove it is not.
            values["order_id"] = unpaid["id"] if path.endswith("/cancel") else order["id"]
            url = path.format(**{p: values[p] for p in params})
            body = BODIES.get((method, path))
            if path.endswith("/issue"):
                body = {"customer_id": b.customer_id}
            if path.endswith("/codes"):
                body = {"count": 1}
            if path.endswith("/issue-jobs"):
                body = {}
            if path.endswith("/groups/{group_id}/coupons"):
                body = {"template_id": coupon_template["id"]}
            if path.endswith("/{customer_id}/guide") and method == "put":
                body = {"guide_id": b_guide}
            who_all = (b.customer,) if path.startswith("/api/v1/storefront") else (b.admin,)
            if path.startswith("/api/v1/workbench"):
                who_all = (b_guide_key,)
            for who in who_all:
                response = client.request(method.upper(), url, json=body, headers=who)
                assert response.status_code == 404, (
                    f"{method.upper()} {url}: {response.status_code} {response.text}"
                )
                assert response.headers["content-type"].startswith("application/problem+json")
                walked += 1
    assert walked >= 30
    assert _snapshot(runtime, a.merchant_id) == before

    # Lists show none of A's objects to B.
    a_ids = {
        a.store_id,
        a.product_id,
        a.customer_id,
        order["id"],
        unpaid["id"],
        staff["id"],
        key["id"],
        promotion["id"],
        coupon_template["id"],
        coupon["id"],
        rule["id"],
        a_guide,
        tier["id"],
        light_plan["id"],
        light_membership["id"],
        mall_item["id"],
        transfer["id"],
        attributed["id"],
        commission["id"],
        group["id"],
        a.category_id,
        group_campaign["id"],
        leader_order["campaign_ref"],
        flash_sale["id"],
        flash_sale["items"][0]["id"],
        periodic_plan["id"],
        subscribed["subscription_id"],
    }
    a_ids |= {f["id"] for f in attributed["fulfilments"]}
    for path, operations in ok(client.get("/openapi.json"))["paths"].items():
        if "get" in operations and "{" not in path and path not in UNSCOPED and path != "/api/v1/merchant":
            headers = b.customer if path.startswith("/api/v1/storefront") else b.admin
            if path.startswith("/api/v1/workbench"):
                headers = b_guide_key
            listing = client.get(path, headers=headers, params=QUERIES.get(path))
            assert listing.status_code == 200, path
            assert not (a_ids & set(re.findall(r'"\w*id":"([^"]+)"', listing.text))), path
    assert ok(client.get("/api/v1/merchant", headers=b.admin))["id"] == b.merchant_id


def test_another_merchants_clerk_cannot_verify_or_claim_our_coupons(shop, other_shop, client):
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
    verify = client.post("/api/v1/coupons/verify", json={"code": coupon["code"]}, headers=other_shop.clerk)
    assert verify.status_code == 404
    stolen = client.post(
        "/api/v1/storefront/coupons", json={"template_id": template["id"]}, headers=other_shop.customer
    )
    assert stolen.status_code == 404
    mine = ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
    assert mine[0]["status"] == "available"


def test_customer_of_one_merchant_cannot_use_another_merchants_skus(shop, other_shop, client):
    response = client.put(
        f"/api/v1/storefront/cart/items/{shop.skus['BEANS']}",
        json={"quantity": 1},
        headers=other_shop.customer,
    )
    assert response.status_code == 404
