"""Refunds: by line and quantity, exact allocated shares, never more than paid."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shoplet.payments.refunds import line_share
from tests.helpers import ok


@given(total=st.integers(0, 10**7), quantity=st.integers(1, 50), data=st.data())
def test_partial_shares_always_sum_to_the_line_total(total, quantity, data):
    steps = data.draw(st.lists(st.integers(1, quantity), max_size=quantity))
    refunded, paid_back = 0, 0
    for step in steps:
        step = min(step, quantity - refunded)
        if step == 0:
            break
        share = line_share(total, quantity, refunded, step)
        assert 0 <= share <= total
        refunded += step
        paid_back += share
    paid_back += line_share(total, quantity, refunded, quantity - refunded)
    assert paid_back == total


def _refund(shop, order_id, body, key=None, status=201):
    headers = {**shop.admin, **({"Idempotency-Key": key} if key else {})}
    return ok(shop.client.post(f"/api/v1/orders/{order_id}/refunds", json=body, headers=headers), status)


def test_refunds_never_exceed_what_was_paid(shop):
    order = shop.paid_order({"LATTE-T": 3, "BEANS": 1})
    latte = next(x for x in order["lines"] if x["sku_id"] == shop.skus["LATTE-T"])
    _refund(shop, order["id"], {"lines": [{"line_id": latte["id"], "quantity": 2}]})
    too_many = _refund(shop, order["id"], {"lines": [{"line_id": latte["id"], "quantity": 2}]}, status=422)
    assert too_many["code"] == "refund.exceeds_quantity"
    rest = _refund(shop, order["id"], {})
    assert rest["amount"] == order["total"] - 2 * 3200
    again = _refund(shop, order["id"], {}, status=409)
    assert again["code"] == "refund.already_refunded"
    final = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert final["refunded_amount"] == final["paid_amount"] and final["refund_status"] == "full"
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 0


def test_refund_input_errors_change_nothing(shop, other_shop):
    order = shop.paid_order({"LATTE-T": 1})
    foreign = other_shop.paid_order({"LATTE-T": 1})
    cases = [
        ({"lines": [{"line_id": "oln_nope", "quantity": 1}]}, 422, "refund.unknown_line"),
        ({"lines": [{"line_id": foreign["lines"][0]["id"], "quantity": 1}]}, 422, "refund.unknown_line"),
        ({"lines": [{"line_id": order["lines"][0]["id"], "quantity": 0}]}, 422, "request.invalid"),
        ({"lines": []}, 422, "request.invalid"),
        (
            {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "bogus": 1},
            422,
            "request.invalid",
        ),
    ]
    for body, status, code in cases:
        assert _refund(shop, order["id"], body, status=status)["code"] == code
    after = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert after["refunded_amount"] == 0 and after["lines"][0]["refunded_quantity"] == 0


def test_unpaid_order_cannot_be_refunded(shop):
    order = shop.order({"LATTE-T": 1})
    assert _refund(shop, order["id"], {}, status=409)["code"] == "refund.order_not_paid"


@pytest.mark.parametrize("restock", [True, False])
def test_goods_returned_after_fulfilment_come_back_on_hand(shop, restock):
    order = shop.paid_order({"BEANS": 2})
    assert shop.pick_up(order["id"])["status"] == "fulfilled"
    assert shop.level(shop.store_id, "BEANS") == {
        **shop.level(shop.store_id, "BEANS"),
        "on_hand": 18,
        "reserved": 0,
    }
    _refund(
        shop,
        order["id"],
        {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "restock": restock},
    )
    assert shop.level(shop.store_id, "BEANS")["on_hand"] == (19 if restock else 18)


def test_fulfilment_commits_only_unrefunded_units(shop):
    order = shop.paid_order({"LATTE-T": 3})
    _refund(shop, order["id"], {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]})
    shop.pick_up(order["id"])
    level = shop.level(shop.store_id, "LATTE-T")
    assert level["on_hand"] == 18 and level["reserved"] == 0


def test_concurrent_refunds_never_exceed_the_line(shop, runtime):
    """Ten threads each refund one unit of a five-unit line: exactly five succeed, and the
    money returned is exactly the line's payable total."""
    from concurrent.futures import ThreadPoolExecutor

    from shoplet.errors import ShopletError
    from shoplet.payments import refunds

    order = shop.paid_order({"LATTE-T": 5})
    line = order["lines"][0]

    def attempt(_):
        try:
            with runtime.db.unit_of_work() as s:
                refund = refunds.request_refund(
                    s,
                    merchant_id=shop.merchant_id,
                    order_id=order["id"],
                    items=[refunds.RefundItem(line["id"], 1)],
                    restock=False,
                    reason="race",
                    now=runtime.clock(),
                )
            return refunds.complete_refund(
                runtime.db,
                runtime.providers,
                merchant_id=shop.merchant_id,
                refund_id=refund.id,
                now=runtime.clock(),
            ).amount
        except ShopletError as exc:
            assert exc.code in ("refund.exceeds_quantity", "refund.already_refunded")
            return 0

    with ThreadPoolExecutor(6) as pool:
        amounts = [a for a in pool.map(attempt, range(10)) if a]
    assert len(amounts) == 5 and sum(amounts) == line["total"]
    final = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert final["refunded_amount"] == final["paid_amount"]
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 0
