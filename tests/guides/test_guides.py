"""Shopping guides: exclusive bindings under the merchant's policy, and guides issuing
coupons to their own customers within a quota."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from shoplet.coupons.models import Coupon
from shoplet.errors import ShopletError
from shoplet.guides import service
from shoplet.guides.models import GuideBinding, GuideBindingChange, GuideCouponQuota
from tests.coupons.test_coupons import template
from tests.helpers import bearer, ok


def make_guide(shop, name="Guide"):
    staff = ok(
        shop.client.post(
            "/api/v1/staff",
            json={"name": name, "role": "guide", "store_id": shop.store_id},
            headers=shop.admin,
        ),
        201,
    )
    key = ok(
        shop.client.post(f"/api/v1/staff/{staff['id']}/api-keys", json={"name": "phone"}, headers=shop.admin),
        201,
    )
    return staff["id"], bearer(key["token"])


def test_scanning_binds_and_protection_then_last_touch(shop, client, clock):
    amy, _ = make_guide(shop, "Amy")
    bob, _ = make_guide(shop, "Bob")
    ok(
        client.put(
            "/api/v1/guide-policy",
            json={"protection_days": 7, "after_protection": "last_touch"},
            headers=shop.admin,
        )
    )
    bound = ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    assert bound["guide_id"] == amy and bound["guide_name"] == "Amy" and bound["source"] == "scan"
    assert ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer)) == bound
    taken = client.post("/api/v1/storefront/guide", json={"guide_id": bob}, headers=shop.customer)
    assert taken.status_code == 409 and taken.json()["code"] == "guide.binding_protected"
    assert ok(client.get("/api/v1/storefront/guide", headers=shop.customer))["guide_id"] == amy
    clock.advance(days=8)
    moved = ok(client.post("/api/v1/storefront/guide", json={"guide_id": bob}, headers=shop.customer))
    assert moved["guide_id"] == bob and moved["first_bound_at"] == bound["first_bound_at"]
    history = ok(client.get(f"/api/v1/customers/{shop.customer_id}/guide/history", headers=shop.admin))
    assert [(h["from_guide_id"], h["to_guide_id"]) for h in history] == [(None, amy), (amy, bob)]


def test_first_touch_keeps_the_binding_and_only_an_admin_can_force(shop, client, clock):
    amy, _ = make_guide(shop, "Amy")
    bob, _ = make_guide(shop, "Bob")
    ok(
        client.put(
            "/api/v1/guide-policy",
            json={"protection_days": 1, "after_protection": "first_touch"},
            headers=shop.admin,
        )
    )
    ok(client.put(f"/api/v1/customers/{shop.customer_id}/guide", json={"guide_id": amy}, headers=shop.clerk))
    clock.advance(days=5)
    kept = client.post("/api/v1/storefront/guide", json={"guide_id": bob}, headers=shop.customer)
    assert kept.status_code == 409 and kept.json()["code"] == "guide.binding_kept"
    by_clerk = client.put(
        f"/api/v1/customers/{shop.customer_id}/guide",
        json={"guide_id": bob, "force": True},
        headers=shop.clerk,
    )
    assert by_clerk.status_code == 403 and by_clerk.json()["code"] == "guide.force_needs_admin"
    forced = ok(
        client.put(
            f"/api/v1/customers/{shop.customer_id}/guide",
            json={"guide_id": bob, "force": True},
            headers=shop.admin,
        )
    )
    assert forced["guide_id"] == bob and forced["source"] == "admin"


def test_unknown_or_non_guide_staff_cannot_be_bound(shop, client):
    clerk_staff = ok(client.get("/api/v1/staff", headers=shop.admin))["items"]
    clerk_id = next(s["id"] for s in clerk_staff if s["role"] == "clerk")
    for guide_id in ("stf_nope", clerk_id):
        r = client.post("/api/v1/storefront/guide", json={"guide_id": guide_id}, headers=shop.customer)
        assert r.status_code == 404 and r.json()["code"] == "guide.not_found"
    assert client.get("/api/v1/storefront/guide", headers=shop.customer).status_code == 404


def test_concurrent_first_scans_bind_exactly_one_guide(shop, runtime):
    guides = [make_guide(shop, f"G{i}")[0] for i in range(6)]

    def scan(guide_id):
        try:
            with runtime.db.unit_of_work() as s:
                return service.bind(
                    s,
                    merchant_id=shop.merchant_id,
                    customer_id=shop.customer_id,
                    guide_id=guide_id,
                    source="scan",
                    by="test",
                    now=runtime.clock(),
                ).guide_id
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(scan, guides))
    with runtime.db.unit_of_work(write=False) as s:
        binding = s.get(GuideBinding, (shop.merchant_id, shop.customer_id))
        changes = s.scalar(
            select(func.count())
            .select_from(GuideBindingChange)
            .where(GuideBindingChange.merchant_id == shop.merchant_id)
        )
    assert results.count(binding.guide_id) == 1 and changes == 1
    assert set(results) - {binding.guide_id} <= {"guide.binding_protected"}


def test_guide_issues_to_own_customers_within_quota(shop, client):
    amy, amy_key = make_guide(shop, "Amy")
    bob, bob_key = make_guide(shop, "Bob")
    t = template(shop, total_stock=100)
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    stranger = shop.sign_in("stranger")["customer_id"]
    ok(client.put(f"/api/v1/customers/{stranger}/guide", json={"guide_id": bob}, headers=shop.admin))

    no_quota = client.post(
        "/api/v1/workbench/coupons",
        json={"template_id": t["id"], "customer_id": shop.customer_id},
        headers=amy_key,
    )
    assert no_quota.status_code == 403 and no_quota.json()["code"] == "guide.no_quota"
    ok(
        client.put(
            f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 2}, headers=shop.admin
        )
    )
    body = {"template_id": t["id"], "customer_id": shop.customer_id}
    first = ok(
        client.post("/api/v1/workbench/coupons", json=body, headers={**amy_key, "Idempotency-Key": "g1"}), 201
    )
    replay = ok(
        client.post("/api/v1/workbench/coupons", json=body, headers={**amy_key, "Idempotency-Key": "g1"}), 201
    )
    assert first["id"] == replay["id"] and first["source"] == "guide"
    ok(client.post("/api/v1/workbench/coupons", json=body, headers=amy_key), 201)
    spent = client.post("/api/v1/workbench/coupons", json=body, headers=amy_key)
    assert spent.status_code == 409 and spent.json()["code"] == "guide.quota_exhausted"
    not_mine = client.post(
        "/api/v1/workbench/coupons", json={"template_id": t["id"], "customer_id": stranger}, headers=amy_key
    )
    assert not_mine.status_code == 403 and not_mine.json()["code"] == "guide.not_your_customer"
    assert ok(client.get("/api/v1/workbench/coupon-quotas", headers=amy_key)) == [
        {"template_id": t["id"], "guide_id": amy, "quota": 2, "issued": 2}
    ]
    lowered = client.put(
        f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 1}, headers=shop.admin
    )
    assert lowered.status_code == 422 and lowered.json()["code"] == "guide.quota_below_issued"
    admin_bench = client.get("/api/v1/workbench/customers", headers=shop.admin)
    assert admin_bench.status_code == 403 and admin_bench.json()["code"] == "guide.workbench_only"


def test_a_refused_coupon_gives_the_quota_back(shop, client, runtime):
    amy, amy_key = make_guide(shop, "Amy")
    t = template(shop, total_stock=100, per_customer_limit=1)
    ok(client.post("/api/v1/storefront/guide", json={"guide_id": amy}, headers=shop.customer))
    ok(
        client.put(
            f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 5}, headers=shop.admin
        )
    )
    body = {"template_id": t["id"], "customer_id": shop.customer_id}
    ok(client.post("/api/v1/workbench/coupons", json=body, headers=amy_key), 201)
    limited = client.post("/api/v1/workbench/coupons", json=body, headers=amy_key)
    assert limited.status_code == 409 and limited.json()["code"] == "coupon.limit_reached"
    with runtime.db.unit_of_work(write=False) as s:
        assert s.get(GuideCouponQuota, (shop.merchant_id, t["id"], amy)).issued == 1


def test_concurrent_guide_issues_never_pass_the_quota(shop, client, runtime):
    amy, _ = make_guide(shop, "Amy")
    t = template(shop, total_stock=1000)
    customers = [shop.sign_in(f"amy-{i}")["customer_id"] for i in range(10)]
    for c in customers:
        ok(client.put(f"/api/v1/customers/{c}/guide", json={"guide_id": amy}, headers=shop.admin))
    ok(
        client.put(
            f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 4}, headers=shop.admin
        )
    )

    def give(customer_id):
        try:
            with runtime.db.unit_of_work() as s:
                service.issue_coupon(
                    s,
                    merchant_id=shop.merchant_id,
                    guide_id=amy,
                    template_id=t["id"],
                    customer_id=customer_id,
                    now=runtime.clock(),
                )
            return "ok"
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(give, customers))
    assert results.count("ok") == 4 and set(results) == {"ok", "guide.quota_exhausted"}
    with runtime.db.unit_of_work(write=False) as s:
        issued = s.scalar(
            select(func.count())
            .select_from(Coupon)
            .where(
                Coupon.merchant_id == shop.merchant_id,
                Coupon.template_id == t["id"],
                Coupon.source == "guide",
            )
        )
    assert issued == 4


def test_workbench_lists_my_customers_with_tags_and_masked_phones(shop, client):
    amy, amy_key = make_guide(shop, "Amy")
    bob, bob_key = make_guide(shop, "Bob")
    vip = ok(
        client.post(
            "/api/v1/customers",
            json={"name": "Vip", "phone": "13800138000", "tags": ["vip", "latte"]},
            headers=shop.admin,
        ),
        201,
    )
    plain = ok(
        client.post("/api/v1/customers", json={"name": "Plain", "tags": ["vipish"]}, headers=shop.admin), 201
    )
    for c in (vip["id"], plain["id"]):
        ok(client.put(f"/api/v1/customers/{c}/guide", json={"guide_id": amy}, headers=shop.clerk))
    mine = ok(client.get("/api/v1/workbench/customers", headers=amy_key))["items"]
    assert {c["id"] for c in mine} == {vip["id"], plain["id"]}
    assert next(c for c in mine if c["id"] == vip["id"])["phone"] == "138****8000"
    tagged = ok(client.get("/api/v1/workbench/customers", params={"tag": "vip"}, headers=amy_key))["items"]
    assert [c["id"] for c in tagged] == [vip["id"]]
    assert ok(client.get("/api/v1/workbench/customers", headers=bob_key))["items"] == []


def test_follower_audience_and_segment(shop, client, runtime):
    t = template(shop, audience={"kind": "followers"})
    refused = client.post("/api/v1/storefront/coupons", json={"template_id": t["id"]}, headers=shop.customer)
    assert refused.status_code == 403 and refused.json()["code"] == "coupon.not_eligible"
    assert ok(client.put("/api/v1/storefront/following", headers=shop.customer))["following"] is True
    assert ok(client.put("/api/v1/storefront/following", headers=shop.customer))["following"] is True
    ok(client.post("/api/v1/storefront/coupons", json={"template_id": t["id"]}, headers=shop.customer), 201)
    followers = ok(client.get("/api/v1/followers", headers=shop.admin))["items"]
    assert [f["customer_id"] for f in followers] == [shop.customer_id]
    assert ok(client.delete("/api/v1/storefront/following", headers=shop.customer))["following"] is False
    assert ok(client.get("/api/v1/followers", headers=shop.admin))["items"] == []
    assert ok(client.get("/api/v1/storefront/following", headers=shop.customer))["following"] is False
