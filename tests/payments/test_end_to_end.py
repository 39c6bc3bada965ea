"""A customer signs in, checks out, pays through the sandbox (signed notification delivered
over HTTP and verified), becomes a member, and gets a partial refund — all over HTTP."""

from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.payments.models import PaymentNotification, SandboxRefund, SandboxTrade
from tests.helpers import ok


def test_checkout_pay_and_partial_refund(shop, client, runtime):
    me = ok(client.get("/api/v1/storefront/me", headers=shop.customer))
    assert me["membership"] is None

    order = shop.order({"LATTE-T": 2, "BEANS": 1}, key="checkout-1")
    assert order["status"] == "pending_payment"
    assert order["total"] == 2 * 3200 + 8899
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 2

    payment = ok(
        client.post(
            f"/api/v1/storefront/orders/{order['id']}/payments",
            headers={**shop.customer, "Idempotency-Key": "pay-1"},
        ),
        201,
    )
    assert payment["status"] == "pending" and payment["amount"] == order["total"]
    assert payment["pay_params"]["trade_no"] == payment["provider_trade_no"]

    ok(client.post(f"/api/v1/sandbox/trades/{payment['provider_trade_no']}/pay"))
    # Not paid until the asynchronous notification is delivered and verified.
    assert ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["status"] == "pending_payment"
    assert sweeps.dispatch_outbox(runtime) >= 1

    paid = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert paid["status"] == "paid" and paid["paid_amount"] == order["total"]
    with runtime.db.unit_of_work(write=False) as s:
        notes = s.scalars(
            select(PaymentNotification).where(PaymentNotification.merchant_id == shop.merchant_id)
        ).all()
        assert [n.outcome for n in notes] == ["paid"]

    membership = ok(client.get("/api/v1/storefront/me", headers=shop.customer))["membership"]
    assert membership["tier"] == "base" and membership["host_app"] == "alipay"
    assert membership["scene"] == "qr_scan" and membership["first_order_id"] == order["id"]

    latte_line = next(x for x in paid["lines"] if x["sku_id"] == shop.skus["LATTE-T"])
    refund = ok(
        client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": latte_line["id"], "quantity": 1}], "reason": "spilled"},
            headers={**shop.admin, "Idempotency-Key": "refund-1"},
        ),
        201,
    )
    assert refund["status"] == "succeeded" and refund["amount"] == 3200
    assert refund["lines"] == [{"order_line_id": latte_line["id"], "quantity": 1, "amount": 3200}]

    after = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert after["refunded_amount"] == 3200 and after["refund_status"] == "partial"
    # The refunded, unfulfilled unit gives its reservation back.
    assert shop.level(shop.store_id, "LATTE-T") == {
        **shop.level(shop.store_id, "LATTE-T"),
        "reserved": 1,
        "on_hand": 20,
    }
    with runtime.db.unit_of_work(write=False) as s:
        trade = s.scalar(select(SandboxTrade).where(SandboxTrade.trade_no == payment["provider_trade_no"]))
        assert trade.refunded_amount == 3200


def test_replayed_refund_request_pays_out_once(shop, client, runtime):
    order = shop.paid_order({"LATTE-T": 3})
    line = order["lines"][0]
    body = {"lines": [{"line_id": line["id"], "quantity": 1}]}
    headers = {**shop.admin, "Idempotency-Key": "r-1"}
    first = ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=headers), 201)
    again = ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json=body, headers=headers), 201)
    assert first["id"] == again["id"]
    other = client.post(
        f"/api/v1/orders/{order['id']}/refunds",
        json={"lines": [{"line_id": line["id"], "quantity": 2}]},
        headers=headers,
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency.key_reused"
    with runtime.db.unit_of_work(write=False) as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(SandboxRefund)
                .where(SandboxRefund.merchant_id == shop.merchant_id)
            )
            == 1
        )
    assert ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["refunded_amount"] == 3200
