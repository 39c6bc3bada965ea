"""Flash buys through the Redis gate: Redis refuses the rush, the database stays the record
(an admitted buy it refuses gives the units back), and reconciliation heals drift."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.campaigns import flash
from shoplet.campaigns.models import FlashItem
from shoplet.errors import ShopletError
from shoplet.orders.models import Order
from shoplet.orders.pricing import EnginePricer
from tests.campaigns.helpers import customers
from tests.campaigns.test_flash import flash_sale
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis


@pytest.fixture
def gate():
    if not REDIS_URL:
        pytest.skip("SHOPLET_TEST_REDIS_URL is not set")
    gate = flash.FlashGate(REDIS_URL, prefix=f"test-flash:{uuid.uuid4().hex}")
    yield gate
    for key in gate.redis.scan_iter(match=f"{gate.prefix}:*"):
        gate.redis.delete(key)


def _buy(runtime, gate, shop, item_id, customer_id):
    try:
        flash.buy(
            runtime.db,
            merchant_id=shop.merchant_id,
            customer_id=customer_id,
            scope=f"customer:{customer_id}",
            request=flash.Buy(item_id=item_id, quantity=1, location_id=shop.warehouse_id),
            pricer=EnginePricer(),
            gate=gate,
            host_app="alipay",
            scene=None,
            now=runtime.clock(),
            idempotency_key=None,
            payload={},
        )
        return "ok"
    except ShopletError as error:
        return error.code


@pytest.mark.parametrize(("buyers", "expected"), [(20, 25), (8, 16)], ids=["stock-binds", "limit-binds"])
def test_a_rush_through_the_gate_sells_exactly(shop, runtime, gate, buyers, expected):
    shop.stock(shop.warehouse_id, "BEANS", 1000)
    sale = flash_sale(
        shop, per_customer_limit=2, items=[{"sku_id": shop.skus["BEANS"], "price": 990, "stock": 25}]
    )
    item_id = sale["items"][0]["id"]
    ids = [c["id"] for c in customers(shop, buyers, f"gate{buyers}")]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _buy(runtime, gate, shop, item_id, ids[i % len(ids)]), range(100)))
    assert results.count("ok") == expected
    assert set(results) <= {"ok", "flash.sold_out", "flash.over_limit"}
    with runtime.db.unit_of_work(write=False) as s:
        assert s.get(FlashItem, (shop.merchant_id, item_id)).sold == expected
        per = s.execute(
            select(Order.customer_id, func.count())
            .where(Order.campaign_ref == item_id)
            .group_by(Order.customer_id)
        ).all()
    assert all(n <= 2 for _, n in per)
    left = int(gate.redis.get(gate.keys(shop.merchant_id, item_id, "x")[0]))
    assert left == 25 - expected


def test_units_back_from_unpaid_orders_reach_the_gate_by_reconciliation(shop, runtime, gate, clock):
    shop.stock(shop.warehouse_id, "BEANS", 1000)
    sale = flash_sale(
        shop, per_customer_limit=1, items=[{"sku_id": shop.skus["BEANS"], "price": 990, "stock": 2}]
    )
    item_id = sale["items"][0]["id"]
    a, b, c = (x["id"] for x in customers(shop, 3, "rec"))
    assert [_buy(runtime, gate, shop, item_id, x) for x in (a, b, c)] == ["ok", "ok", "flash.sold_out"]
    clock.advance(minutes=6)  # neither pays: the flash stock comes back in the database
    sweeps.cancel_unpaid_orders(runtime)
    assert _buy(runtime, gate, shop, item_id, c) == "flash.sold_out"  # Redis has not heard yet
    flash.reconcile_gate(runtime.db, gate, now=runtime.clock())
    assert _buy(runtime, gate, shop, item_id, c) == "ok"
    assert _buy(runtime, gate, shop, item_id, a) == "ok"  # a's limit came back too
