"""Subscription messages: one-time templates sent only against consents (atomically, with
real threads), service notices reaching the demo customer's sandbox inbox, rewording."""

from __future__ import annotations

import threading

from shoplet import sweeps
from shoplet.messaging import notices
from tests.helpers import ok


def template(shop, body: str = "{name}，您预约的 {item} 已到店。") -> dict:
    return ok(
        shop.client.post(
            "/api/v1/messages/templates",
            json={"name": "到店提醒", "title": "到店提醒", "body": body},
            headers=shop.admin,
        ),
        201,
    )


def send(shop, template_id: str, key: str | None = None, status: int = 200, **values) -> dict:
    headers = {**shop.admin, **({"Idempotency-Key": key} if key else {})}
    return ok(
        shop.client.post(
            f"/api/v1/messages/templates/{template_id}/send",
            json={"customer_ids": [shop.customer_id], "values": values or {"name": "小王", "item": "拿铁"}},
            headers=headers,
        ),
        status,
    )


def inbox(shop, host_user_id: str) -> list[dict]:
    return ok(
        shop.client.get(
            f"/api/v1/sandbox/inbox/alipay/{host_user_id}", params={"merchant_id": shop.merchant_id}
        )
    )


def test_each_consent_grants_one_send(shop, client, runtime):
    t = template(shop)
    assert t["variables"] == ["name", "item"] and t["kind"] == "one_time"
    assert send(shop, t["id"])["no_consent"] == [shop.customer_id]
    for expected in (1, 2):
        consent = ok(
            client.post(f"/api/v1/storefront/messages/templates/{t['id']}/consent", headers=shop.customer)
        )
        assert consent["remaining"] == expected
    missing = client.post(
        f"/api/v1/messages/templates/{t['id']}/send",
        json={"customer_ids": [shop.customer_id], "values": {"name": "小王"}},
        headers=shop.admin,
    )
    assert missing.status_code == 422 and missing.json()["code"] == "message.variable_missing"
    assert ok(client.get("/api/v1/storefront/messages/consents", headers=shop.customer))[0]["remaining"] == 2
    assert send(shop, t["id"], key="k1")["queued"] == [shop.customer_id]
    assert send(shop, t["id"], key="k1")["already"] == [shop.customer_id]  # a retry takes no second consent
    assert send(shop, t["id"])["queued"] == [shop.customer_id]
    assert send(shop, t["id"])["no_consent"] == [shop.customer_id]
    sweeps.dispatch_outbox(runtime)
    messages = ok(
        client.get("/api/v1/messages", params={"customer_id": shop.customer_id}, headers=shop.admin)
    )
    sent = [m for m in messages["items"] if m["template_id"] == t["id"]]
    assert [m["status"] for m in sent] == ["sent", "sent"] and sent[0][
        "body"
    ] == "小王，您预约的 拿铁 已到店。"
    unknown = client.post(
        "/api/v1/messages/templates", json={"name": "x", "title": "x", "body": "{a!r}"}, headers=shop.admin
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "message.template_invalid"


def test_consents_are_used_once_under_concurrency(shop, client, runtime):
    t = template(shop)
    for _ in range(3):
        ok(client.post(f"/api/v1/storefront/messages/templates/{t['id']}/consent", headers=shop.customer))
    barrier = threading.Barrier(6)
    results: list[dict] = []

    def go(i: int) -> None:
        barrier.wait()
        results.append(send(shop, t["id"], key=f"race-{i}"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(len(r["queued"]) for r in results) == 3
    assert sum(len(r["no_consent"]) for r in results) == 3
    assert ok(client.get("/api/v1/storefront/messages/consents", headers=shop.customer))[0]["remaining"] == 0


def test_service_notices_reach_the_customers_inbox(shop, client, runtime):
    order = shop.paid_order({"LATTE-T": 1})
    sweeps.dispatch_outbox(runtime)
    code = shop.pickup_code(order["id"])
    messages = ok(
        client.get("/api/v1/messages", params={"customer_id": shop.customer_id}, headers=shop.admin)
    )
    by_notice = {m["notice"]: m for m in messages["items"]}
    assert by_notice["order_paid"]["status"] == "sent" and order["id"] in by_notice["order_paid"]["body"]
    assert code in by_notice["pickup_ready"]["body"]
    inbox_items = ok(
        client.get(
            f"/api/v1/sandbox/inbox/{by_notice['order_paid']['host_app']}/{_user(shop)}",
            params={"merchant_id": shop.merchant_id},
        )
    )
    assert {"订单支付成功", "商品已可自提"} <= {i["title"] for i in inbox_items}

    # Reworded notices use the merchant's text; unknown variables are refused.
    bad = client.put(
        "/api/v1/messages/notices/order_paid", json={"title": "已付款", "body": "{nope}"}, headers=shop.admin
    )
    assert bad.status_code == 422 and bad.json()["code"] == "message.variable_unknown"
    ok(
        client.put(
            "/api/v1/messages/notices/refund_completed",
            json={"title": "钱已退回", "body": "订单 {order_id} 退款 {amount}"},
            headers=shop.admin,
        )
    )
    notices_list = ok(client.get("/api/v1/messages/notices", headers=shop.admin))
    assert {n["code"] for n in notices_list} >= {"order_paid", "pickup_ready", "shipped", "light_settled"}
    refund = ok(
        client.post(f"/api/v1/orders/{order['id']}/refunds", json={"reason": "test"}, headers=shop.admin), 201
    )
    sweeps.retry_pending_refunds(runtime, age_minutes=0)
    sweeps.dispatch_outbox(runtime)
    messages = ok(
        client.get("/api/v1/messages", params={"customer_id": shop.customer_id}, headers=shop.admin)
    )
    refunded = [m for m in messages["items"] if m["notice"] == "refund_completed"]
    assert refunded and refunded[0]["title"] == "钱已退回" and refund["id"]


def _user(shop) -> str:
    from sqlalchemy import select

    from shoplet.customers.models import CustomerIdentity
    from shoplet.scoping import owned

    with shop.runtime.db.unit_of_work(write=False) as s:
        return s.scalars(
            select(CustomerIdentity.host_user_id).where(
                owned(CustomerIdentity, shop.merchant_id), CustomerIdentity.customer_id == shop.customer_id
            )
        ).one()


def test_a_light_membership_settlement_explains_the_charge(shop, runtime):
    class Row:
        merchant_id, kind, id = shop.merchant_id, "light.settled", "light.settled:x"
        customer_id, subject_id, amount, benefit, host_app = shop.customer_id, "lm_missing", 1500, 1500, None

    with runtime.db.unit_of_work() as s:
        notices.notices_for(s, Row(), now=runtime.clock(), wording={})
    sweeps.dispatch_outbox(runtime)
    items = inbox(shop, _user(shop))
    settled = [i for i in items if i["title"] == "轻会员本期结算"]
    assert settled and "¥15.00" in settled[0]["body"]


def test_another_merchants_templates_are_not_found(shop, other_shop, client):
    t = template(shop)
    r = client.post(
        f"/api/v1/messages/templates/{t['id']}/send",
        json={"customer_ids": [other_shop.customer_id], "values": {"name": "a", "item": "b"}},
        headers=other_shop.admin,
    )
    assert r.status_code == 404 and r.json()["code"] == "message_template.not_found"
    r = client.post(f"/api/v1/storefront/messages/templates/{t['id']}/consent", headers=other_shop.customer)
    assert r.status_code == 404
    assert ok(client.get("/api/v1/messages/templates", headers=other_shop.admin)) == []
    # A merchant's send names only its own customers.
    report = ok(
        client.post(
            f"/api/v1/messages/templates/{t['id']}/send",
            json={"customer_ids": [other_shop.customer_id], "values": {"name": "a", "item": "b"}},
            headers=shop.admin,
        )
    )
    assert report["unknown"] == [other_shop.customer_id]


def _queue_claims(runtime, merchant_id: str, n: int, start: int = 0) -> None:
    from shoplet import events

    with runtime.db.unit_of_work() as s:
        for i in range(start, start + n):
            events.record(
                s, merchant_id, events.EventKind.COUPON_CLAIMED, runtime.clock(), subject_id=f"cp_{i}"
            )


def test_the_consumer_goes_round_while_a_batch_is_full_and_leaves_late_events_to_the_next_kick(
    shop, runtime, monkeypatch
):
    notices.consume(runtime.db, now=runtime.clock())  # what the shop's setup queued
    rounds: list[int] = []
    apply = notices._apply

    def counted(db, merchant_id, now, limit):
        taken = apply(db, merchant_id, now, limit)
        rounds.append(taken)
        return taken

    monkeypatch.setattr(notices, "_apply", counted)
    _queue_claims(runtime, shop.merchant_id, 5)
    assert notices.consume(runtime.db, now=runtime.clock(), limit=2) == 5
    assert rounds == [2, 2, 1]  # full batches go round again; the partial one ends it

    # Events committed while a round works are not chased a few at a time: the commit that
    # queued them kicks the dispatcher, whose next run takes them in one batch.
    rounds.clear()
    late = iter([3])

    def with_late_arrivals(db, merchant_id, now, limit):
        taken = counted(db, merchant_id, now, limit)
        for n in late:
            _queue_claims(runtime, merchant_id, n, start=100)
        return taken

    monkeypatch.setattr(notices, "_apply", with_late_arrivals)
    _queue_claims(runtime, shop.merchant_id, 1, start=50)
    assert notices.consume(runtime.db, now=runtime.clock()) == 1 and rounds == [1]
    assert notices.consume(runtime.db, now=runtime.clock()) == 3 and rounds == [1, 3]
    assert notices.consume(runtime.db, now=runtime.clock()) == 0


def test_every_messaged_kind_is_noticed_or_in_the_webhook_catalogue_and_the_rest_make_no_notice(
    shop, runtime
):
    from sqlalchemy import func, select

    from shoplet.events import MESSAGED
    from shoplet.messaging.models import Message

    assert MESSAGED <= notices.NOTICED | notices.WEBHOOK_KINDS  # nothing queued for nothing

    def messages() -> int:
        with runtime.db.unit_of_work(write=False) as s:
            return s.scalar(select(func.count()).select_from(Message))

    before = messages()
    for kind in sorted(MESSAGED - notices.NOTICED):  # the consumer does not read these for notices

        class Row:
            merchant_id, id, ref, host_app = shop.merchant_id, f"{kind}:x", "x", None
            customer_id, subject_id, amount, benefit = shop.customer_id, "x", 100, 0

        Row.kind = kind
        with runtime.db.unit_of_work() as s:
            notices.notices_for(s, Row(), now=runtime.clock(), wording={})
    assert messages() == before
