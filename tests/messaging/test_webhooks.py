"""Webhooks: Standard Webhooks signatures verified by the ``standardwebhooks`` library,
retries only where they help (with the schedule and Retry-After), 410 and five days of
failure disabling, replay, ping, secret rotation, URL checks and tenant isolation."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shoplet import sweeps
from shoplet.scoping import owned
from shoplet.webhooks import service
from shoplet.webhooks.models import WebhookEndpoint
from tests.helpers import ok


class Receiver:
    """A merchant's system: answers from a script, verifies nothing itself (the test does)."""

    def __init__(self) -> None:
        self.script: list[tuple[int | None, dict[str, str]]] = []
        self.received: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> service.Reply:
        self.received.append((url, body, headers))
        status, extra = self.script.pop(0) if self.script else (200, {})
        if status is None:
            return service.Reply(None, {}, "", error="timed out")
        return service.Reply(status, extra, f"answer {status}")


@pytest.fixture
def receiver(runtime) -> Receiver:
    r = Receiver()
    runtime.send_webhook = r
    runtime.settings.webhooks_allow_private = True
    return r


def endpoint(shop, types: list[str] | None = None, url: str = "http://127.0.0.1:9/hook") -> dict:
    return ok(
        shop.client.post(
            "/api/v1/webhooks/endpoints", json={"url": url, "event_types": types or []}, headers=shop.admin
        ),
        201,
    )


def deliveries(shop, endpoint_id: str) -> list[dict]:
    return ok(shop.client.get(f"/api/v1/webhooks/endpoints/{endpoint_id}/deliveries", headers=shop.admin))[
        "items"
    ]


def test_a_paid_order_reaches_the_endpoint_signed_as_standard_webhooks_says(shop, client, runtime, receiver):
    hook = endpoint(shop, ["order.paid"])
    assert hook["secret"].startswith("whsec_")
    order = shop.paid_order({"LATTE-T": 1})
    sweeps.dispatch_outbox(runtime)
    paid = [r for r in receiver.received if json.loads(r[1])["type"] == "order.paid"]
    assert len(paid) == 1 and len(receiver.received) == 1  # subscribed to order.paid alone
    _, body, headers = paid[0]
    verified = Webhook(hook["secret"]).verify(body, headers)
    assert verified["data"]["order_id"] == order["id"] and verified["data"]["amount"] == order["total"]
    with pytest.raises(WebhookVerificationError):
        Webhook(service.new_secret()).verify(body, headers)
    [delivery] = deliveries(shop, hook["id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    # The consumer ran again: the event is not sent twice.
    sweeps.dispatch_outbox(runtime)
    assert len(receiver.received) == 1


def test_retries_follow_the_schedule_and_retry_after_and_stop_where_retrying_cannot_help(
    shop, client, runtime, receiver, clock
):
    hook = endpoint(shop)
    receiver.script = [(500, {}), (None, {}), (429, {"Retry-After": "120"})]
    ping = ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    detail = ok(client.get(f"/api/v1/webhooks/deliveries/{ping['id']}", headers=shop.admin))
    wait = (datetime.fromisoformat(detail["next_attempt_at"]) - runtime.clock()).total_seconds()
    assert detail["status"] == "pending" and 3 <= wait <= 6.1  # 5 s ± 20 %
    clock.advance(seconds=7)
    sweeps.deliver_webhooks(runtime)  # times out: next in 5 min ± 20 %
    clock.advance(minutes=7)
    sweeps.deliver_webhooks(runtime)  # 429 asking for 120 s, the schedule says 30 min: the later wins
    detail = ok(client.get(f"/api/v1/webhooks/deliveries/{ping['id']}", headers=shop.admin))
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, None, 429]
    assert detail["attempt_log"][1]["error"] == "timed out"
    clock.advance(minutes=40)
    sweeps.deliver_webhooks(runtime)
    detail = ok(client.get(f"/api/v1/webhooks/deliveries/{ping['id']}", headers=shop.admin))
    assert detail["status"] == "succeeded" and detail["attempts"] == 4
    ids = {h["webhook-id"] for _, _, h in receiver.received}
    assert len(ids) == 1  # every retry carries the same message id

    # A 400 is not retried; it can be replayed once the receiver is fixed.
    receiver.script = [(400, {})]
    second = ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    failed = ok(client.get(f"/api/v1/webhooks/deliveries/{second['id']}", headers=shop.admin))
    assert failed["status"] == "failed" and failed["attempts"] == 1
    replayed = ok(client.post(f"/api/v1/webhooks/deliveries/{second['id']}/replay", headers=shop.admin), 202)
    assert replayed["status"] == "pending"
    again = client.post(f"/api/v1/webhooks/deliveries/{second['id']}/replay", headers=shop.admin)
    assert again.status_code == 409 and again.json()["code"] == "webhook.delivery_pending"
    sweeps.deliver_webhooks(runtime)
    done = ok(client.get(f"/api/v1/webhooks/deliveries/{second['id']}", headers=shop.admin))
    assert done["status"] == "succeeded" and [a["status_code"] for a in done["attempt_log"]] == [400, 200]

    # A 410 disables the endpoint.
    receiver.script = [(410, {})]
    ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    gone = ok(client.get(f"/api/v1/webhooks/endpoints/{hook['id']}", headers=shop.admin))
    assert gone["status"] == "disabled" and "410" in gone["disabled_reason"]
    refused = client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin)
    assert refused.status_code == 409 and refused.json()["code"] == "webhook.endpoint_disabled"


