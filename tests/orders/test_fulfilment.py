"""Fulfilment: pickup codes verified once, uncollected pickups expiring, scheduled
delivery within a radius and per-slot capacity, express, and routing to the warehouse."""

from datetime import datetime

from shoplet import sweeps
from tests.helpers import ok

FAR = {"name": "Li", "phone": "13800000000", "address": "Far away", "latitude": 31.5, "longitude": 121.4}
NEAR = {"name": "Li", "phone": "13800000000", "address": "Next door", "latitude": 31.201, "longitude": 121.4}


def _checkout(shop, lines, status=201, **fulfilment):
    body = {
        "location_id": fulfilment.pop("location", shop.store_id),
        "lines": [{"sku_id": shop.skus[code], "quantity": q} for code, q in lines.items()],
    }
    if fulfilment:
        body["fulfilment"] = fulfilment
    return ok(shop.client.post("/api/v1/storefront/orders", json=body, headers=shop.customer), status)


def _at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _delivery(shop, **settings):
    ok(
        shop.client.patch(
            f"/api/v1/stores/{shop.store_id}",
            json={
                "fulfilment": {
                    "delivery_radius_m": 3000,
                    "delivery_fee": 500,
                    "slot_capacity": 1,
                    "lead_minutes": 0,
                    "days_ahead": 1,
                    **settings,
                }
            },
            headers=shop.admin,
        )
    )
    slots = ok(
        shop.client.get(f"/api/v1/storefront/stores/{shop.store_id}/delivery-slots", headers=shop.customer)
    )
    return [s for s in slots if s["remaining"] > 0]


def test_pickup_code_is_verified_exactly_once(shop, other_shop):
    order = _checkout(shop, {"BEANS": 2})
    assert (
        order["fulfilments"][0]["mode"] == "pickup" and order["fulfilments"][0]["pickup_code"] is None
    )  # unpaid
    shop.pay(order["id"])
    code = shop.pickup_code(order["id"])
    staff_view = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert staff_view["fulfilments"][0]["pickup_code"] is None  # staff verify the code the customer shows
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for headers, attempt in ((shop.clerk, wrong), (other_shop.clerk, code)):
        refused = shop.client.post("/api/v1/pickups/verify", json={"code": attempt}, headers=headers)
        assert refused.status_code == 422 and refused.json()["code"] == "pickup.code_wrong"
    assert shop.level(shop.store_id, "BEANS")["reserved"] == 2
    picked = shop.pick_up(order["id"])
    assert picked["status"] == "fulfilled" and picked["fulfilments"][0]["status"] == "done"
    assert shop.level(shop.store_id, "BEANS") | {"sku_id": 0} == {
        "location_id": shop.store_id,
        "sku_id": 0,
        "on_hand": 18,
        "reserved": 0,
        "available": 18,
    }
    used = shop.client.post("/api/v1/pickups/verify", json={"code": code}, headers=shop.clerk)
    assert used.status_code == 409 and used.json()["code"] == "pickup.code_used"
    assert shop.level(shop.store_id, "BEANS")["on_hand"] == 18


def test_uncollected_pickup_expires_releases_stock_and_refunds(shop, runtime, clock):
    order = _checkout(shop, {"LATTE-T": 1, "BEANS": 1})
    shop.pay(order["id"])
    code = shop.pickup_code(order["id"])
    clock.advance(hours=47)
    sweeps.fulfilment_lifecycle(runtime)  # the sweep covers every merchant: look at this order
    assert (
        ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))["fulfilments"][0]["status"]
        == "ready"
    )
    clock.advance(hours=2)
    sweeps.fulfilment_lifecycle(runtime)
    sweeps.fulfilment_lifecycle(runtime)  # once only
    after = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert after["fulfilments"][0]["status"] == "expired" and after["refund_status"] == "full"
    assert after["status"] == "closed"  # it ended uncollected, and its money went back
    closed = ok(shop.client.get("/api/v1/orders", params={"status": "closed"}, headers=shop.admin))["items"]
    assert [o["id"] for o in closed] == [order["id"]]
    refunds = ok(shop.client.get(f"/api/v1/orders/{order['id']}/refunds", headers=shop.admin))
    assert [(r["amount"], r["status"], r["reason"]) for r in refunds] == [
        (order["total"], "succeeded", "pickup_expired")
    ]
    assert (
        shop.level(shop.store_id, "BEANS")["reserved"] == 0
        and shop.level(shop.store_id, "BEANS")["on_hand"] == 20
    )
    late = shop.client.post("/api/v1/pickups/verify", json={"code": code}, headers=shop.clerk)
    assert late.status_code == 409 and late.json()["code"] == "pickup.expired"


