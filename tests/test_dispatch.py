"""What a storefront request costs before and around its own work, held in place.

- Routes tried: every API request's first segment after ``/api/v1/`` (under ``storefront``
  the first two) picks, by a dictionary lookup (``app.Audiences``), an application holding
  only the routes under it, so a customer's request tries the same routes however many
  merchant, platform, console or other storefront operations the API has — here 150 more
  of each are added and nothing changes — and a merchant's request tries only its own
  domain's.
- Worker threads: the server bounds them (``SHOPLET_WORKER_THREADS``, 4).
- Thread hops: FastAPI runs every sync dependency and sync endpoint in the thread pool, and
  checks a sync endpoint's answer there again. The dependencies that only read the request
  (database, clock, runtime, role checks) are async, and every route runs its blocking body
  with one hop (``threads.OneHop``). A customer session verified in the last second is
  remembered (``auth.Remembered``), so a claim or a checkout hops once, for the endpoint;
  a session's first request hops for its credential check too.
- Statements: a claim, a checkout and a checkout routing refuses send a fixed number of SQL
  statements; on PostgreSQL their round trips (pings, BEGIN, COMMIT included) are counted
  too: reading units of work run in autocommit there.

Counts, never times: they hold on any machine.
"""

from __future__ import annotations

from contextlib import contextmanager

import anyio.to_thread
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shoplet import pipelined
from shoplet.app import STOREFRONT_ROUTERS, create_app, section_key, sections
from shoplet.coupons import api as coupons_api
from shoplet.webhooks import api as webhooks_api
from tests.helpers import Shop, counting, ok


@contextmanager
def tally(monkeypatch):
    """Counts the API routes tried and the thread-pool hops while the block runs."""
    counts = {"matches": 0, "hops": 0}
    matches = APIRoute.matches
    run_sync = anyio.to_thread.run_sync

    def counted_matches(self, scope):
        counts["matches"] += 1
        return matches(self, scope)

    async def counted_run_sync(func, *args, **kwargs):
        counts["hops"] += 1
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(APIRoute, "matches", counted_matches)
    monkeypatch.setattr(anyio.to_thread, "run_sync", counted_run_sync)
    try:
        yield counts
    finally:
        monkeypatch.undo()


@contextmanager
def round_trips(engine):
    """On PostgreSQL, what the driver sends the server inside the block, one entry per round
    trip: statements, pings, BEGIN, COMMIT and ROLLBACK; a pipeline (``shoplet.pipelined``'s,
    psycopg's for an executemany) is one entry, the statements in it in brackets."""
    sent: list[str] = []
    if engine.dialect.name != "postgresql":
        yield sent
        return
    import psycopg
    from psycopg import _connection_base

    execute, command = psycopg.Cursor.execute, _connection_base.BaseConnection._exec_command
    pipeline_exit = psycopg.Pipeline.__exit__
    piped: list[str] = []

    def counted_execute(self, query, *args, **kwargs):
        (piped if self._conn._pipeline is not None else sent).append(str(query)[:60])
        return execute(self, query, *args, **kwargs)

    def counted_command(self, text, *args, **kwargs):
        said = bytes(text).decode() if isinstance(text, bytes) else str(text)
        (piped if self._pipeline is not None else sent).append(said)
        return command(self, text, *args, **kwargs)

    def counted_exit(self, *args):
        sent.append(f"[{' | '.join(piped)}]")
        piped.clear()
        return pipeline_exit(self, *args)

    together = pipelined.send_together

    def counted_together(driver, statements):
        sent.append(f"[{' | '.join(sql[:60] for sql, _ in statements)}]")
        return together(driver, statements)

    psycopg.Cursor.execute = counted_execute
    _connection_base.BaseConnection._exec_command = counted_command
    psycopg.Pipeline.__exit__ = counted_exit
    pipelined.send_together = counted_together
    try:
        yield sent
    finally:
        psycopg.Cursor.execute, _connection_base.BaseConnection._exec_command = execute, command
        psycopg.Pipeline.__exit__ = pipeline_exit
        pipelined.send_together = together


def _storefront_routes(key: str) -> int:
    return sum(
        1 for router in STOREFRONT_ROUTERS for route in router.routes if section_key(route.path) == key
    )


