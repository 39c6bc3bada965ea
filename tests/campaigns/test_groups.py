"""Group buying over HTTP: a group fills and succeeds, a group times out and every member is
refunded once, seats are held and released, and the last seat is never sold twice."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.campaigns import groups
from shoplet.campaigns.models import BuyingGroup, GroupCampaign, GroupSeat
from shoplet.errors import ShopletError
from shoplet.orders.pricing import EnginePricer
from shoplet.payments.models import Refund
from shoplet.scoping import scoped
from tests.campaigns.helpers import customers, group_campaign, headers, join_group, open_group
from tests.helpers import ok


def _refunded_in_full(shop, *order_ids: str) -> list[dict]:
    """Each order as the merchant sees it, asserted refunded in full (a group's price)."""
    found = [ok(shop.client.get(f"/api/v1/orders/{oid}", headers=shop.admin)) for oid in order_ids]
    for placed in found:
        assert placed["status"] == "refunded" and placed["refunded_amount"] == placed["paid_amount"] == 5990
    return found


def test_a_leader_and_two_friends_make_a_group_that_succeeds(shop, client):
    campaign = group_campaign(shop)
    leader, friend1, friend2 = customers(shop, 3)
    order = open_group(shop, campaign["id"], headers(leader))
    assert order["total"] == 5990 and order["status"] == "pending_payment"
    group_id = order["campaign_ref"]
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(friend1)))
    assert group["status"] == "pending" and group["seats_left"] == 2
    # Nobody can join before the leader pays.
    join_group(shop, group_id, headers(friend1), status=409)
    shop.pay(order["id"], customer=headers(leader))
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(friend1)))
    assert group["status"] == "open" and group["seconds_left"] > 80_000
    assert group["members"] == [{"name": group["members"][0]["name"], "leader": True, "paid": True}]
    assert group["members"][0]["name"].endswith("**")
    # The leader's order waits for the group: nothing to pick up yet.
    leader_order = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert leader_order["status"] == "paid" and leader_order["fulfilments"][0]["status"] == "pending"

    o1 = join_group(shop, group_id, headers(friend1))
    join_group(shop, group_id, headers(friend1), status=409)  # already in this group
    o2 = join_group(shop, group_id, headers(friend2))
    full = join_group(shop, group_id, headers(customers(shop, 1, "late")[0]), status=409)
    assert full["code"] == "group.full"
    shop.pay(o1["id"], customer=headers(friend1))
    shop.pay(o2["id"], customer=headers(friend2))
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(friend1)))
    assert group["status"] == "succeeded" and group["seats_left"] == 0
    for oid in (order["id"], o1["id"], o2["id"]):
        placed = ok(client.get(f"/api/v1/orders/{oid}", headers=shop.admin))
        assert placed["fulfilments"][0]["status"] == "ready"
    figures = ok(client.get(f"/api/v1/group-campaigns/{campaign['id']}/figures", headers=shop.admin))
    assert figures["groups_opened"] == 1 and figures["groups_succeeded"] == 1 and figures["conversion"] == 1.0
    assert figures["units_sold"] == 3 and figures["paid_seats"] == 3
    # The members are told, in their inbox.
    sweeps.dispatch_outbox(shop.runtime)
    inbox = ok(client.get(f"/api/v1/sandbox/inbox/alipay/friend-1-{shop.merchant_id[-6:]}"))
    assert any(m["title"] == "拼团成功" for m in inbox), inbox