def test_scheduled_delivery_radius_slot_and_capacity(shop, other_shop):
    slots = _delivery(shop)
    assert slots and all(s["remaining"] == 1 for s in slots)
    slot = slots[0]["start"]
    far = _checkout(shop, {"BEANS": 1}, 422, mode="delivery", slot_start=slot, address=FAR)
    assert far["code"] == "delivery.outside_radius" and far["distance_m"] > 3000
    odd = _checkout(shop, {"BEANS": 1}, 422, mode="delivery", slot_start="2031-01-01T03:17:00Z", address=NEAR)
    assert odd["code"] == "delivery.bad_slot"
    quote = ok(
        shop.client.post(
            "/api/v1/storefront/quote",
            json={
                "location_id": shop.store_id,
                "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
                "fulfilment": {"mode": "delivery", "slot_start": slot, "address": NEAR},
            },
            headers=shop.customer,
        )
    )
    assert quote["delivery_fee"] == 500 and quote["total"] == shop.prices["BEANS"] + 500
    assert quote["shipments"][0]["mode"] == "delivery" and quote["shipments"][0]["distance_m"] < 3000
    first = _checkout(shop, {"BEANS": 1}, mode="delivery", slot_start=slot, address=NEAR)
    assert first["delivery_fee"] == 500 and first["total"] == shop.prices["BEANS"] + 500
    assert _at(first["fulfilments"][0]["slot_start"]) == _at(slot)
    full = _checkout(shop, {"BEANS": 1}, 409, mode="delivery", slot_start=slot, address=NEAR)
    assert full["code"] == "delivery.slot_full"
    assert shop.level(shop.store_id, "BEANS")["reserved"] == 1  # the refused order reserved nothing
    ok(shop.client.post(f"/api/v1/storefront/orders/{first['id']}/cancel", headers=shop.customer))
    second = _checkout(
        shop, {"BEANS": 1}, mode="delivery", slot_start=slot, address=NEAR
    )  # the slot was freed
    shop.pay(second["id"])
    assert (
        shop.client.post(f"/api/v1/orders/{second['id']}/fulfil", headers=other_shop.clerk).status_code == 404
    )
    delivered = ok(shop.client.post(f"/api/v1/orders/{second['id']}/fulfil", headers=shop.clerk))
    assert delivered["status"] == "fulfilled" and shop.level(shop.store_id, "BEANS")["on_hand"] == 19


def test_store_short_offers_split_or_warehouse_and_split_ships_from_both(shop):
    shop.stock(shop.store_id, "BEANS", 1)
    ok(
        shop.client.patch(
            f"/api/v1/stores/{shop.warehouse_id}",
            json={"fulfilment": {"express_fee": 800}},
            headers=shop.admin,
        )
    )
    refused = _checkout(shop, {"LATTE-T": 1, "BEANS": 2}, 422)
    assert refused["code"] == "stock.insufficient" and refused["missing"] == [shop.skus["BEANS"]]
    assert refused["routing_options"] == ["split", "warehouse"]
    quote = ok(
        shop.client.post(
            "/api/v1/storefront/quote",
            json={
                "location_id": shop.store_id,
                "lines": [
                    {"sku_id": shop.skus["LATTE-T"], "quantity": 1},
                    {"sku_id": shop.skus["BEANS"], "quantity": 2},
                ],
            },
            headers=shop.customer,
        )
    )
    assert quote["shipments"] == [] and quote["missing"] == [shop.skus["BEANS"]]
    options = {o["routing"]: o for o in quote["routing_options"]}
    assert [(s["location_id"], s["mode"], s["sku_ids"]) for s in options["split"]["shipments"]] == [
        (shop.store_id, "pickup", [shop.skus["LATTE-T"]]),
        (shop.warehouse_id, "express", [shop.skus["BEANS"]]),
    ]
    assert options["split"]["delivery_fee"] == 800 and options["split"]["shipments"][1]["arrive_by"]
    split = _checkout(shop, {"LATTE-T": 1, "BEANS": 2}, routing="split")
    assert split["delivery_fee"] == 800 and len(split["fulfilments"]) == 2
    assert (
        shop.level(shop.store_id, "LATTE-T")["reserved"] == 1
        and shop.level(shop.warehouse_id, "BEANS")["reserved"] == 2
    )
    assert shop.level(shop.store_id, "BEANS")["reserved"] == 0
    shop.pay(split["id"])
    assert shop.pick_up(split["id"])["status"] == "paid"  # the warehouse part is still to ship
    shipped = ok(shop.client.post(f"/api/v1/orders/{split['id']}/fulfil", headers=shop.admin))
    assert shipped["status"] == "fulfilled" and {f["status"] for f in shipped["fulfilments"]} == {"done"}
    assert shop.level(shop.warehouse_id, "BEANS")["on_hand"] == 98
    whole = _checkout(shop, {"LATTE-T": 1, "BEANS": 2}, routing="warehouse")
    assert [(f["location_id"], f["mode"]) for f in whole["fulfilments"]] == [(shop.warehouse_id, "express")]


