"""Schemathesis fuzzes every operation from the OpenAPI document with real credentials:
whatever the input, the answer is never a server error, and errors are problem+json."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from shoplet.app import create_app
from shoplet.config import Settings
from shoplet.runtime import Runtime

# Building the document touches no database.
_document = create_app(Runtime(Settings(database_url="sqlite:///:memory:", sandbox_payments=True))).openapi()
schema = schemathesis.openapi.from_dict(_document)


@pytest.fixture
def embedded_only(database):
    if database.dialect != "sqlite":
        pytest.skip("fuzzing once, on the embedded database, is enough")


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case, embedded_only, shop):
    if case.path.startswith("/api/v1/platform"):
        headers = {"Authorization": "Bearer test-platform-key"}
    elif case.path.startswith("/api/v1/storefront"):
        headers = shop.customer
    else:
        headers = shop.admin
    sent = case.as_transport_kwargs(base_url="")
    body = {"json": sent["json"]} if "json" in sent else {"content": sent["data"]} if "data" in sent else {}
    response = shop.client.request(case.method, case.formatted_path, params=sent.get("params") or None,
                                   headers={**sent.get("headers", {}), **headers}, **body)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"]
