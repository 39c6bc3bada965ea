"""Signing staff in to the console from tests."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.helpers import Shop, ok

PASSWORD = "correct-horse-battery"


def add_staff(shop: Shop, role: str, login: str, password: str = PASSWORD, store: bool = False) -> dict:
    body = {"name": f"{role.title()} {login}", "role": role, "login": login, "password": password}
    if store or role == "clerk":
        body["store_id"] = shop.store_id
    return ok(shop.client.post("/api/v1/staff", json=body, headers=shop.admin), 201)


def browser(client: TestClient) -> TestClient:
    """A second client on the same app with its own cookie jar (another person's browser)."""
    return TestClient(client.app, raise_server_exceptions=False, follow_redirects=False)


def sign_in(client: TestClient, shop: Shop, login: str, password: str = PASSWORD) -> TestClient:
    person = browser(client)
    response = person.post(
        "/console/signin", data={"shop": shop.merchant_id, "login": login, "password": password}
    )
    assert response.status_code == 303, response.text
    return person


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