def test_the_nearest_warehouse_with_the_goods_ships_them(shop):
    """A chain with a northern and an eastern warehouse: a Shanghai store's missing beans
    come from the eastern one (31.2 N) although the northern one sorts first by code."""
    north = ok(
        shop.client.post(
            "/api/v1/stores",
            json={
                "kind": "warehouse",
                "code": "A-NORTH",
                "name": "Beijing DC",
                "latitude": 39.9,
                "longitude": 116.4,
            },
            headers=shop.admin,
        ),
        201,
    )
    shop.stock(north["id"], "BEANS", 100)
    shop.stock(shop.store_id, "BEANS", 0)
    split = _checkout(shop, {"LATTE-T": 1, "BEANS": 1}, routing="split")
    assert sorted(f["location_id"] for f in split["fulfilments"]) == sorted(
        [shop.store_id, shop.warehouse_id]
    )
    # Delivered to an address in Beijing, the whole order ships from Beijing.
    whole = _checkout(
        shop,
        {"BEANS": 1},
        routing="warehouse",
        mode="delivery",
        address={**FAR, "latitude": 39.95, "longitude": 116.3},
    )
    assert [f["location_id"] for f in whole["fulfilments"]] == [north["id"]]
    # When the nearest has too little, the next nearest that has it all ships.
    shop.stock(shop.warehouse_id, "BEANS", 1)  # the one unit is reserved for the split order
    assert [f["location_id"] for f in _checkout(shop, {"BEANS": 1}, routing="warehouse")["fulfilments"]] == [
        north["id"]
    ]