def test_storefront_routes_tried_do_not_grow_with_the_api(shop: Shop, runtime, monkeypatch):
    def tried(client: TestClient) -> int:
        with tally(monkeypatch) as counts:
            ok(client.get("/api/v1/storefront/me", headers=shop.customer))
            ok(client.get(f"/api/v1/storefront/orders/{order['id']}", headers=shop.customer))
        return counts["matches"]

    order = shop.order({"LATTE-T": 1}, key="seen")
    before = tried(shop.client)
    # a customer's order tries the operations under /storefront/orders, not the storefront's
    # fifty others (FastAPI asks a route more than once per request: three times at most)
    held = _storefront_routes("storefront/me") + _storefront_routes("storefront/orders")
    assert 0 < before <= 3 * held <= 3 * 8

    bigger = create_app(runtime)
    extra = APIRouter(prefix="/api/v1")
    for n in range(150):
        extra.add_api_route(f"/extra-{n}/{{item_id}}", lambda item_id: {"item": item_id}, methods=["GET"])
    storefront = APIRouter(prefix="/storefront")
    for n in range(150):
        storefront.add_api_route(f"/more-{n}/{{item_id}}", lambda item_id: {"more": item_id}, methods=["GET"])
    bigger.state.sections.update(sections(runtime, [storefront]))
    bigger.include_router(extra)
    with TestClient(bigger) as client:
        assert tried(client) == before
        assert ok(client.get("/api/v1/extra-149/x")) == {"item": "x"}  # the merchant side still serves them
        assert ok(client.get("/api/v1/storefront/more-149/x")) == {"more": "x"}
        # and the bound on worker threads is the server's, once it has started
        assert client.portal.call(_thread_limit) == runtime.settings.worker_threads == 4


async def _thread_limit() -> float:
    return anyio.to_thread.current_default_thread_limiter().total_tokens


def test_a_merchant_request_tries_only_its_own_domains_routes(shop: Shop, monkeypatch):
    # webhooks are registered last among the merchant's domains: before sections, a call
    # tried every other domain's routes first
    with tally(monkeypatch) as counts:
        ok(shop.client.get("/api/v1/webhooks/endpoints", headers=shop.admin))
    assert 0 < counts["matches"] <= len(webhooks_api.router.routes)
    with tally(monkeypatch) as counts:
        ok(shop.client.get("/api/v1/coupon-templates", headers=shop.admin))
    assert 0 < counts["matches"] <= len(coupons_api.router.routes)


def test_every_documented_operation_is_served_by_its_section(shop: Shop):
    app = shop.client.app
    app = getattr(app, "app", app)  # the problem log's wrapper, when the suite runs with it
    sections = app.state.sections
    paths = {path for path in app.openapi()["paths"] if path != "/api/v1/health"}
    assert len(paths) > 100
    for path in paths:  # each operation reaches the section its first segment picks
        section = sections[section_key(path.removeprefix("/api/v1"))]
        assert path in section.app.openapi()["paths"], path
    # the fallback still answers what no section holds, with the API's problem
    missing = shop.client.get("/api/v1/no-such-thing", headers=shop.admin)
    assert missing.status_code == 404 and missing.json()["code"] == "http.not_found"
    wrong = shop.client.put("/api/v1/coupon-templates", headers=shop.admin)
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]


