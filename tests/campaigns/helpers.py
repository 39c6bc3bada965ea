"""Creating campaigns and buying in them over HTTP."""

from __future__ import annotations

from datetime import timedelta

from shoplet.db import utcnow
from tests.helpers import Shop, ok


def iso(delta: timedelta) -> str:
    return (utcnow() + delta).isoformat()


def group_campaign(shop: Shop, **overrides) -> dict:
    body = {
        "name": "Two for Double 11",
        "sku_id": shop.skus["BEANS"],
        "price": 5990,
        "group_size": 3,
        "time_limit_minutes": 60 * 24,
        "starts_at": iso(timedelta(hours=-1)),
        "ends_at": iso(timedelta(days=7)),
        "stock": 50,
        "per_customer_limit": 2,
        **overrides,
    }
    return ok(shop.client.post("/api/v1/group-campaigns", json=body, headers=shop.admin), 201)


def open_group(
    shop: Shop, campaign_id: str, customer: dict, *, status: int = 201, quantity: int = 1, **extra
):
    return ok(
        shop.client.post(
            f"/api/v1/storefront/group-campaigns/{campaign_id}/groups",
            json={"location_id": shop.store_id, "quantity": quantity, **extra},
            headers=customer,
        ),
        status,
    )


def join_group(shop: Shop, group_id: str, customer: dict, *, status: int = 201, quantity: int = 1):
    return ok(
        shop.client.post(
            f"/api/v1/storefront/buying-groups/{group_id}/orders",
            json={"location_id": shop.store_id, "quantity": quantity},
            headers=customer,
        ),
        status,
    )


def customers(shop: Shop, n: int, prefix: str = "friend") -> list[dict]:
    out = []
    for i in range(n):
        session = shop.sign_in(f"{prefix}-{i}-{shop.merchant_id[-6:]}")
        out.append({"Authorization": f"Bearer {session['token']}", "id": session["customer_id"]})
    return out


def headers(customer: dict) -> dict:
    return {"Authorization": customer["Authorization"]}
