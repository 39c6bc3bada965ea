"""A guide's customer groups: the guide's own, for their own customers, and a way to
give a whole group coupons from the guide's quota."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from shoplet.coupons.models import Coupon
from shoplet.errors import ShopletError
from shoplet.guides import groups
from shoplet.guides.models import GuideCouponQuota, GuideGroupMember
from tests.coupons.test_coupons import template
from tests.guides.test_guides import make_guide
from tests.helpers import bearer, ok


def _bind(shop, guide_id, *names):
    """Customers who scanned the guide's code: their ids and sign-in headers."""
    found = []
    for name in names:
        session = shop.sign_in(name)
        headers = bearer(session["token"])
        ok(shop.client.post("/api/v1/storefront/guide", json={"guide_id": guide_id}, headers=headers))
        found.append(session["customer_id"])
    return found


def test_a_guide_groups_their_own_customers(shop, client, clock):
    amy, amy_key = make_guide(shop, "Amy")
    bob, bob_key = make_guide(shop, "Bob")
    ok(client.put("/api/v1/guide-policy", json={"protection_days": 1}, headers=shop.admin))
    ann, ben, cat = _bind(shop, amy, "ann", "ben", "cat")
    (dan,) = _bind(shop, bob, "dan")
    regulars = ok(
        client.post("/api/v1/workbench/groups", json={"name": " Weekend regulars "}, headers=amy_key), 201
    )
    assert regulars["name"] == "Weekend regulars" and regulars["members"] == 0
    parents = ok(client.post("/api/v1/workbench/groups", json={"name": "New parents"}, headers=amy_key), 201)
    taken = client.post("/api/v1/workbench/groups", json={"name": "New parents"}, headers=amy_key)
    assert taken.status_code == 409 and taken.json()["code"] == "guide_group.name_taken"
    blank = client.post("/api/v1/workbench/groups", json={"name": "   "}, headers=amy_key)
    assert blank.status_code == 422 and blank.json()["code"] == "request.invalid"
    # Bob may use the same name: groups are each guide's own.
    ok(client.post("/api/v1/workbench/groups", json={"name": "New parents"}, headers=bob_key), 201)

    for customer in (ann, ben):
        added = ok(
            client.put(f"/api/v1/workbench/groups/{regulars['id']}/customers/{customer}", headers=amy_key)
        )
    assert added["members"] == 2
    again = ok(client.put(f"/api/v1/workbench/groups/{regulars['id']}/customers/{ann}", headers=amy_key))
    assert again["members"] == 2  # adding twice is a no-op
    ok(client.put(f"/api/v1/workbench/groups/{parents['id']}/customers/{ann}", headers=amy_key))
    not_mine = client.put(f"/api/v1/workbench/groups/{regulars['id']}/customers/{dan}", headers=amy_key)
    assert not_mine.status_code == 404 and not_mine.json()["code"] == "customer.not_found"
    # Another guide of the same merchant cannot see or touch Amy's group.
    for method, path in (
        ("GET", f"/api/v1/workbench/customers?group_id={regulars['id']}"),
        ("PUT", f"/api/v1/workbench/groups/{regulars['id']}/customers/{dan}"),
        ("PATCH", f"/api/v1/workbench/groups/{regulars['id']}"),
        ("DELETE", f"/api/v1/workbench/groups/{regulars['id']}"),
    ):
        response = client.request(method, path, json={"name": "Mine now"}, headers=bob_key)
        assert response.status_code == 404 and response.json()["code"] == "guide_group.not_found", (
            method,
            path,
        )

    listing = ok(client.get("/api/v1/workbench/groups", headers=amy_key))
    assert [(g["name"], g["members"]) for g in listing] == [("New parents", 1), ("Weekend regulars", 2)]
    everyone = {c["id"]: c for c in ok(client.get("/api/v1/workbench/customers", headers=amy_key))["items"]}
    assert set(everyone) == {ann, ben, cat}
    assert [g["name"] for g in everyone[ann]["groups"]] == ["New parents", "Weekend regulars"]
    assert everyone[cat]["groups"] == []
    in_group = ok(
        client.get("/api/v1/workbench/customers", params={"group_id": regulars["id"]}, headers=amy_key)
    )
    assert {c["id"] for c in in_group["items"]} == {ann, ben}

    renamed = ok(
        client.patch(f"/api/v1/workbench/groups/{regulars['id']}", json={"name": "Regulars"}, headers=amy_key)
    )
    assert renamed["name"] == "Regulars" and renamed["members"] == 2
    clash = client.patch(
        f"/api/v1/workbench/groups/{regulars['id']}", json={"name": "New parents"}, headers=amy_key
    )
    assert clash.status_code == 409 and clash.json()["code"] == "guide_group.name_taken"
    removed = client.delete(f"/api/v1/workbench/groups/{regulars['id']}/customers/{ben}", headers=amy_key)
    assert removed.status_code == 204
    gone = client.delete(f"/api/v1/workbench/groups/{regulars['id']}/customers/{ben}", headers=amy_key)
    assert gone.status_code == 404 and gone.json()["code"] == "guide_group.not_member"

    # Ann moves to Bob once protection has passed: she leaves every one of Amy's groups.
    clock.advance(days=2)
    ok(client.put(f"/api/v1/customers/{ann}/guide", json={"guide_id": bob}, headers=shop.clerk))
    assert [
        (g["name"], g["members"]) for g in ok(client.get("/api/v1/workbench/groups", headers=amy_key))
    ] == [("New parents", 0), ("Regulars", 0)]
    with shop.runtime.db.unit_of_work(write=False) as s:
        assert not s.scalar(
            select(func.count())
            .select_from(GuideGroupMember)
            .where(GuideGroupMember.merchant_id == shop.merchant_id, GuideGroupMember.customer_id == ann)
        )

    assert client.delete(f"/api/v1/workbench/groups/{parents['id']}", headers=amy_key).status_code == 204
    assert [g["name"] for g in ok(client.get("/api/v1/workbench/groups", headers=amy_key))] == ["Regulars"]
    admin = client.get("/api/v1/workbench/groups", headers=shop.admin)
    assert admin.status_code == 403 and admin.json()["code"] == "guide.workbench_only"


