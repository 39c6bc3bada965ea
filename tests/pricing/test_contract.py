"""The contract's rules, one by one, on carts computed by hand."""

import pytest

from shoplet.pricing import InvalidCart, price

NOW = "2026-11-21T10:00:00+08:00"


def cart(lines, **extra):
    return {"now": NOW, "lines": lines, **extra}


def applied(result):
    return {a["id"]: (a["amount"], a["lines"]) for a in result["applied"]}


def test_item_level_prices_never_stack_and_the_lowest_wins():
    lines = [
        {
            "sku": "latte",
            "quantity": 2,
            "unit_price": 3200,
            "category": "coffee",
            "member_price": 2900,
            "light_member_price": 2700,
        }
    ]
    promos = [{"id": "pct", "kind": "item_percent", "percent_off": 10, "scope": {"categories": ["coffee"]}}]
    member = price(cart(lines, customer={"member": True}, promotions=promos))
    assert applied(member) == {"pct": (640, [640])}  # 3200 − 320 = 2880 beats the member 2900
    assert member["total"] == 5760 and member["member_savings"] == 0
    light = price(cart(lines, customer={"member": True, "light_member": True}, promotions=promos))
    assert light["applied"][0]["id"] == "light_member_price" and light["applied"][0]["kind"] == "member_price"
    assert light["total"] == 5400
    assert light["light_member_savings"] == 360 and light["member_savings"] == 360


def test_bundle_takes_the_most_expensive_units_first():
    lines = [
        {"sku": "a", "quantity": 2, "unit_price": 1500, "category": "tea"},
        {"sku": "b", "quantity": 2, "unit_price": 1000, "category": "tea"},
    ]
    result = price(
        cart(
            lines,
            promotions=[
                {"id": "n3", "kind": "bundle", "count": 3, "price": 3000, "scope": {"categories": ["tea"]}}
            ],
        )
    )
    # [1500, 1500, 1000] for ¥30: 1000 off, split 3000 : 1000 over the lines in the group.
    assert applied(result) == {"n3": (1000, [750, 250])}
    assert result["total"] == 4000


def test_buy_two_get_the_cheapest_free_with_largest_remainder_allocation():
    lines = [
        {"sku": "a", "quantity": 1, "unit_price": 3000},
        {"sku": "b", "quantity": 2, "unit_price": 2000},
        {"sku": "c", "quantity": 1, "unit_price": 500},
    ]
    result = price(cart(lines, promotions=[{"id": "b2g1", "kind": "buy_x_get_y", "buy": 2, "get": 1}]))
    # Group [3000, 2000, 2000]: 2000 free, split 3000 : 4000 → 857.14 / 1142.86 → 857 / 1143.
    assert applied(result) == {"b2g1": (2000, [857, 1143, 0])}


def test_threshold_tiers_every_and_percent():
    one = [{"sku": "a", "quantity": 1, "unit_price": 25000}]
    tiers = {
        "id": "mj",
        "kind": "threshold_off",
        "group": "g",
        "tiers": [{"threshold": 10000, "off": 1500}, {"threshold": 20000, "off": 4000}],
    }
    every = {"id": "every", "kind": "threshold_off", "group": "g", "every": 10000, "off": 1000, "cap": 1500}
    assert applied(price(cart(one, promotions=[every]))) == {"every": (1500, [1500])}
    assert applied(price(cart(one, promotions=[tiers, every]))) == {"mj": (4000, [4000])}  # one per group
    percent = {"id": "mz", "kind": "threshold_percent", "threshold": 30000, "percent_off": 10}
    assert applied(price(cart(one, promotions=[percent]))) == {}
    assert applied(price(cart([{**one[0], "unit_price": 35005}], promotions=[percent]))) == {
        "mz": (3501, [3501])
    }


def test_stage_three_sees_what_stage_three_left():
    one = [{"sku": "a", "quantity": 1, "unit_price": 20000}]
    first = {"id": "off", "kind": "threshold_off", "tiers": [{"threshold": 10000, "off": 1000}]}
    second = {"id": "pct", "kind": "threshold_percent", "threshold": 19500, "percent_off": 10}
    # After ¥10 off, 19000 is short of the 19500 threshold: the best is the 10% alone (2000).
    result = price(cart(one, promotions=[first, second]))
    assert applied(result) == {"pct": (2000, [2000])}


def test_free_delivery_promotion_uses_goods_after_stage_three():
    one = [{"sku": "a", "quantity": 1, "unit_price": 5500}]
    promos = [
        {"id": "off", "kind": "threshold_off", "tiers": [{"threshold": 5000, "off": 1000}]},
        {"id": "ship", "kind": "free_delivery", "threshold": 5000},
    ]
    result = price(cart(one, delivery_fee=800, promotions=promos))
    # Taking ¥10 off (4500 + 800 = 5300) beats free delivery alone (5500 + 0).
    assert result["total"] == 5300 and result["delivery_fee"] == 800
    alone = price(cart(one, delivery_fee=800, promotions=promos[1:]))
    assert alone["total"] == 5500 and alone["delivery_fee"] == 0
    assert alone["applied"] == [
        {"id": "ship", "kind": "free_delivery", "amount": 0, "lines": [0], "delivery_waived": 800}
    ]


