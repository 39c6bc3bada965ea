"""Checkout benchmark (issue 6): the real server on loopback, concurrent customers checking
out pickup and delivery orders against scarce store stock, routed to the warehouse.

Per backend (SQLite; PostgreSQL when SHOPLET_TEST_DATABASE_URL is set): migrate, start
``shoplet serve``, create a merchant with a warehouse and four stores that deliver, a few
SKUs with little stock in each store and more (not unlimited) in the warehouse, and sign
in many customers. Then each customer checks out at their store, half for pickup and half for delivery in a
slot: when the store lacks a line the answer is ``stock.insufficient`` with routing
options, and the customer takes the split (missing lines express from the warehouse) or
the whole order from the warehouse — as a customer would before paying. A full slot makes
them take the next one; a slot that passed during the run makes them list the slots again.
The customers check out in turns with the baseline, the same server's /api/v1/health rate
with the same client (a quarter of each at a time: ``harness.paired``). Afterwards the
database is read back: no level negative, reserved never above on hand, and each
location's reserved units exactly the open orders' units.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

from harness import PLATFORM_KEY, Server, fresh_postgres, paired
from shoplet.db import Database
from shoplet.inventory.models import StockLevel
from shoplet.migrate import upgrade
from shoplet.orders.models import Fulfilment, Order, OrderLine

STORES = 4
SKUS = 6
CENTRE = (31.2304, 121.4737)


def setup(http: httpx.Client, args) -> dict:
    merchant = http.post(
        "/api/v1/platform/merchants",
        json={"name": "Light store"},
        headers={"Authorization": f"Bearer {PLATFORM_KEY}"},
    ).json()
    admin = {"Authorization": f"Bearer {merchant['api_key']}"}
    warehouse = http.post(
        "/api/v1/stores",
        headers=admin,
        json={
            "kind": "warehouse",
            "code": "WH",
            "name": "Flagship warehouse",
            "fulfilment": {"express_fee": 800},
        },
    ).json()
    stores = []
    for n in range(STORES):
        stores.append(
            http.post(
                "/api/v1/stores",
                headers=admin,
                json={
                    "kind": "store",
                    "code": f"S{n}",
                    "name": f"Store {n}",
                    "latitude": CENTRE[0] + n * 0.01,
                    "longitude": CENTRE[1],
                    "opening_hours": {
                        d: ["00:00", "24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                    },
                    "fulfilment": {
                        "delivery_radius_m": 5000,
                        "delivery_fee": 500,
                        "slot_minutes": 60,
                        "slot_capacity": args.slot_capacity,
                        "lead_minutes": 0,
                        "days_ahead": 2,
                    },
                },
            ).json()
        )
    product = http.post(
        "/api/v1/products",
        headers=admin,
        json={
            "title": "Coffee beans",
            "skus": [
                {"code": f"B{k}", "name": f"Blend {k}", "list_price": 3000 + 500 * k} for k in range(SKUS)
            ],
        },
    ).json()
    skus = [s["id"] for s in product["skus"]]
    for sku in skus:
        for store in stores:
            http.put(
                f"/api/v1/stores/{store['id']}/stock/{sku}", headers=admin, json={"on_hand": args.store_stock}
            )
        http.put(
            f"/api/v1/stores/{warehouse['id']}/stock/{sku}",
            headers=admin,
            json={"on_hand": args.warehouse_stock},
        )
    tokens = [
        http.post(
            "/api/v1/storefront/sessions",
            json={
                "merchant_id": merchant["merchant"]["id"],
                "host_app": "wechat",
                "auth_code": f"sandbox:shopper-{i}",
            },
        ).json()["token"]
        for i in range(args.customers)
    ]
    customer = {"Authorization": f"Bearer {tokens[0]}"}
    slots = {
        s["id"]: [
            x["start"]
            for x in http.get(f"/api/v1/storefront/stores/{s['id']}/delivery-slots", headers=customer).json()
        ]
        for s in stores
    }
    return {
        "merchant_id": merchant["merchant"]["id"],
        "warehouse": warehouse["id"],
        "stores": stores,
        "skus": skus,
        "tokens": tokens,
        "slots": slots,
    }


REQUESTS: Counter = Counter()  # the customers' requests, by kind (Counter.update holds the GIL)


def customer_checkout(http: httpx.Client, world: dict, i: int) -> str:
    """One customer's checkout, choosing a routing or another slot when told to. Returns
    the outcome: pickup / delivery / split / warehouse / out_of_stock / error:…"""
    rng = random.Random(i)
    store = world["stores"][i % STORES]
    headers = {
        "Authorization": f"Bearer {world['tokens'][i % len(world['tokens'])]}",
        "Idempotency-Key": f"bench-{i}",
    }
    lines = [
        {"sku_id": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(world["skus"], rng.randint(1, 2))
    ]
    delivery = i % 2 == 1
    fulfilment: dict = {"mode": "pickup"}
    slots = world["slots"][store["id"]]
    slot_index = rng.randrange(min(4, len(slots)))
    if delivery:
        fulfilment = {
            "mode": "delivery",
            "slot_start": slots[slot_index],
            "address": {
                "name": "Shopper",
                "phone": "13900000000",
                "address": "Nearby",
                "latitude": store["latitude"] + 0.005,
                "longitude": store["longitude"],
            },
        }
    routing = "store"
    for attempt in range(12):
        REQUESTS.update(["checkout"])
        headers["Idempotency-Key"] = f"bench-{i}-{attempt}"
        response = http.post(
            "/api/v1/storefront/orders",
            headers=headers,
            json={
                "location_id": store["id"],
                "lines": lines,
                "fulfilment": {**fulfilment, "routing": routing},
            },
        )
        if response.status_code == 201:
            return routing if routing != "store" else fulfilment["mode"]
        problem = response.json()
        code = problem.get("code")
        if code == "stock.insufficient" and problem.get("routing_options"):
            routing = "split" if "split" in problem["routing_options"] else "warehouse"
        elif code == "stock.insufficient":  # a concurrent checkout took the stock: look again
            routing = "store"
        elif code == "stock.out_everywhere":
            return "out_of_stock"
        elif code == "delivery.slot_full":
            slot_index = (slot_index + 1) % len(slots)
            fulfilment["slot_start"] = slots[slot_index]
        elif code == "delivery.bad_slot":  # the listed slot has passed during the run: list them again
            REQUESTS.update(["slots"])
            listed = http.get(f"/api/v1/storefront/stores/{store['id']}/delivery-slots", headers=headers)
            slots = world["slots"][store["id"]] = [x["start"] for x in listed.json()]
            slot_index = rng.randrange(min(4, len(slots)))
            fulfilment["slot_start"] = slots[slot_index]
        else:
            return f"error:{response.status_code}:{code}"
    return "gave_up"


def verify(url: str, merchant_id: str, warehouse_id: str) -> dict:
    db = Database(url)
    with db.unit_of_work(write=False) as s:
        levels = s.scalars(select(StockLevel).where(StockLevel.merchant_id == merchant_id)).all()
        negative = sum(1 for lv in levels if lv.on_hand < 0 or lv.reserved < 0)
        over = sum(1 for lv in levels if lv.reserved > lv.on_hand)
        expected = Counter()
        for location_id, sku_id, quantity in s.execute(
            select(
                Fulfilment.location_id,
                OrderLine.sku_id,
                func.sum(OrderLine.quantity - OrderLine.refunded_quantity),
            )
            .join(
                OrderLine,
                (OrderLine.merchant_id == Fulfilment.merchant_id)
                & (OrderLine.fulfilment_id == Fulfilment.id),
            )
            .where(Fulfilment.merchant_id == merchant_id, Fulfilment.status.in_(("pending", "ready")))
            .group_by(Fulfilment.location_id, OrderLine.sku_id)
        ):
            expected[(location_id, sku_id)] = quantity
        mismatched = sum(1 for lv in levels if lv.reserved != expected.get((lv.location_id, lv.sku_id), 0))
        orders = s.scalar(select(func.count()).select_from(Order).where(Order.merchant_id == merchant_id))
        routed = s.scalar(
            select(func.count(func.distinct(Fulfilment.order_id))).where(
                Fulfilment.merchant_id == merchant_id, Fulfilment.location_id == warehouse_id
            )
        )
    db.dispose()
    return {
        "orders": orders,
        "routed_to_warehouse": routed,
        "oversold": over + mismatched,
        "negative_stock": negative,
    }


def run_backend(name: str, url: str, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-checkout-{name}-"))
    if name == "postgresql":
        fresh_postgres(url)
    upgrade(url)
    server = Server(url, work)
    try:
        with httpx.Client(base_url=server.base, timeout=60) as http:
            world = setup(http, args)
        REQUESTS.clear()
        measured = paired(
            server,
            args.threads,
            args.checkouts,
            args.checkouts,
            lambda http, i: customer_checkout(http, world, i),
        )
        outcomes, elapsed, baseline = measured.results, measured.work_s, measured.baseline_rps
        checkout_cpu, health_cpu = measured.work_cpu, measured.health_cpu
    finally:
        server.stop()
    checked = verify(url, world["merchant_id"], world["warehouse"])
    placed = sum(1 for o in outcomes if o in ("pickup", "delivery", "split", "warehouse"))
    return {
        "backend": name,
        **checked,
        "orders_per_s": round(placed / elapsed, 1),
        "baseline_rps": round(baseline, 1),
        "ratio": round(placed / elapsed / baseline, 3),
        # the server process's CPU per placed order (its refusals and retries included) and per
        # health request: steadier than rates on a shared machine (PostgreSQL's own not counted)
        "server_cpu_ms_per_order": round(checkout_cpu / max(placed, 1) * 1000, 2),
        "server_cpu_ms_per_health": round(health_cpu / args.checkouts * 1000, 3),
        "checkout_requests": REQUESTS["checkout"],
        "server_cpu_ms_per_checkout_request": round(checkout_cpu / max(REQUESTS["checkout"], 1) * 1000, 2),
        "customers": args.checkouts,
        "outcomes": dict(sorted(Counter(outcomes).items())),
        "placed_matches_database": placed == checked["orders"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.threads = 16
    if args.quick:
        args.checkouts, args.customers, args.store_stock, args.warehouse_stock, args.slot_capacity = (
            600,
            200,
            12,
            120,
            6,
        )
    else:
        args.checkouts, args.customers, args.store_stock, args.warehouse_stock, args.slot_capacity = (
            6000,
            2000,
            120,
            1200,
            60,
        )
    backends = [("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/checkout.db")]
    if os.environ.get("SHOPLET_TEST_DATABASE_URL"):
        backends.append(("postgresql", os.environ["SHOPLET_TEST_DATABASE_URL"]))
    results = [run_backend(name, url, args) for name, url in backends]
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