def test_a_group_gets_coupons_from_the_quota_or_nothing(shop, client):
    amy, amy_key = make_guide(shop, "Amy")
    members = _bind(shop, amy, "ann", "ben", "cat")
    t = template(shop, total_stock=100, per_customer_limit=1)
    group = ok(client.post("/api/v1/workbench/groups", json={"name": "VIP"}, headers=amy_key), 201)
    path = f"/api/v1/workbench/groups/{group['id']}/coupons"
    empty = client.post(path, json={"template_id": t["id"]}, headers=amy_key)
    assert empty.status_code == 422 and empty.json()["code"] == "guide_group.empty"
    for customer in members:
        ok(client.put(f"/api/v1/workbench/groups/{group['id']}/customers/{customer}", headers=amy_key))
    ok(
        client.put(
            f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 2}, headers=shop.admin
        )
    )

    short = client.post(path, json={"template_id": t["id"]}, headers=amy_key)
    assert short.status_code == 409 and short.json()["code"] == "guide.quota_exhausted"
    assert short.json()["needed"] == 3 and short.json()["left"] == 2

    def held():
        with shop.runtime.db.unit_of_work(write=False) as s:
            quota = s.get(GuideCouponQuota, (shop.merchant_id, t["id"], amy))
            coupons = s.scalar(
                select(func.count())
                .select_from(Coupon)
                .where(Coupon.merchant_id == shop.merchant_id, Coupon.template_id == t["id"])
            )
            return quota.issued, coupons

    assert held() == (0, 0)  # refused whole: nothing issued, no quota taken
    # Ben already holds the one coupon he may have: he is skipped and takes no quota.
    ok(
        client.put(
            f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 4}, headers=shop.admin
        )
    )
    ok(
        client.post(
            "/api/v1/workbench/coupons",
            json={"template_id": t["id"], "customer_id": members[1]},
            headers=amy_key,
        ),
        201,
    )
    headers = {**amy_key, "Idempotency-Key": "vip-week-48"}
    result = ok(client.post(path, json={"template_id": t["id"]}, headers=headers), 201)
    assert {i["customer_id"] for i in result["issued"]} == {members[0], members[2]}
    assert result["skipped"] == [{"customer_id": members[1], "code": "coupon.limit_reached"}]
    assert held() == (3, 3)
    assert ok(client.post(path, json={"template_id": t["id"]}, headers=headers), 201) == result  # a retry
    assert held() == (3, 3)
    mine = ok(client.get("/api/v1/storefront/coupons", headers=bearer(shop.sign_in("ann")["token"])))["items"]
    assert [c["source"] for c in mine] == ["guide"]


def test_concurrent_group_issues_never_pass_the_quota(shop, client, runtime):
    """Two groups given coupons at once, with quota for only one of them: never more coupons
    than the quota, and a group refused or skipped takes no quota."""
    amy, amy_key = make_guide(shop, "Amy")
    t = template(shop, total_stock=1000)
    customers = _bind(shop, amy, *(f"racer-{i}" for i in range(6)))
    group_ids = []
    for n, members in enumerate((customers[:3], customers[3:])):
        group = ok(client.post("/api/v1/workbench/groups", json={"name": f"G{n}"}, headers=amy_key), 201)
        for customer in members:
            ok(client.put(f"/api/v1/workbench/groups/{group['id']}/customers/{customer}", headers=amy_key))
        group_ids.append(group["id"])
    ok(
        client.put(
            f"/api/v1/coupon-templates/{t['id']}/guide-quotas/{amy}", json={"quota": 4}, headers=shop.admin
        )
    )

    def give(group_id):
        try:
            with runtime.db.unit_of_work() as s:
                result = groups.issue_coupons(
                    s,
                    merchant_id=shop.merchant_id,
                    guide_id=amy,
                    group_id=group_id,
                    template_id=t["id"],
                    now=runtime.clock(),
                )
            return len(result["issued"])
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(give, group_ids))
    with runtime.db.unit_of_work(write=False) as s:
        quota = s.get(GuideCouponQuota, (shop.merchant_id, t["id"], amy))
        coupons = s.scalar(
            select(func.count())
            .select_from(Coupon)
            .where(Coupon.merchant_id == shop.merchant_id, Coupon.template_id == t["id"])
        )
    assert 3 in results and quota.issued == coupons <= 4
    assert sum(r for r in results if isinstance(r, int)) == coupons