def test_coupon_reasons_a_customer_reads():
    lines = [{"sku": "a", "quantity": 1, "unit_price": 8800, "category": "beans"}]
    coupons = [
        {"id": "short", "kind": "threshold", "threshold": 10000, "off": 2000},
        {"id": "old", "kind": "cash", "off": 500, "expires_at": "2026-11-20T00:00:00+08:00"},
        {"id": "soon", "kind": "cash", "off": 500, "starts_at": "2026-11-25T00:00:00+08:00"},
        {"id": "tea", "kind": "cash", "off": 500, "scope": {"categories": ["tea"]}},
        {"id": "swap", "kind": "exchange", "sku": "mug", "price": 0},
        {"id": "ok", "kind": "percent", "percent_off": 15, "max_off": 1000},
    ]
    result = price(cart(lines, coupons=coupons))
    reasons = {c["id"]: (c["usable"], c["applied"], c["reason"]) for c in result["coupons"]}
    assert reasons == {
        "short": (False, False, "¥12.00 short of the ¥100.00 threshold"),
        "old": (False, False, "expired on 20 Nov"),
        "soon": (False, False, "valid from 25 Nov"),
        "tea": (False, False, "not valid for these items"),
        "swap": (False, False, "not valid for these items"),
        "ok": (True, True, None),
    }
    assert applied(result) == {"ok": (1000, [1000])}  # 15% of 8800 = 1320, capped at 1000


def test_ties_prefer_fewer_coupons_then_sooner_expiry():
    lines = [{"sku": "a", "quantity": 1, "unit_price": 5000}]
    late = {"id": "late", "kind": "cash", "off": 500, "expires_at": "2026-11-30T00:00:00+08:00"}
    soon = {"id": "soon", "kind": "cash", "off": 500, "expires_at": "2026-11-25T00:00:00+08:00"}
    assert [c["id"] for c in price(cart(lines, coupons=[late, soon]))["coupons"] if c["applied"]] == ["soon"]
    halves = [{"id": f"s{i}", "kind": "cash", "off": 500, "stackable": True} for i in range(2)]
    whole = {"id": "whole", "kind": "cash", "off": 1000}
    chosen = [c["id"] for c in price(cart(lines, coupons=[*halves, whole]))["coupons"] if c["applied"]]
    assert chosen == ["whole"]


def test_exchange_coupon_and_stacking():
    lines = [
        {"sku": "latte", "quantity": 2, "unit_price": 3200},
        {"sku": "cake", "quantity": 1, "unit_price": 2800},
    ]
    coupons = [
        {"id": "swap", "kind": "exchange", "sku": "cake", "price": 800},
        {"id": "s1", "kind": "cash", "off": 300, "stackable": True},
        {"id": "s2", "kind": "percent", "percent_off": 10, "stackable": True},
    ]
    result = price(cart(lines, coupons=coupons))
    # swap alone: 2000 off. s1 + s2: 300, then 10% of 8900 = 890 → 1190. The exchange wins.
    assert applied(result) == {"swap": (2000, [0, 2000])}


def test_chosen_coupons_that_do_not_fit_are_explained_and_unused():
    lines = [{"sku": "a", "quantity": 1, "unit_price": 5000}]
    coupons = [{"id": "c1", "kind": "cash", "off": 500}, {"id": "c2", "kind": "cash", "off": 700}]
    result = price(cart(lines, coupons=coupons, selected_coupons=["c1", "c2"]))
    assert result["selection_error"] == "these coupons cannot be used together"
    assert result["total"] == 5000 and not any(c["applied"] for c in result["coupons"])
    chosen = price(cart(lines, coupons=coupons, selected_coupons=["c1"]))
    assert chosen["total"] == 4500 and chosen["selection_error"] is None
    none = price(cart(lines, coupons=coupons, selected_coupons=[]))
    assert none["total"] == 5000


def test_exclusive_promotion_and_promotion_exclusive_coupon():
    lines = [{"sku": "a", "quantity": 1, "unit_price": 10000}]
    promos = [
        {"id": "solo", "kind": "threshold_percent", "threshold": 0, "percent_off": 25, "exclusive": True},
        {"id": "p1", "kind": "threshold_off", "tiers": [{"threshold": 0, "off": 1500}]},
        {"id": "p2", "kind": "threshold_percent", "threshold": 0, "percent_off": 10},
    ]
    result = price(cart(lines, promotions=promos))
    assert applied(result) == {"solo": (2500, [2500])}  # 2500 alone beats 1500 + 850
    coupon = {"id": "vip", "kind": "cash", "off": 3000, "exclusive_with_promotions": True}
    assert applied(price(cart(lines, promotions=promos, coupons=[coupon]))) == {"vip": (3000, [3000])}


