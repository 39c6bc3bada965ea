"""Real threads against the real database: stock is never oversold, a key never makes two orders."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from shoplet.db import utcnow
from shoplet.errors import ShopletError
from shoplet.idempotency import run as run_idempotent
from shoplet.inventory.models import StockLevel
from shoplet.orders import checkout
from shoplet.orders.models import Order
from shoplet.orders.pricing import EnginePricer

THREADS = 8


def _checkout(db, shop, customer_id, quantity):
    with db.unit_of_work() as s:
        placed = checkout.checkout(
            s,
            merchant_id=shop.merchant_id,
            customer_id=customer_id,
            location_id=shop.store_id,
            items=[(shop.skus["BEANS"], quantity)],
            pricer=EnginePricer(),
            host_app="alipay",
            scene=None,
            note="",
            timeout=timedelta(minutes=15),
            now=utcnow(),
        )
        return placed.order.id


def test_concurrent_checkouts_never_oversell(shop, runtime):
    db = runtime.db
    shop.stock(shop.store_id, "BEANS", 25)
    customers = [shop.sign_in(f"buyer-{i}")["customer_id"] for i in range(THREADS)]
    attempts = [(customers[i % THREADS], 1 + i % 3) for i in range(60)]

    def attempt(args):
        try:
            return _checkout(db, shop, *args)
        except ShopletError as exc:
            assert exc.code == "stock.insufficient"
            return None

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(attempt, attempts))
    placed = [r for r in results if r]
    assert placed, "some orders went through"
    with db.unit_of_work(write=False) as s:
        level = s.get(StockLevel, (shop.merchant_id, shop.store_id, shop.skus["BEANS"]))
        ordered = (
            s.scalar(
                select(func.coalesce(func.sum(Order.total), 0)).where(Order.merchant_id == shop.merchant_id)
            )
            // shop.prices["BEANS"]
        )
    assert level.reserved == ordered <= level.on_hand == 25
    assert level.on_hand - level.reserved < 3 or len(placed) == len(attempts)


def test_concurrent_requests_with_one_key_make_one_order(shop, runtime):
    db = runtime.db

    def work(s):
        placed = checkout.checkout(
            s,
            merchant_id=shop.merchant_id,
            customer_id=shop.customer_id,
            location_id=shop.store_id,
            items=[(shop.skus["LATTE-T"], 1)],
            pricer=EnginePricer(),
            host_app=None,
            scene=None,
            note="",
            timeout=timedelta(minutes=15),
            now=utcnow(),
        )
        return 201, {"order_id": placed.order.id}

    def attempt(_):
        return run_idempotent(
            db,
            merchant_id=shop.merchant_id,
            scope=f"customer:{shop.customer_id}",
            key="double-tap",
            operation="checkout",
            payload={"x": 1},
            work=work,
        )[1]["order_id"]

    with ThreadPoolExecutor(THREADS) as pool:
        ids = set(pool.map(attempt, range(THREADS * 2)))
    assert len(ids) == 1
    with db.unit_of_work(write=False) as s:
        assert s.get(StockLevel, (shop.merchant_id, shop.store_id, shop.skus["LATTE-T"])).reserved == 1
