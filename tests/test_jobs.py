"""The job queue: an embedded consumer delivers the sandbox notification, on SQLite storage
and (when configured) on Redis storage."""

import time

import pytest
from huey.storage import RedisStorage, SqliteStorage

from shoplet import jobs
from tests.conftest import REDIS_URL
from tests.helpers import ok

STORAGES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=STORAGES)
def queue(request, tmp_path, runtime):
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("SHOPLET_TEST_REDIS_URL is not set")
        storage = RedisStorage("shoplet-test", url=REDIS_URL)
    else:
        storage = SqliteStorage("shoplet-test", filename=str(tmp_path / "jobs.db"))
    storage.flush_all()
    original = jobs.huey.storage
    jobs.huey.storage = storage
    jobs.install(runtime)
    yield storage
    jobs.huey.storage = original
    jobs._runtime = None


def test_embedded_consumer_delivers_notifications(queue, shop, client, runtime):
    if runtime.db.dialect == "postgresql" and isinstance(queue, SqliteStorage):
        pytest.skip("storage x database combinations: one pairing each is enough")
    order = shop.order({"LATTE-T": 1})
    consumer = jobs.start_embedded_consumer(workers=1)
    try:
        shop.pay(order["id"], deliver=False)  # the wallet's commit kicks the dispatcher task
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            status = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["status"]
            if status == "paid":
                break
            time.sleep(0.1)
        assert status == "paid"
    finally:
        consumer.stop(graceful=True)


def test_periodic_sweeps_are_registered():
    names = {name.split(".")[-1] for name in jobs.huey._registry._registry}
    assert {
        "dispatch_outbox_periodic",
        "cancel_unpaid_orders_periodic",
        "reconcile_payments_periodic",
        "retry_refunds_periodic",
        "dispatch_outbox_task",
    } <= names


def test_kicks_are_coalesced_and_the_last_is_never_dropped():
    fired: list[int] = []
    # The clock stands still: every kick but the first falls inside the window.
    kick = jobs.Coalesced(lambda: fired.append(1), window=0.01, clock=lambda: 0.0)
    for _ in range(100):  # a rush of commits: the first fires, the rest wait for one more
        kick()
    assert fired == [1]
    pending = kick._timer
    assert pending is not None
    pending.join()
    assert fired == [1, 1]
    assert kick._timer is None