def test_refunding_an_unshipped_part_releases_it_where_it_was_reserved(shop):
    shop.stock(shop.store_id, "BEANS", 0)
    order = _checkout(shop, {"LATTE-T": 1, "BEANS": 1}, routing="split")
    shop.pay(order["id"])
    beans = next(line for line in order["lines"] if line["sku_id"] == shop.skus["BEANS"])
    ok(
        shop.client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": beans["id"], "quantity": 1}]},
            headers=shop.admin,
        ),
        201,
    )
    assert shop.level(shop.warehouse_id, "BEANS")["reserved"] == 0
    after = ok(shop.client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert sorted((f["mode"], f["status"]) for f in after["fulfilments"]) == [
        ("express", "cancelled"),
        ("pickup", "ready"),
    ]
    assert shop.pick_up(order["id"])["status"] == "fulfilled"


def test_out_of_stock_everywhere_and_unavailable_modes(shop):
    shop.stock(shop.store_id, "BEANS", 0)
    shop.stock(shop.warehouse_id, "BEANS", 0)
    for routing in ("store", "split", "warehouse"):
        refused = _checkout(shop, {"BEANS": 1}, 422, routing=routing)
        assert refused["code"] == "stock.out_everywhere" and refused["missing"] == [shop.skus["BEANS"]]
    assert _checkout(shop, {"LATTE-T": 1}, 422, mode="express")["code"] == "fulfilment.mode_unavailable"
    assert _checkout(shop, {"LATTE-T": 1}, 422, mode="delivery")["code"] == "fulfilment.mode_unavailable"
    assert (
        _checkout(shop, {"LATTE-T": 1}, 422, mode="pickup", location=shop.warehouse_id)["code"]
        == "fulfilment.mode_unavailable"
    )
    _delivery(shop)
    assert (
        _checkout(shop, {"LATTE-T": 1}, 422, mode="delivery", address=NEAR)["code"]
        == "delivery.slot_required"
    )
    assert (
        _checkout(
            shop, {"LATTE-T": 1}, 422, mode="delivery", slot_start=datetime(2031, 1, 1).isoformat() + "Z"
        )["code"]
        == "delivery.address_required"
    )
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 0


def test_a_tier_with_free_delivery_waives_the_fee(shop, client):
    ok(
        client.post(
            "/api/v1/member-tiers",
            json={"code": "vip", "name": "VIP", "threshold": 10, "free_delivery": True},
            headers=shop.admin,
        ),
        201,
    )
    ok(
        client.patch(
            f"/api/v1/stores/{shop.warehouse_id}",
            json={"fulfilment": {"express_fee": 800}},
            headers=shop.admin,
        )
    )
    before = _checkout(shop, {"LATTE-T": 1}, location=shop.warehouse_id)
    assert before["delivery_fee"] == 800 and before["total"] == shop.prices["LATTE-T"] + 800
    shop.pay(before["id"])  # the paid order's growth reaches VIP
    after = _checkout(shop, {"LATTE-T": 1}, location=shop.warehouse_id)
    assert after["delivery_fee"] == 0 and after["pricing"]["tier_free_delivery"] is True
    assert (after["fulfilments"][0]["fee"], after["fulfilments"][0]["delivery_paid"]) == (800, 0)  # waived
    assert before["fulfilments"][0]["delivery_paid"] == 800
    listed = ok(client.get("/api/v1/orders", params={"guide_id": "nobody"}, headers=shop.admin))["items"]
    assert listed == []


def test_a_pickup_code_taken_at_the_store_is_drawn_again(shop, monkeypatch):
    from shoplet.orders import fulfilment

    draws = iter([7, 7, 8])
    monkeypatch.setattr(fulfilment.secrets, "randbelow", lambda n: next(draws))
    first, second = _checkout(shop, {"LATTE-T": 1}), _checkout(shop, {"LATTE-T": 1})
    for order in (first, second):
        shop.pay(order["id"])
    assert (shop.pickup_code(first["id"]), shop.pickup_code(second["id"])) == ("000007", "000008")
    assert shop.level(shop.store_id, "LATTE-T")["reserved"] == 2


def test_one_pickup_that_cannot_expire_does_not_stop_the_others(shop, runtime, clock, monkeypatch):
    from shoplet.errors import Conflict
    from shoplet.payments import refunds

    stuck, fine = _checkout(shop, {"LATTE-T": 1}), _checkout(shop, {"BEANS": 1})
    for order in (stuck, fine):
        shop.pay(order["id"])
    real = refunds.request_refund

    def refuse_one(session, **kwargs):
        if kwargs["order_id"] == stuck["id"]:
            raise Conflict("refund.test", "Refused for the test.")
        return real(session, **kwargs)

    monkeypatch.setattr(refunds, "request_refund", refuse_one)
    clock.advance(hours=49)
    sweeps.fulfilment_lifecycle(runtime)
    states = {
        o["id"]: ok(shop.client.get(f"/api/v1/orders/{o['id']}", headers=shop.admin))["fulfilments"][0][
            "status"
        ]
        for o in (stuck, fine)
    }
    assert states == {stuck["id"]: "ready", fine["id"]: "expired"}  # the stuck one rolled back whole
    assert (
        shop.level(shop.store_id, "LATTE-T")["reserved"] == 1
        and shop.level(shop.store_id, "BEANS")["reserved"] == 0
    )


def test_a_slot_is_offered_exactly_when_the_store_lists_it(shop, runtime):
    """Checkout checks the one slot asked for (routing._offered) instead of listing them
    all: it must agree with the list for every start listed, and refuse every other time."""
    from datetime import timedelta

    from shoplet.inventory.models import StockLocation
    from shoplet.orders import routing

    listed = _delivery(shop, lead_minutes=45, slot_minutes=30, days_ahead=2)
    now = runtime.clock()
    with runtime.db.unit_of_work(write=False) as s:
        store = s.get(StockLocation, (shop.merchant_id, shop.store_id))
        starts = [s_["start"] for s_ in routing.slots(s, store=store, now=now)]
        assert starts and len(starts) == len(listed)
        for start in starts:
            assert routing._offered(s, store, start, now) == (start, start + timedelta(minutes=30))
        offered = set(starts)
        probe = starts[0].replace(minute=0) - timedelta(days=1)
        while probe < starts[-1] + timedelta(days=1):
            assert (routing._offered(s, store, probe, now) is not None) == (probe in offered), probe
            probe += timedelta(minutes=5)
