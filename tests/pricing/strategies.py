"""Random small carts that exercise every rule kind, scope, group, exclusivity and window."""

from hypothesis import strategies as st

SKUS = ["a", "b", "c", "d"]
CATEGORIES = ["x", "y"]
NOW = "2026-11-21T10:00:00+08:00"
TIMES = [None, "2026-11-20T00:00:00+08:00", "2026-11-22T00:00:00+08:00", "2026-11-25T00:00:00+08:00"]

scope = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"skus": st.lists(st.sampled_from(SKUS), max_size=2, unique=True)}),
    st.fixed_dictionaries({"categories": st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=1)}),
    st.fixed_dictionaries({"exclude_skus": st.lists(st.sampled_from(SKUS), min_size=1, max_size=1)}),
)
price = st.integers(0, 6000)


@st.composite
def line(draw, sku):
    unit = draw(st.integers(100, 6000))
    data = {
        "sku": sku,
        "quantity": draw(st.integers(1, 3)),
        "unit_price": unit,
        "category": draw(st.sampled_from(CATEGORIES)),
    }
    if draw(st.booleans()):
        data["member_price"] = draw(st.integers(0, unit))
    if draw(st.booleans()):
        data["light_member_price"] = draw(st.integers(0, unit))
    if draw(st.integers(0, 3)) == 0:  # a group-buy, flash or plan line
        data["campaign"] = {
            "id": f"cmp_{sku}",
            "kind": draw(st.sampled_from(["group_price", "flash_price", "plan_price"])),
            "price": draw(st.integers(0, unit)),
            "coupons": draw(st.booleans()),
        }
    return data


@st.composite
def promotion(draw, index):
    kind = draw(
        st.sampled_from(
            [
                "item_price",
                "item_percent",
                "bundle",
                "buy_x_get_y",
                "threshold_off",
                "threshold_off_every",
                "threshold_percent",
                "free_delivery",
            ]
        )
    )
    data = {"id": f"p{index}", "scope": draw(scope)}
    if kind == "item_price":
        data.update(kind=kind, price=draw(price))
    elif kind == "item_percent":
        data.update(kind=kind, percent_off=draw(st.integers(0, 100)))
    elif kind == "bundle":
        data.update(kind=kind, count=draw(st.integers(1, 4)), price=draw(st.integers(0, 12000)))
    elif kind == "buy_x_get_y":
        data.update(kind=kind, buy=draw(st.integers(1, 3)), get=draw(st.integers(1, 2)))
    elif kind == "threshold_off":
        tiers = draw(st.lists(st.tuples(st.integers(0, 20000), st.integers(0, 5000)), min_size=1, max_size=3))
        data.update(kind=kind, tiers=[{"threshold": t, "off": o} for t, o in tiers])
    elif kind == "threshold_off_every":
        data.update(
            kind="threshold_off",
            every=draw(st.integers(1000, 10000)),
            off=draw(st.integers(0, 2000)),
            cap=draw(st.one_of(st.none(), st.integers(0, 5000))),
        )
    elif kind == "threshold_percent":
        data.update(kind=kind, threshold=draw(st.integers(0, 20000)), percent_off=draw(st.integers(0, 100)))
    else:
        data.update(kind=kind, threshold=draw(st.integers(0, 20000)))
    group = draw(st.sampled_from([None, None, "g1", "g2"]))
    if group:
        data["group"] = group
    if draw(st.integers(0, 5)) == 0:
        data["exclusive"] = True
    start, end = draw(
        st.sampled_from([(None, None)] * 4 + [(TIMES[1], None), (None, TIMES[1]), (TIMES[2], None)])
    )
    if start:
        data["starts_at"] = start
    if end:
        data["expires_at"] = end
    return data


@st.composite
def coupon(draw, index, skus):
    kind = draw(st.sampled_from(["cash", "threshold", "percent", "exchange", "free_delivery"]))
    data = {"id": f"c{index}", "kind": kind, "scope": draw(scope)}
    if kind == "cash":
        data["off"] = draw(st.integers(0, 3000))
    elif kind == "threshold":
        data.update(threshold=draw(st.integers(0, 15000)), off=draw(st.integers(0, 5000)))
    elif kind == "percent":
        data.update(
            percent_off=draw(st.integers(0, 100)),
            threshold=draw(st.integers(0, 10000)),
            max_off=draw(st.one_of(st.none(), st.integers(0, 4000))),
        )
    elif kind == "exchange":
        data.update(sku=draw(st.sampled_from(skus + ["zz"])), price=draw(st.integers(0, 3000)))
    data["stackable"] = draw(st.booleans())
    if draw(st.booleans()):
        data["campaigns"] = True
    if draw(st.integers(0, 4)) == 0:
        data["exclusive_with_promotions"] = True
    expires = draw(st.sampled_from(TIMES))
    if expires:
        data["expires_at"] = expires
    return data


@st.composite
def carts(draw, max_promotions=5, max_coupons=4):
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=4, unique=True))
    lines = [draw(line(sku)) for sku in skus]
    promotions = [draw(promotion(i)) for i in range(draw(st.integers(0, max_promotions)))]
    coupons = [draw(coupon(i, skus)) for i in range(draw(st.integers(0, max_coupons)))]
    return {
        "now": NOW,
        "lines": lines,
        "customer": {"member": draw(st.booleans()), "light_member": draw(st.booleans())},
        "delivery_fee": draw(st.sampled_from([0, 600, 1000])),
        "promotions": promotions,
        "coupons": coupons,
        "selected_coupons": None,
    }
