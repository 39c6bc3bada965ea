"""The search finds exactly the combination a brute-force oracle finds, on many carts."""

from hypothesis import HealthCheck, given, settings

from shoplet.pricing import price
from shoplet.pricing.engine import Context
from shoplet.pricing.model import parse
from shoplet.pricing.search import Search
from tests.pricing.oracle import brute_force
from tests.pricing.strategies import carts


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(carts())
def test_search_agrees_with_brute_force(data):
    cart = parse(data)
    ctx = Context(cart, member=cart.member, light_member=cart.light_member)
    expected = brute_force(ctx)
    found = Search(ctx).run()
    assert found.key == expected[0]
    assert [r.id for r in found.promotions] == [r.id for r in expected[1]]
    assert [c.id for c in found.coupons] == [c.id for c in expected[2]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(carts(max_promotions=7, max_coupons=3))
def test_search_agrees_on_promotion_heavy_carts(data):
    cart = parse(data)
    ctx = Context(cart, member=cart.member, light_member=cart.light_member)
    assert Search(ctx).run().key == brute_force(ctx)[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(carts(max_promotions=4, max_coupons=3))
def test_membership_savings_match_brute_force(data):
    cart = parse(data)
    result = price(data)

    def best_total(member, light):
        return brute_force(Context(cart, member=member, light_member=light))[0][0]

    assert result["total"] == best_total(cart.member, cart.light_member)
    expected_member = (
        max(0, best_total(False, False) - result["total"]) if cart.member or cart.light_member else 0
    )
    expected_light = max(0, best_total(cart.member, False) - result["total"]) if cart.light_member else 0
    assert result["member_savings"] == expected_member
    assert result["light_member_savings"] == expected_light


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(carts())
def test_result_adds_up_to_the_fen(data):
    result = price(data)
    n = len(data["lines"])
    assert result["total"] == result["subtotal"] - result["discount"] + result["delivery_fee"]
    assert result["discount"] == sum(rule["amount"] for rule in result["applied"])
    for rule in result["applied"]:
        assert len(rule["lines"]) == n and sum(rule["lines"]) == rule["amount"] and rule["amount"] >= 0
        assert all(x >= 0 for x in rule["lines"])
    for i, line in enumerate(result["lines"]):
        assert line["discount"] == sum(rule["lines"][i] for rule in result["applied"])
        assert line["total"] == line["subtotal"] - line["discount"] >= 0
    assert result["total"] >= 0 and result["member_savings"] >= 0 and result["light_member_savings"] >= 0
    assert [c["id"] for c in result["coupons"]] == [c["id"] for c in data["coupons"]]
    for c in result["coupons"]:
        assert c["usable"] == (c["reason"] is None)
        assert not c["applied"] or c["usable"]
