"""Coupons: claim within stock and limits, redeem at checkout, verify in store."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.coupons import claims, service
from shoplet.coupons.models import Coupon, CouponClaimCount, CouponTemplate
from shoplet.errors import ShopletError
from shoplet.outbox import OutboxEvent
from tests.helpers import bearer, counting, ok


def template(shop, **body):
    body = {"name": "¥5 off", "kind": "cash", "off": 500, "validity": "relative", "valid_days": 7, **body}
    return ok(shop.client.post("/api/v1/coupon-templates", json=body, headers=shop.admin), 201)


def claim(shop, template_id, customer=None, status=201):
    return ok(
        shop.client.post(
            "/api/v1/storefront/coupons", json={"template_id": template_id}, headers=customer or shop.customer
        ),
        status,
    )


def test_claim_from_the_coupon_centre_and_hold_it(shop, client):
    t = template(shop, total_stock=10, per_customer_limit=2)
    assert t["id"] in [
        x["id"] for x in ok(client.get("/api/v1/storefront/coupon-centre", headers=shop.customer))
    ]
    coupon = claim(shop, t["id"])
    assert coupon["status"] == "available" and coupon["kind"] == "cash" and len(coupon["code"]) == 16
    claim(shop, t["id"])
    limited = claim(shop, t["id"], status=409)
    assert limited["code"] == "coupon.limit_reached"
    mine = ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
    assert len(mine) == 2
    assert ok(client.get(f"/api/v1/coupon-templates/{t['id']}", headers=shop.admin))["issued_count"] == 2


def test_every_refusal_is_a_clear_4xx_and_takes_nothing(shop, client, runtime, clock):
    sold = template(shop, total_stock=1)
    claim(shop, sold["id"])
    other = bearer(shop.sign_in("someone")["token"])
    assert claim(shop, sold["id"], other, status=409)["code"] == "coupon.sold_out"
    later = template(shop, claim_starts_at=(clock() + timedelta(days=1)).isoformat())
    assert claim(shop, later["id"], status=422)["code"] == "coupon.not_yet_claimable"
    ended = template(shop, claim_ends_at=(clock() - timedelta(seconds=1)).isoformat())
    assert claim(shop, ended["id"], status=422)["code"] == "coupon.claim_ended"
    members = template(shop, audience={"kind": "members"})
    assert claim(shop, members["id"], status=403)["code"] == "coupon.not_eligible"
    daily = template(shop, per_day_limit=1)
    claim(shop, daily["id"])
    assert claim(shop, daily["id"], status=409)["code"] == "coupon.daily_limit_reached"
    clock.advance(days=1)
    claim(shop, daily["id"])
    paused = template(shop)
    ok(client.post(f"/api/v1/coupon-templates/{paused['id']}/pause", headers=shop.admin))
    assert claim(shop, paused["id"], status=409)["code"] == "coupon.not_claimable"
    budget = template(shop, budget=1000)
    claim(shop, budget["id"])
    claim(shop, budget["id"])
    assert claim(shop, budget["id"], status=409)["code"] == "coupon.budget_exhausted"
    assert claim(shop, "cpt_nope", status=404)["code"] == "coupon.not_found"
    with runtime.db.unit_of_work(write=False) as s:
        for t, issued in (
            (sold, 1),
            (later, 0),
            (ended, 0),
            (members, 0),
            (daily, 2),
            (paused, 0),
            (budget, 2),
        ):
            assert s.get(CouponTemplate, (shop.merchant_id, t["id"])).issued_count == issued, t["name"]


@pytest.mark.parametrize("customers, expected", [(20, 25), (8, 16)], ids=["stock-binds", "limit-binds"])
def test_concurrent_claims_never_exceed_stock_or_limits(shop, runtime, customers, expected):
    """Real threads against the real database: 80 attempts for 25 coupons, at most 2 each.
    With 20 customers the stock runs out first; with 8 the per-customer limit does (8 × 2 = 16)."""
    db = runtime.db
    t = template(shop, total_stock=25, per_customer_limit=2)
    ids = [shop.sign_in(f"rush-{customers}-{i}")["customer_id"] for i in range(customers)]

    def attempt(i):
        try:
            with db.unit_of_work() as s:
                service.claim(
                    s,
                    merchant_id=shop.merchant_id,
                    template_id=t["id"],
                    customer_id=ids[i % len(ids)],
                    now=runtime.clock(),
                )
            return "ok"
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(80)))
    assert results.count("ok") == expected
    assert set(results) <= {"ok", "coupon.sold_out", "coupon.limit_reached"}
    with db.unit_of_work(write=False) as s:
        held = dict(
            s.execute(
                select(Coupon.customer_id, func.count())
                .where(Coupon.merchant_id == shop.merchant_id, Coupon.template_id == t["id"])
                .group_by(Coupon.customer_id)
            ).all()
        )
        assert sum(held.values()) == expected and max(held.values()) <= 2
        assert s.get(CouponTemplate, (shop.merchant_id, t["id"])).issued_count == expected
        counts = dict(
            s.execute(
                select(CouponClaimCount.customer_id, CouponClaimCount.claimed).where(
                    CouponClaimCount.template_id == t["id"]
                )
            ).all()
        )
        assert counts == held


def test_checkout_uses_the_best_coupon_and_the_lifecycle_follows_the_order(shop, client, runtime, clock):
    small = template(shop, name="¥5 off")
    big = template(shop, name="¥20 off ¥100", kind="threshold", threshold=10000, off=2000)
    c_small, c_big = claim(shop, small["id"]), claim(shop, big["id"])
    quote = ok(
        client.post(
            "/api/v1/storefront/quote",
            json={"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 2}]},
            headers=shop.customer,
        )
    )
    assert quote["total"] == 2 * 8899 - 2000
    assert {c["id"]: c["applied"] for c in quote["coupons"]} == {c_small["id"]: False, c_big["id"]: True}
    order = shop.order({"BEANS": 2})
    assert order["total"] == 2 * 8899 - 2000 and order["pricing"]["coupons"][0]["id"] == c_big["id"]

    def status(coupon):
        return next(
            c
            for c in ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
            if c["id"] == coupon["id"]
        )["status"]

    assert status(c_big) == "locked" and status(c_small) == "available"
    ok(client.post(f"/api/v1/storefront/orders/{order['id']}/cancel", headers=shop.customer))
    assert status(c_big) == "available"
    paid = shop.paid_order({"BEANS": 2})
    assert status(c_big) == "used"
    # A partial refund keeps the coupon used; refunding the rest returns it (still valid).
    line = paid["lines"][0]
    ok(
        client.post(
            f"/api/v1/orders/{paid['id']}/refunds",
            json={"lines": [{"line_id": line["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    assert status(c_big) == "used"
    ok(client.post(f"/api/v1/orders/{paid['id']}/refunds", json={}, headers=shop.admin), 201)
    assert status(c_big) == "available"
    figures = ok(client.get(f"/api/v1/coupon-templates/{big['id']}/figures", headers=shop.admin))
    assert figures["issued"] == 1 and figures["claimed"] == 1


def test_chosen_coupons_and_refused_choices(shop, client):
    small = claim(shop, template(shop)["id"])
    claim(shop, template(shop, name="¥20 off", off=2000)["id"])
    chosen = ok(
        client.post(
            "/api/v1/storefront/orders",
            json={
                "location_id": shop.store_id,
                "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
                "coupon_ids": [small["id"]],
            },
            headers=shop.customer,
        ),
        201,
    )
    assert chosen["discount"] == 500
    refused = client.post(
        "/api/v1/storefront/orders",
        json={
            "location_id": shop.store_id,
            "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
            "coupon_ids": [small["id"]],
        },
        headers=shop.customer,
    )  # already locked by the first order
    assert refused.status_code == 422 and refused.json()["code"] == "order.coupons_invalid"
    none = ok(
        client.post(
            "/api/v1/storefront/orders",
            json={
                "location_id": shop.store_id,
                "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
                "coupon_ids": [],
            },
            headers=shop.customer,
        ),
        201,
    )
    assert none["discount"] == 0


def test_in_store_verification_once_at_stores_in_scope(shop, client, runtime):
    here = claim(shop, template(shop, store_ids=[shop.store_id])["id"])
    there = claim(shop, template(shop, store_ids=[shop.store2_id])["id"])
    code = here["code"].lower().replace("-", " ")  # read out loud, typed loosely
    preview = ok(client.get(f"/api/v1/coupons/by-code/{here['code']}", headers=shop.clerk))
    assert preview["id"] == here["id"]
    verified = ok(client.post("/api/v1/coupons/verify", json={"code": code}, headers=shop.clerk))
    assert verified["status"] == "used" and verified["verified_store_id"] == shop.store_id
    again = client.post("/api/v1/coupons/verify", json={"code": here["code"]}, headers=shop.clerk)
    assert again.status_code == 409 and again.json()["code"] == "coupon.already_used"
    wrong = client.post("/api/v1/coupons/verify", json={"code": there["code"]}, headers=shop.clerk)
    assert wrong.status_code == 422 and wrong.json()["code"] == "coupon.wrong_store"
    typo = here["code"][:-1] + ("0" if here["code"][-1] != "0" else "1")
    bad = client.post("/api/v1/coupons/verify", json={"code": typo}, headers=shop.clerk)
    assert bad.status_code == 422 and bad.json()["code"] == "coupon.code_invalid"
    assert (
        client.post("/api/v1/coupons/verify", json={"code": here["code"]}, headers=shop.admin).status_code
        == 403
    )
    reversed_ = ok(client.post(f"/api/v1/coupons/{here['id']}/reverse-verification", headers=shop.admin))
    assert reversed_["status"] == "available"
    assert (
        client.post(f"/api/v1/coupons/{here['id']}/reverse-verification", headers=shop.clerk).status_code
        == 403
    )


def test_concurrent_verifications_exactly_one_wins(shop, runtime):
    from shoplet.coupons import redemption

    coupon = claim(shop, template(shop)["id"])

    def attempt(_):
        try:
            with runtime.db.unit_of_work() as s:
                redemption.verify(
                    s,
                    merchant_id=shop.merchant_id,
                    code=coupon["code"],
                    store_id=shop.store_id,
                    staff_id=None,
                    now=runtime.clock(),
                )
            return "won"
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count("won") == 1 and set(results) == {"won", "coupon.already_used"}


def test_expiry_sweep_and_reminders(shop, client, runtime, clock):
    coupon = claim(shop, template(shop, valid_days=2)["id"])
    sweeps.coupon_lifecycle(runtime)
    with runtime.db.unit_of_work(write=False) as s:
        events = s.scalars(
            select(OutboxEvent).where(
                OutboxEvent.merchant_id == shop.merchant_id, OutboxEvent.topic == "coupon.expiring"
            )
        ).all()
        assert [e.payload["coupon_id"] for e in events] == [coupon["id"]]
    sweeps.coupon_lifecycle(runtime)  # reminded once only
    clock.advance(days=3)
    sweeps.coupon_lifecycle(runtime)
    with runtime.db.unit_of_work(write=False) as s:
        assert s.get(Coupon, (shop.merchant_id, coupon["id"])).status == "expired"
        assert (
            s.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.merchant_id == shop.merchant_id, OutboxEvent.topic == "coupon.expiring")
            )
            == 1
        )
    expired = client.post("/api/v1/coupons/verify", json={"code": coupon["code"]}, headers=shop.clerk)
    assert expired.status_code == 422 and expired.json()["code"] == "coupon.expired"


def test_public_discount_code_and_template_edits(shop, client):
    t = template(shop, public_code="welcome5", per_customer_limit=1)
    coupon = ok(
        client.post(
            "/api/v1/storefront/coupons/redeem-code", json={"code": "WELCOME5"}, headers=shop.customer
        ),
        201,
    )
    assert coupon["source"] == "code" and coupon["template_version"] == 1
    unknown = client.post(
        "/api/v1/storefront/coupons/redeem-code", json={"code": "nope"}, headers=shop.customer
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "coupon.code_unknown"
    edited = ok(
        client.patch(
            f"/api/v1/coupon-templates/{t['id']}", json={"per_customer_limit": 3}, headers=shop.admin
        )
    )
    assert edited["version"] == 2
    mine = ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"][0]
    assert mine["template_version"] == 1
    refused = client.post(
        "/api/v1/coupon-templates",
        json={
            "name": "x",
            "kind": "percent",
            "percent_off": 10,
            "validity": "relative",
            "valid_days": 3,
            "budget": 100,
        },
        headers=shop.admin,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "coupon.budget_needs_cap"


def test_refusals_read_once_and_write_nothing(shop, client, runtime):
    """In a rush most claims are refused: sold out, paused or over budget is answered from
    one read, without a write transaction (on SQLite no writer lock taken)."""
    sold = template(shop, total_stock=1)
    claim(shop, sold["id"])
    paused = template(shop)
    ok(client.post(f"/api/v1/coupon-templates/{paused['id']}/pause", headers=shop.admin))
    budget = template(shop, budget=500)
    claim(shop, budget["id"])
    other = bearer(shop.sign_in("latecomer")["token"])
    for i, (t, code) in enumerate(
        ((sold, "coupon.sold_out"), (paused, "coupon.not_claimable"), (budget, "coupon.budget_exhausted"))
    ):
        with counting(runtime.db.engine) as statements:
            assert claim(shop, t["id"], other, status=409)["code"] == code
        writes = [x for x in statements if not x.lstrip().upper().startswith("SELECT")]
        assert writes == [], writes
        # the template; and the customer's credential the first time (then remembered a second)
        assert len(statements) == (2 if i == 0 else 1), statements
    with counting(runtime.db.engine) as statements:  # one that goes through still writes
        open_one = template(shop, total_stock=5)
        statements.clear()
        claim(shop, open_one["id"], other)
    assert any(x.lstrip().upper().startswith("INSERT") for x in statements)


def test_a_gated_claim_on_a_sold_out_template_does_not_ask_the_gate(shop, runtime):
    """Issued coupons never go back to stock: sold out in the database (as the gated path's
    template read says) is answered without a Redis round trip."""

    class NoGate:
        def take(self, **_):
            raise AssertionError("the gate was asked")

    t = template(shop, total_stock=1)
    claim(shop, t["id"])
    with runtime.db.unit_of_work(write=False) as s:
        fresh = s.get(CouponTemplate, (shop.merchant_id, t["id"]))
    with pytest.raises(ShopletError) as refused:
        claims.claim_through_gate(
            runtime.db, NoGate(), template=fresh, customer_id=shop.customer_id, now=runtime.clock()
        )
    assert refused.value.code == "coupon.sold_out"
