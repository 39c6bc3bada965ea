"""One registry of error codes, and an OpenAPI document that lists them per operation."""

from __future__ import annotations

import pytest

from shoplet import problems
from shoplet.app import create_app
from shoplet.config import Settings
from shoplet.error_codes import CODES, EVERY_REQUEST
from shoplet.runtime import Runtime
from tests import problem_log

# Sent by the framework's handlers for paths or methods that do not exist.
FRAMEWORK = {"http.not_found", "http.405"}


@pytest.fixture(scope="module")
def openapi() -> dict:
    return create_app(Runtime(Settings(database_url="sqlite://", sandbox_payments=True))).openapi()


def test_every_code_raised_in_the_source_is_registered() -> None:
    index, _ = problems._index()
    raised = set().union(*(f.codes for f in index.values()))
    unknown = sorted(c for c in raised if c not in CODES)
    assert not unknown, f"add these to shoplet/error_codes.py: {unknown}"


def test_every_registered_code_is_raised_somewhere() -> None:
    index, _ = problems._index()
    raised = set().union(*(f.codes for f in index.values()))
    unused = sorted(set(CODES) - raised - set(EVERY_REQUEST) - FRAMEWORK)
    assert not unused, f"registered but raised nowhere (remove them, or raise them): {unused}"


def test_each_operation_lists_its_problems_with_the_problem_schema(openapi) -> None:
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            codes = operation["x-problem-codes"]
            assert set(EVERY_REQUEST) <= set(codes), (method, path)
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    continue
                content = response["content"]["application/problem+json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
                for code in content["examples"]:
                    assert int(status) in (CODES[code].status, *CODES[code].also), (path, code)
    assert set(openapi["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]) == set(CODES)


def test_operations_list_what_their_services_raise(openapi) -> None:
    verify = openapi["paths"]["/api/v1/coupons/verify"]["post"]["x-problem-codes"]
    assert {"coupon.wrong_store", "coupon.expired", "coupon.already_used", "auth.role"} <= set(verify)
    refund = openapi["paths"]["/api/v1/orders/{order_id}/refunds"]["post"]["x-problem-codes"]
    assert {"refund.exceeds_paid", "refund.exceeds_quantity", "idempotency.key_reused"} <= set(refund)
    storefront = openapi["paths"]["/api/v1/storefront/products"]["get"]["x-problem-codes"]
    assert "auth.customer_only" in storefront and "refund.exceeds_paid" not in storefront
    # Codes raised through a helper's argument, a module-level table and a lost race.
    pickup = openapi["paths"]["/api/v1/pickups/verify"]["post"]["x-problem-codes"]
    assert {"pickup.expired", "pickup.cancelled", "pickup.code_used"} <= set(pickup)
    claim = openapi["paths"]["/api/v1/storefront/coupons"]["post"]["x-problem-codes"]
    assert {"coupon.limit_reached", "coupon.daily_limit_reached", "coupon.sold_out"} <= set(claim)
    responses = openapi["paths"]["/api/v1/orders/{order_id}/refunds"]["post"]["responses"]
    assert "refund.exceeds_quantity" in responses["409"]["content"]["application/problem+json"]["examples"]
    assert "refund.exceeds_quantity" in responses["422"]["content"]["application/problem+json"]["examples"]
    health = openapi["paths"]["/api/v1/health"]["get"]["x-problem-codes"]
    assert "auth.missing" not in health  # it authenticates nobody


def test_the_suite_check_sees_an_undeclared_code(openapi) -> None:
    declared = {("POST", "/api/v1/coupons/verify", 422, "coupon.expired")}
    assert problem_log.undeclared(openapi, declared) == []
    undeclared = {("POST", "/api/v1/coupons/verify", 409, "order.not_payable")}
    assert problem_log.undeclared(openapi, undeclared) == [
        "POST /api/v1/coupons/verify: 409 order.not_payable"
    ]
    # The most specific template answers: /coupons/verify, not /coupons/{coupon_id}.
    assert problem_log.undeclared(openapi, {("GET", "/api/v1/nowhere", 404, "http.not_found")}) == []