def test_equal_shares_give_the_odd_fen_to_the_earlier_line():
    lines = [{"sku": s, "quantity": 1, "unit_price": 1000} for s in "abc"]
    result = price(cart(lines, coupons=[{"id": "c", "kind": "cash", "off": 100}]))
    assert applied(result) == {"c": (100, [34, 33, 33])}


def test_points_pay_at_most_their_share_in_whole_points():
    lines = [{"sku": "a", "quantity": 1, "unit_price": 10001}]
    result = price(cart(lines, points={"balance": 9000, "value_per_point": 2, "max_share_percent": 50}))
    # 50% of 10001 = 5000 (floored) → 2500 points of 2 fen.
    assert applied(result) == {"points": (5000, [5000])} and result["total"] == 5001
    assert result["applied"][0]["points_used"] == 2500


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"lines": []}, "lines: must be a non-empty list"),
        (
            {"lines": [{"sku": "a", "quantity": 1, "unit_price": -1}]},
            "lines[0].unit_price: must not be negative",
        ),
        ({"lines": [{"sku": "a", "quantity": 1}]}, "lines[0].unit_price: is required"),
        (
            {
                "lines": [{"sku": "a", "quantity": 1, "unit_price": 1}],
                "promotions": [{"id": "x", "kind": "magic"}],
            },
            "promotions[0].kind: unknown kind 'magic'",
        ),
        (
            {
                "lines": [{"sku": "a", "quantity": 1, "unit_price": 1}],
                "coupons": [{"id": "x", "kind": "percent", "percent_off": 120}],
            },
            "coupons[0].percent_off: must be an integer from 0 to 100",
        ),
        (
            {"lines": [{"sku": "a", "quantity": 1, "unit_price": 1.5}]},
            "lines[0].unit_price: must be an integer",
        ),
    ],
)
def test_invalid_input_is_refused_with_one_clear_sentence(bad, message):
    with pytest.raises(InvalidCart) as info:
        price({"now": NOW, **bad})
    assert str(info.value).startswith(message)


def test_campaign_price_is_one_more_item_level_price_outside_promotions_and_most_coupons():
    lines = [
        {
            "sku": "latte",
            "quantity": 2,
            "unit_price": 3000,
            "member_price": 2500,
            "campaign": {"id": "grp_1", "kind": "group_price", "price": 1990},
        },
        {"sku": "bagel", "quantity": 1, "unit_price": 5000},
    ]
    promos = [{"id": "mj", "kind": "threshold_off", "tiers": [{"threshold": 4000, "off": 1000}]}]
    coupons = [
        {"id": "c1", "kind": "cash", "off": 500, "scope": {"skus": ["latte"]}},
        {"id": "c2", "kind": "exchange", "sku": "latte", "price": 0},
    ]
    result = price(cart(lines, customer={"member": True}, promotions=promos, coupons=coupons))
    # 1990 beats the member 2500; the 满减 sees only the bagel (5000 ≥ 4000)
    assert applied(result) == {"grp_1": (2020, [2020, 0]), "mj": (1000, [0, 1000])}
    assert result["applied"][0]["kind"] == "group_price"
    assert result["total"] == 2 * 1990 + 4000
    assert [(c["usable"], c["reason"]) for c in result["coupons"]] == [
        (False, "not valid for these items"),
        (False, "not valid for these items"),
    ]
    # The campaign allows coupons, and only a coupon that allows campaigns applies.
    lines[0]["campaign"]["coupons"] = True
    coupons.append({"id": "c3", "kind": "cash", "off": 300, "campaigns": True, "scope": {"skus": ["latte"]}})
    result = price(cart(lines, customer={"member": True}, promotions=promos, coupons=coupons))
    assert applied(result)["c3"] == (300, [300, 0])
    assert [c["usable"] for c in result["coupons"]] == [False, False, True]
    # A lower member price still wins: the campaign price never stacks with it.
    lines[0]["member_price"] = 1500
    result = price(cart(lines, customer={"member": True}, coupons=[]))
    assert applied(result) == {"member_price": (3000, [3000, 0])}


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        ({"id": "x", "kind": "bogus", "price": 1}, "lines[0].campaign.kind"),
        ({"id": "x", "kind": "flash_price", "price": -1}, "lines[0].campaign.price"),
        ({"id": "mj", "kind": "flash_price", "price": 1}, "also a promotion's id"),
    ],
)
def test_invalid_campaigns_are_refused(campaign, message):
    body = cart(
        [{"sku": "a", "quantity": 1, "unit_price": 100, "campaign": campaign}],
        promotions=[{"id": "mj", "kind": "threshold_off", "tiers": [{"threshold": 1, "off": 1}]}],
    )
    with pytest.raises(InvalidCart, match=message.replace("[", r"\[").replace("]", r"\]")):
        price(body)