def test_a_claim_and_a_checkout_hop_threads_only_for_their_own_work(shop: Shop, monkeypatch):
    # A pooled connection that rested 2 s is pinged on its way out (db.ping_when_idle, tested on
    # its own): on a loaded machine the pool's oldest one may have, and its ping is no part of
    # what a request costs. The pool hands connections out oldest first.
    monkeypatch.setattr("shoplet.db.PING_AFTER_IDLE", 3600.0)
    client = shop.client
    template = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={
                "name": "¥5 off",
                "kind": "cash",
                "off": 500,
                "validity": "relative",
                "valid_days": 7,
                "total_stock": 10,
                "per_customer_limit": 5,
            },
            headers=shop.admin,
        ),
        201,
    )
    shop.stock(shop.store_id, "LATTE-T", 10)
    body = {"template_id": template["id"]}
    ok(client.post("/api/v1/storefront/coupons", json=body, headers=shop.customer), 201)  # warm
    engine = shop.runtime.db.engine
    with counting(engine) as claim_statements, tally(monkeypatch) as claim, round_trips(engine) as trips:
        ok(client.post("/api/v1/storefront/coupons", json=body, headers=shop.customer), 201)
    shop.order({"LATTE-T": 1}, key="warm")
    with (
        counting(engine) as order_statements,
        tally(monkeypatch) as order,
        round_trips(engine) as order_trips,
    ):
        shop.order({"LATTE-T": 1}, key="counted")  # as a mini program sends it
    # refused by routing (the store has 8 left): where it could come from, the basket with
    # its stock there, and whether the key answered an earlier request; nothing else is read
    with counting(engine) as refused_statements, round_trips(engine) as refused_trips:
        shop.order({"LATTE-T": 50}, key="too-many", status=422)
    # the endpoint only (its answer is checked on the event loop): the customer's session was
    # verified a moment ago, and is remembered for a second
    assert claim["hops"] == 1, claim
    assert order["hops"] == 1, order
    # a session's first request hops for its credential check too
    newcomer = {"Authorization": f"Bearer {shop.sign_in('newcomer')['token']}"}
    with tally(monkeypatch) as first:
        ok(client.post("/api/v1/storefront/coupons", json=body, headers=newcomer), 201)
    assert first["hops"] == 2, first
    # the whole transaction of each, credential check included (see the README's figures)
    assert len(claim_statements) <= CLAIM_STATEMENTS[shop.runtime.db.dialect], claim_statements
    if shop.runtime.db.dialect == "postgresql":
        # and every round trip to the server: the template's read (autocommit, and no ping for
        # a connection used a moment ago; the session is remembered), then the write in one
        # pipeline (BEGIN, the counter, the coupon, its event, the template's UPDATE last) and
        # COMMIT (it was eight round trips)
        assert len(trips) <= 3, "\n".join(trips)
        # the reading units of work run in autocommit and their reads go in two pipelines
        # (what routing needs; then the customer's terms, the promotions and the coupons);
        # the writes in two (the order with its fulfilment's insert, whose RETURNING says its
        # pickup code was free; then everything else) and COMMIT
        assert len(order_trips) <= ORDER_TRIPS, "\n".join(order_trips)
        # routing's reads, and whether the key answered an earlier request
        assert len(refused_trips) <= REFUSED_TRIPS, "\n".join(refused_trips)
    assert len(order_statements) <= ORDER_STATEMENTS[shop.runtime.db.dialect], order_statements
    assert len(refused_statements) <= REFUSED_STATEMENTS[shop.runtime.db.dialect], refused_statements


CLAIM_STATEMENTS = {"sqlite": 7, "postgresql": 6}  # not gated: one transaction
# with its Idempotency-Key; on PostgreSQL the key's record is read with routing's reads
# (whether the request is refused is not known yet), on SQLite only when it is refused
ORDER_STATEMENTS = {"sqlite": 16, "postgresql": 15}
ORDER_TRIPS = 5  # on PostgreSQL, where reads and writes go in pipelines (was 16)
REFUSED_TRIPS = 1  # (was 3)
REFUSED_STATEMENTS = {"sqlite": 4, "postgresql": 3}  # a checkout routing refuses (SQLite: BEGIN too)


@pytest.fixture(autouse=True)
def _no_leak(monkeypatch):
    yield
    monkeypatch.undo()


def test_a_delivery_checkout_reads_the_time_zone_with_the_locations(shop: Shop):
    """The slot asked for is checked in the merchant's time zone, read by the statement that
    reads the locations: a delivery checkout sends none of its own to ``merchants``, and
    costs a pickup's statements plus the slot's booking."""
    from tests.orders.test_fulfilment import NEAR, _delivery

    slots = _delivery(shop, slot_capacity=5)
    engine = shop.runtime.db.engine
    body = {"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}]}
    delivery = {"mode": "delivery", "slot_start": slots[0]["start"], "address": NEAR}
    ok(client_post(shop, {**body, "fulfilment": delivery}, "warm"), 201)
    with counting(engine) as pickup:
        ok(client_post(shop, body, "pickup"), 201)
    with counting(engine) as delivered:
        ok(client_post(shop, {**body, "fulfilment": delivery}, "delivery"), 201)
    assert not [s for s in delivered if "FROM merchants" in s and "stock_locations" not in s], delivered
    assert len(delivered) <= len(pickup) + 1, (pickup, delivered)


def client_post(shop: Shop, body: dict, key: str):
    headers = {**shop.customer, "Idempotency-Key": key}
    return shop.client.post("/api/v1/storefront/orders", json=body, headers=headers)
