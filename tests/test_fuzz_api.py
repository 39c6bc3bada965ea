"""Schemathesis fuzzes every operation from the OpenAPI document, on SQLite and on
PostgreSQL, and sends each generated request with every kind of credential — the
merchant's admin, a clerk, a shopping guide, a signed-in customer (and the platform key
on platform routes): whatever the input, the answer is never a server error, and errors
are problem+json with a code.

One shop per database serves the whole fuzz (building a shop per operation would cost
more than the fuzzing). The fuzz cannot lock itself out: the API refuses to revoke the
last working admin key or deactivate the last admin. ``SHOPLET_FUZZ_EXAMPLES=50 make test``
fuzzes harder (4 examples per operation by default, to keep CI's suite short)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from shoplet.app import create_app
from shoplet.config import Settings
from shoplet.runtime import Runtime
from tests.conftest import PLATFORM_KEY, Clock
from tests.helpers import Shop, bearer, ok

# Building the document touches no database.
_document = create_app(Runtime(Settings(database_url="sqlite:///:memory:", sandbox_payments=True))).openapi()
schema = schemathesis.openapi.from_dict(_document)


@pytest.fixture(scope="module")
def fuzz_shop(database, tmp_path_factory):
    runtime = Runtime(
        Settings(
            database_url=database.url,
            platform_key=PLATFORM_KEY,
            sandbox_payments=True,
            public_url="http://testserver",
            jobs_path=str(tmp_path_factory.mktemp("fuzz") / "jobs.db"),
        ),
        clock=Clock(),
        db=database,
    )
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    shop = Shop.create(client, runtime, name="Fuzzed shop")
    guide = ok(
        client.post(
            "/api/v1/staff",
            json={"name": "Guide", "role": "guide", "store_id": shop.store_id},
            headers=shop.admin,
        ),
        201,
    )
    guide_key = ok(
        client.post(f"/api/v1/staff/{guide['id']}/api-keys", json={"name": "phone"}, headers=shop.admin), 201
    )["token"]
    roles = {"admin": shop.admin, "clerk": shop.clerk, "guide": bearer(guide_key), "customer": shop.customer}
    return client, roles


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SHOPLET_FUZZ_EXAMPLES", "4")),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_causes_a_server_error(case, fuzz_shop):
    client, roles = fuzz_shop
    credentials = dict(roles)
    if case.path.startswith("/api/v1/platform"):
        credentials["platform"] = {"Authorization": f"Bearer {PLATFORM_KEY}"}
    sent = case.as_transport_kwargs(base_url="")
    body = {"json": sent["json"]} if "json" in sent else {"content": sent["data"]} if "data" in sent else {}
    for role, headers in credentials.items():
        response = client.request(
            case.method,
            case.formatted_path,
            params=sent.get("params") or None,
            headers={**sent.get("headers", {}), **headers},
            **body,
        )
        where = f"{role}: {case.method} {case.formatted_path}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        if response.status_code >= 400 and case.method != "HEAD":
            assert response.headers["content-type"].startswith("application/problem+json"), where
            assert response.json()["code"], where
    # The credentials still work: nothing the fuzz sent locked the shop out.
    assert client.get("/api/v1/merchant", headers=roles["admin"]).status_code == 200
