"""Factories that build merchants and their data through the real HTTP API."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from shoplet import pipelined, sweeps
from shoplet.runtime import Runtime

_seq = itertools.count(1)
PLATFORM = {"Authorization": "Bearer test-platform-key"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


@dataclass
class Shop:
    client: TestClient
    runtime: Runtime
    merchant_id: str
    admin: dict[str, str]
    store_id: str
    store2_id: str
    warehouse_id: str
    category_id: str
    product_id: str
    skus: dict[str, str]  # code -> id
    prices: dict[str, int]
    clerk: dict[str, str] = field(default_factory=dict)
    customer: dict[str, str] = field(default_factory=dict)
    customer_id: str = ""

    @classmethod
    def create(cls, client: TestClient, runtime: Runtime, name: str = "Test Coffee") -> Shop:
        n = next(_seq)
        created = ok(
            client.post("/api/v1/platform/merchants", json={"name": f"{name} {n}"}, headers=PLATFORM), 201
        )
        admin = bearer(created["api_key"])
        stores = {}
        for kind, code in (("warehouse", "WH"), ("store", "S1"), ("store", "S2")):
            stores[code] = ok(
                client.post(
                    "/api/v1/stores",
                    json={
                        "kind": kind,
                        "code": code,
                        "name": f"{code} location",
                        "latitude": 31.2,
                        "longitude": 121.4,
                    },
                    headers=admin,
                ),
                201,
            )["id"]
        category = ok(
            client.post("/api/v1/categories", json={"code": "coffee", "name": "Coffee"}, headers=admin), 201
        )
        product = ok(
            client.post(
                "/api/v1/products",
                json={
                    "title": "Latte",
                    "category_id": category["id"],
                    "tags": ["hot"],
                    "skus": [
                        {"code": "LATTE-T", "name": "Tall", "list_price": 3200, "member_price": 2900},
                        {"code": "LATTE-G", "name": "Grande", "list_price": 3650},
                    ],
                },
                headers=admin,
            ),
            201,
        )
        skus = {s["code"]: s["id"] for s in product["skus"]}
        prices = {s["code"]: s["list_price"] for s in product["skus"]}
        bean = ok(
            client.post(
                "/api/v1/products",
                json={"title": "Beans 250 g", "skus": [{"code": "BEANS", "list_price": 8899}]},
                headers=admin,
            ),
            201,
        )
        skus["BEANS"] = bean["skus"][0]["id"]
        prices["BEANS"] = 8899
        shop = cls(
            client=client,
            runtime=runtime,
            merchant_id=created["merchant"]["id"],
            admin=admin,
            store_id=stores["S1"],
            store2_id=stores["S2"],
            warehouse_id=stores["WH"],
            category_id=category["id"],
            product_id=product["id"],
            skus=skus,
            prices=prices,
        )
        for code in skus:
            shop.stock(shop.store_id, code, 20)
            shop.stock(shop.warehouse_id, code, 100)
            shop.stock(shop.store2_id, code, 10)
        clerk = ok(
            client.post(
                "/api/v1/staff",
                json={"name": "Clerk", "role": "clerk", "store_id": shop.store_id},
                headers=admin,
            ),
            201,
        )
        shop.clerk = bearer(
            ok(
                client.post(f"/api/v1/staff/{clerk['id']}/api-keys", json={"name": "till"}, headers=admin),
                201,
            )["token"]
        )
        session = shop.sign_in(f"user{n}")
        shop.customer, shop.customer_id = bearer(session["token"]), session["customer_id"]
        return shop

    def stock(self, location_id: str, code: str, quantity: int) -> dict:
        return ok(
            self.client.put(
                f"/api/v1/stores/{location_id}/stock/{self.skus[code]}",
                json={"on_hand": quantity},
                headers=self.admin,
            )
        )

    def level(self, location_id: str, code: str) -> dict:
        levels = ok(self.client.get(f"/api/v1/stores/{location_id}/stock", headers=self.admin))
        return next(x for x in levels if x["sku_id"] == self.skus[code])

    def sign_in(self, host_user_id: str, host_app: str = "alipay", scene: str = "qr_scan") -> dict:
        return ok(
            self.client.post(
                "/api/v1/storefront/sessions",
                json={
                    "merchant_id": self.merchant_id,
                    "host_app": host_app,
                    "auth_code": f"sandbox:{host_user_id}",
                    "scene": scene,
                },
            ),
            201,
        )

    def order(
        self,
        lines: dict[str, int],
        *,
        customer: dict[str, str] | None = None,
        location: str | None = None,
        key: str | None = None,
        status: int = 201,
        coupon_ids: list[str] | None = None,
    ) -> dict:
        headers = dict(customer or self.customer)
        if key:
            headers["Idempotency-Key"] = key
        return ok(
            self.client.post(
                "/api/v1/storefront/orders",
                json={
                    "location_id": location or self.store_id,
                    "lines": [{"sku_id": self.skus[code], "quantity": q} for code, q in lines.items()],
                    **({"coupon_ids": coupon_ids} if coupon_ids is not None else {}),
                },
                headers=headers,
            ),
            status,
        )

    def pay(self, order_id: str, *, customer: dict[str, str] | None = None, deliver: bool = True) -> dict:
        """Open the payment, pay in the sandbox wallet, and deliver the signed notification."""
        payment = ok(
            self.client.post(
                f"/api/v1/storefront/orders/{order_id}/payments",
                headers={**(customer or self.customer), "Idempotency-Key": f"pay-{order_id}"},
            ),
            201,
        )
        ok(self.client.post(f"/api/v1/sandbox/trades/{payment['provider_trade_no']}/pay"))
        if deliver:
            sweeps.dispatch_outbox(self.runtime)
        return payment

    def pickup_code(self, order_id: str, *, customer: dict[str, str] | None = None) -> str:
        """The code the customer's order shows (once paid) for its pickup part."""
        order = ok(
            self.client.get(f"/api/v1/storefront/orders/{order_id}", headers=customer or self.customer)
        )
        return next(f["pickup_code"] for f in order["fulfilments"] if f["mode"] == "pickup")

    def pick_up(
        self,
        order_id: str,
        *,
        clerk: dict[str, str] | None = None,
        status: int = 200,
        customer: dict[str, str] | None = None,
    ) -> dict:
        """The clerk verifies the order's pickup code at the till."""
        return ok(
            self.client.post(
                "/api/v1/pickups/verify",
                json={"code": self.pickup_code(order_id, customer=customer)},
                headers=clerk or self.clerk,
            ),
            status,
        )

    def paid_order(self, lines: dict[str, int], **kwargs) -> dict:
        order = self.order(lines, **kwargs)
        self.pay(order["id"], customer=kwargs.get("customer"))
        return ok(self.client.get(f"/api/v1/orders/{order['id']}", headers=self.admin))


@contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block, in order: those queued to go
    together (``shoplet.pipelined``, PostgreSQL) where they were queued."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    queue = pipelined.queue

    def queued(connection, sql, *args, **kwargs):
        if connection.engine.pool is engine.pool:
            statements.append(sql)
        return queue(connection, sql, *args, **kwargs)

    event.listen(engine, "before_cursor_execute", before)
    pipelined.queue = queued
    try:
        yield statements
    finally:
        pipelined.queue = queue
        event.remove(engine, "before_cursor_execute", before)
