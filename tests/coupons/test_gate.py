"""The Redis gate (limited-stock claims at flash scale): Redis refuses most attempts, the database stays the
record, refusals in the database give the slot back, reconciliation heals drift."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from shoplet.coupons import claims
from shoplet.coupons.gate import RedisGate
from shoplet.coupons.models import Coupon, CouponTemplate
from shoplet.errors import ShopletError
from tests.conftest import REDIS_URL
from tests.coupons.test_coupons import template
from tests.helpers import ok

pytestmark = pytest.mark.redis


@pytest.fixture
def gate():
    if not REDIS_URL:
        pytest.skip("SHOPLET_TEST_REDIS_URL is not set")
    gate = RedisGate(REDIS_URL, prefix=f"test-gate:{uuid.uuid4().hex}")
    yield gate
    for key in gate.redis.scan_iter(match=f"{gate.prefix}:*"):
        gate.redis.delete(key)


def _claim(runtime, gate, shop, template_id, customer_id):
    try:
        with runtime.db.unit_of_work(write=False) as s:
            fresh = s.get(CouponTemplate, (shop.merchant_id, template_id))
        claims.claim_through_gate(
            runtime.db, gate, template=fresh, customer_id=customer_id, now=runtime.clock()
        )
        return "ok"
    except ShopletError as exc:
        return exc.code


@pytest.mark.parametrize("customers, expected", [(20, 25), (8, 16)], ids=["stock-binds", "limit-binds"])
def test_concurrent_claims_through_the_gate(shop, runtime, gate, customers, expected):
    t = template(shop, total_stock=25, per_customer_limit=2)
    ids = [shop.sign_in(f"gate-{customers}-{i}")["customer_id"] for i in range(customers)]
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: _claim(runtime, gate, shop, t["id"], ids[i % len(ids)]), range(100))
        )
    assert results.count("ok") == expected
    assert set(results) <= {"ok", "coupon.sold_out", "coupon.limit_reached"}
    with runtime.db.unit_of_work(write=False) as s:
        held = dict(
            s.execute(
                select(Coupon.customer_id, func.count())
                .where(Coupon.merchant_id == shop.merchant_id, Coupon.template_id == t["id"])
                .group_by(Coupon.customer_id)
            ).all()
        )
        assert sum(held.values()) == expected and max(held.values()) <= 2
        issued = s.get(CouponTemplate, (shop.merchant_id, t["id"])).issued_count
    stock_key = gate.keys(shop.merchant_id, t["id"], "-", "-")[0]
    assert int(gate.redis.get(stock_key)) == 25 - issued


def test_a_database_refusal_gives_the_slot_back(shop, runtime, gate):
    t = template(shop, total_stock=10, budget=1000)  # face 500: the budget allows two
    results = [_claim(runtime, gate, shop, t["id"], shop.customer_id) for _ in range(4)]
    assert results == ["ok", "ok", "coupon.budget_exhausted", "coupon.budget_exhausted"]
    stock_key = gate.keys(shop.merchant_id, t["id"], "-", "-")[0]
    assert int(gate.redis.get(stock_key)) == 8


def test_reconciliation_restores_the_gate_from_the_database(shop, runtime, gate):
    t = template(shop, total_stock=5)
    assert _claim(runtime, gate, shop, t["id"], shop.customer_id) == "ok"
    stock_key = gate.keys(shop.merchant_id, t["id"], "-", "-")[0]
    gate.redis.set(stock_key, 0)  # drift: a lost compensation
    assert _claim(runtime, gate, shop, t["id"], shop.customer_id) == "coupon.sold_out"
    claims.reconcile_gate(runtime.db, gate)
    assert int(gate.redis.get(stock_key)) == 4
    assert _claim(runtime, gate, shop, t["id"], shop.customer_id) == "ok"


def test_the_claim_route_uses_the_gate(shop, client, runtime, gate):
    runtime.coupon_gate = gate
    t = template(shop, total_stock=1)
    ok(client.post("/api/v1/storefront/coupons", json={"template_id": t["id"]}, headers=shop.customer), 201)
    again = client.post("/api/v1/storefront/coupons", json={"template_id": t["id"]}, headers=shop.customer)
    assert again.status_code == 409 and again.json()["code"] == "coupon.sold_out"
    assert gate.redis.get(gate.keys(shop.merchant_id, t["id"], "-", "-")[0]) == b"0"


def test_a_template_paused_a_moment_ago_is_refused_as_paused_through_the_gate(shop, client, runtime, gate):
    runtime.coupon_gate = gate
    t = template(shop, total_stock=5)
    ok(client.post("/api/v1/storefront/coupons", json={"template_id": t["id"]}, headers=shop.customer), 201)
    ok(client.post(f"/api/v1/coupon-templates/{t['id']}/pause", headers=shop.admin))
    paused = client.post("/api/v1/storefront/coupons", json={"template_id": t["id"]}, headers=shop.customer)
    assert paused.status_code == 409 and paused.json()["code"] == "coupon.not_claimable"
    assert gate.redis.get(gate.keys(shop.merchant_id, t["id"], "-", "-")[0]) == b"4"  # the slot came back