def test_a_group_that_times_out_refunds_every_member_once(shop, client, clock, runtime):
    campaign = group_campaign(shop, time_limit_minutes=30)
    leader, friend, slow = customers(shop, 3)
    order = open_group(shop, campaign["id"], headers(leader))
    group_id = order["campaign_ref"]
    shop.pay(order["id"], customer=headers(leader))
    o1 = join_group(shop, group_id, headers(friend))
    shop.pay(o1["id"], customer=headers(friend))
    unpaid = join_group(shop, group_id, headers(slow))  # holds the last seat, pays too late
    trade = ok(client.post(f"/api/v1/storefront/orders/{unpaid['id']}/payments", headers=headers(slow)), 201)[
        "provider_trade_no"
    ]
    clock.advance(minutes=31)
    for _ in range(2):  # a second sweep changes nothing
        sweeps.campaign_lifecycle(runtime)
        sweeps.dispatch_outbox(runtime)
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(friend)))
    assert group["status"] == "failed"
    _refunded_in_full(shop, order["id"], o1["id"])
    assert ok(client.get(f"/api/v1/orders/{unpaid['id']}", headers=shop.admin))["status"] == "cancelled"
    with runtime.db.unit_of_work(write=False) as s:
        refunds = s.execute(
            select(Refund.order_id, func.count(), func.sum(Refund.amount))
            .where(Refund.merchant_id == shop.merchant_id)
            .group_by(Refund.order_id)
        ).all()
        assert sorted((r[1], r[2]) for r in refunds) == [(1, 5990), (1, 5990)]
        assert {r.status for r in s.scalars(scoped(Refund, shop.merchant_id))} == {"succeeded"}
        assert s.get(GroupCampaign, (shop.merchant_id, campaign["id"])).sold == 0  # the units came back
        statuses = sorted(s.scalars(select(GroupSeat.status).where(GroupSeat.group_id == group_id)))
    assert statuses == ["refunded", "refunded", "released"]
    # Money that arrives for the released seat is refunded automatically.
    ok(client.post(f"/api/v1/sandbox/trades/{trade}/pay"))
    sweeps.dispatch_outbox(runtime)
    late = ok(client.get(f"/api/v1/orders/{unpaid['id']}", headers=shop.admin))
    assert late["status"] == "cancelled" and late["refunded_amount"] == late["paid_amount"] > 0


def test_virtual_seats_complete_a_timed_out_group_where_allowed(shop, client, clock, runtime):
    campaign = group_campaign(shop, time_limit_minutes=10, virtual_seats=True)
    (leader,) = customers(shop, 1)
    order = open_group(shop, campaign["id"], headers(leader))
    shop.pay(order["id"], customer=headers(leader))
    clock.advance(minutes=11)
    assert sweeps.campaign_lifecycle(runtime)["groups_succeeded"] == 1
    group = ok(
        client.get(f"/api/v1/storefront/buying-groups/{order['campaign_ref']}", headers=headers(leader))
    )
    assert group["status"] == "succeeded" and group["virtual_seats"] == 2
    placed = ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))
    assert placed["fulfilments"][0]["status"] == "ready" and placed["refunded_amount"] == 0


def test_an_unpaid_seat_is_released_at_its_deadline_and_a_refund_frees_a_paid_one(
    shop, client, clock, runtime
):
    campaign = group_campaign(shop, group_size=2, pay_minutes=5)
    leader, friend, other = customers(shop, 3)
    order = open_group(shop, campaign["id"], headers(leader))
    group_id = order["campaign_ref"]
    shop.pay(order["id"], customer=headers(leader))
    held = join_group(shop, group_id, headers(friend))
    assert join_group(shop, group_id, headers(other), status=409)["code"] == "group.full"
    clock.advance(minutes=6)
    sweeps.cancel_unpaid_orders(runtime)
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(other)))
    assert group["seats_left"] == 1
    assert ok(client.get(f"/api/v1/orders/{held['id']}", headers=shop.admin))["status"] == "cancelled"
    # The leader refunds before success: the group stays open, with the seat free again.
    ok(client.post(f"/api/v1/orders/{order['id']}/refunds", json={}, headers=shop.admin), 201)
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(other)))
    assert group["status"] == "open" and group["seats_taken"] == 0