def test_the_schedule_ends_after_eight_attempts(shop, client, runtime, receiver, clock):
    hook = endpoint(shop)
    receiver.script = [(503, {})] * 8
    ping = ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    for _ in range(8):
        sweeps.deliver_webhooks(runtime)
        clock.advance(hours=13)
    detail = ok(client.get(f"/api/v1/webhooks/deliveries/{ping['id']}", headers=shop.admin))
    assert detail["status"] == "failed" and detail["attempts"] == 8


def test_an_endpoint_failing_for_five_days_is_disabled(shop, client, runtime, receiver, clock):
    hook = endpoint(shop)
    receiver.script = [(500, {})] * 3
    ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    assert ok(client.get(f"/api/v1/webhooks/endpoints/{hook['id']}", headers=shop.admin))["failing_since"]
    clock.advance(days=5, minutes=1)
    ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    disabled = ok(client.get(f"/api/v1/webhooks/endpoints/{hook['id']}", headers=shop.admin))
    assert disabled["status"] == "disabled" and disabled["disabled_reason"].startswith("failing since")
    enabled = ok(
        client.patch(f"/api/v1/webhooks/endpoints/{hook['id']}", json={"enabled": True}, headers=shop.admin)
    )
    assert enabled["status"] == "enabled" and enabled["failing_since"] is None


def test_a_rotated_secret_signs_twice_for_a_day(shop, client, runtime, receiver, clock):
    hook = endpoint(shop)
    rotated = ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/rotate-secret", headers=shop.admin))
    assert rotated["secret"] != hook["secret"]
    ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    _, body, headers = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(hook["secret"]).verify(body, headers)["type"] == "webhook.ping"
    assert Webhook(rotated["secret"]).verify(body, headers)["type"] == "webhook.ping"
    clock.advance(hours=25)
    ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    _, body, headers = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1


def test_bad_endpoints_are_refused_and_change_nothing(shop, client, runtime):
    runtime.settings.webhooks_allow_private = False
    for url, code in (
        ("ftp://example.com/x", "webhook.url_invalid"),
        ("http://user:pw@example.com/x", "webhook.url_invalid"),
        ("http://127.0.0.1:8000/hook", "webhook.url_private"),
        ("http://10.1.2.3/hook", "webhook.url_private"),
        ("http://169.254.169.254/latest", "webhook.url_private"),
        ("http://[::1]/hook", "webhook.url_private"),
    ):
        r = client.post("/api/v1/webhooks/endpoints", json={"url": url}, headers=shop.admin)
        assert r.status_code == 422 and r.json()["code"] == code, (url, r.text)
    r = client.post(
        "/api/v1/webhooks/endpoints", json={"url": "https://example.com", "event_types": ["order.nope"]},
        headers=shop.admin,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["code"] == "webhook.event_type_unknown"
    assert ok(client.get("/api/v1/webhooks/endpoints", headers=shop.admin)) == []
    with runtime.db.unit_of_work(write=False) as s:
        assert s.scalars(select(WebhookEndpoint).where(owned(WebhookEndpoint, shop.merchant_id))).all() == []
    # A public host is accepted (resolved by a stand-in resolver: there is no DNS here).
    with runtime.db.unit_of_work() as s:
        made = service.create_endpoint(
            s, merchant_id=shop.merchant_id, url="https://hooks.example.com/shoplet", description="",
            event_types=[], allow_private=False, now=runtime.clock(), resolve=lambda host: ["93.184.216.34"],
        )  # fmt: skip
        assert made.url == "https://hooks.example.com/shoplet"
    types = ok(client.get("/api/v1/webhooks/event-types", headers=shop.admin))
    assert {"order.paid", "order.refunded", "coupon.claimed", "light_membership.settled"} <= {
        t["name"] for t in types
    }


def test_the_catalogue_is_in_the_api_document(client):
    document = ok(client.get("/openapi.json"))
    hooks = document["webhooks"]
    assert {"order.paid", "coupon.verified", "pickup.verified", "light_membership.settled"} <= set(hooks)
    schema_ref = hooks["order.paid"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("OrderPaidWebhook")


def test_another_merchants_endpoints_and_deliveries_are_not_found(
    shop, other_shop, client, runtime, receiver
):
    hook = endpoint(shop)
    ping = ok(client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/ping", headers=shop.admin), 202)
    sweeps.deliver_webhooks(runtime)
    for method, path in (
        ("get", f"/api/v1/webhooks/endpoints/{hook['id']}"),
        ("patch", f"/api/v1/webhooks/endpoints/{hook['id']}"),
        ("post", f"/api/v1/webhooks/endpoints/{hook['id']}/ping"),
        ("post", f"/api/v1/webhooks/endpoints/{hook['id']}/rotate-secret"),
        ("get", f"/api/v1/webhooks/endpoints/{hook['id']}/deliveries"),
        ("get", f"/api/v1/webhooks/deliveries/{ping['id']}"),
        ("post", f"/api/v1/webhooks/deliveries/{ping['id']}/replay"),
    ):
        kwargs = {"json": {}} if method == "patch" else {}
        r = getattr(client, method)(path, headers=other_shop.admin, **kwargs)
        assert r.status_code == 404, (method, path, r.text)
    assert ok(client.get("/api/v1/webhooks/endpoints", headers=other_shop.admin)) == []
    # Another merchant's paid order is not sent to this merchant's endpoint.
    before = len(receiver.received)
    other_shop.paid_order({"LATTE-T": 1})
    sweeps.dispatch_outbox(runtime)
    assert len(receiver.received) == before