def test_limits_and_errors_change_nothing(shop, client, other_shop):
    campaign = group_campaign(shop, per_customer_limit=1, stock=2)
    leader, friend = customers(shop, 2)
    assert (
        open_group(shop, campaign["id"], headers(leader), quantity=2, status=409)["code"]
        == "group.over_limit"
    )
    order = open_group(shop, campaign["id"], headers(leader))
    again = open_group(shop, campaign["id"], headers(leader), status=409)
    assert again["code"] in ("group.already_leading", "group.over_limit")
    ok(
        client.post(
            f"/api/v1/group-campaigns/{campaign['id']}/actions", json={"action": "pause"}, headers=shop.admin
        )
    )
    assert open_group(shop, campaign["id"], headers(friend), status=409)["code"] == "campaign.not_running"
    ok(
        client.post(
            f"/api/v1/group-campaigns/{campaign['id']}/actions", json={"action": "stop"}, headers=shop.admin
        )
    )
    ok(
        client.post(
            f"/api/v1/group-campaigns/{campaign['id']}/actions", json={"action": "resume"}, headers=shop.admin
        ),
        409,
    )
    # Another merchant's customer sees nothing of it.
    stranger = other_shop.customer
    ok(client.get(f"/api/v1/storefront/buying-groups/{order['campaign_ref']}", headers=stranger), 404)
    ok(client.get(f"/api/v1/group-campaigns/{campaign['id']}", headers=other_shop.admin), 404)


def test_the_last_seat_is_never_sold_twice_under_real_threads(shop, runtime):
    """Many customers race for one free seat in each of several groups: one wins each."""
    db = runtime.db
    campaign = group_campaign(shop, group_size=2, stock=200, per_customer_limit=5)
    leaders = customers(shop, 4, "lead")
    group_ids = []
    for leader in leaders:
        order = open_group(shop, campaign["id"], headers(leader))
        shop.pay(order["id"], customer=headers(leader))
        group_ids.append(order["campaign_ref"])
    racers = [c["id"] for c in customers(shop, 8, "racer")]
    now = runtime.clock()

    def attempt(args):
        group_id, customer_id = args
        try:
            groups.buy(
                db,
                merchant_id=shop.merchant_id,
                customer_id=customer_id,
                scope=f"customer:{customer_id}",
                request=groups.Buy(
                    campaign_id=campaign["id"], group_id=group_id, quantity=1, location_id=shop.store_id
                ),
                pricer=EnginePricer(),
                host_app="alipay",
                scene=None,
                now=now,
                idempotency_key=None,
                payload={},
            )
            return "won"
        except ShopletError as error:
            assert error.code in ("group.full", "group.closed"), error.code
            return error.code

    work = [(g, c) for g in group_ids for c in racers]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, work))
    assert results.count("won") == len(group_ids)
    with db.unit_of_work(write=False) as s:
        for group_id in group_ids:
            group = s.get(BuyingGroup, (shop.merchant_id, group_id))
            seats = s.scalar(
                select(func.count()).where(
                    GroupSeat.group_id == group_id, GroupSeat.status.in_(("held", "paid"))
                )
            )
            assert group.taken == seats == 2
        assert s.get(GroupCampaign, (shop.merchant_id, campaign["id"])).sold == 2 * len(group_ids)


def test_a_served_process_registers_the_campaign_hooks():
    """`shoplet serve` builds a Runtime without importing shoplet.models: the hooks must come
    with the runtime, or a campaign order's payment fails in production only."""
    code = (
        "from shoplet.runtime import Runtime; from shoplet import order_hooks; "
        "kinds = set(order_hooks._registry.hooks); "
        "assert kinds == {'group', 'flash', 'plan', 'plan_delivery'}, kinds"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_money_paid_after_the_time_limit_fills_no_group(shop, client, clock, runtime):
    """The last member's payment arrives after the group's time limit but before the sweep
    closed it: the group does not succeed on it; the sweep fails it and refunds everyone."""
    campaign = group_campaign(shop, group_size=2, time_limit_minutes=10)  # a seat may pay for 15
    leader, friend = customers(shop, 2)
    order = open_group(shop, campaign["id"], headers(leader))
    group_id = order["campaign_ref"]
    shop.pay(order["id"], customer=headers(leader))
    late = join_group(shop, group_id, headers(friend))  # holds the last seat in time
    clock.advance(minutes=11)
    shop.pay(late["id"], customer=headers(friend))  # the sweep has not run yet
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(friend)))
    assert group["status"] == "open", group
    sweeps.campaign_lifecycle(runtime)
    sweeps.dispatch_outbox(runtime)
    group = ok(client.get(f"/api/v1/storefront/buying-groups/{group_id}", headers=headers(friend)))
    assert group["status"] == "failed"
    for placed in _refunded_in_full(shop, order["id"], late["id"]):
        assert placed["fulfilments"][0]["status"] != "ready"
