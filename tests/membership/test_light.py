"""Light membership: join free, enjoy, pay min(fee, enjoyed) once per period."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from shoplet import sweeps
from shoplet.membership import settlement
from shoplet.membership.models import LightMembership, LightSettlement
from shoplet.payments.models import SandboxAgreementCharge
from tests.coupons.test_coupons import template
from tests.helpers import bearer, ok


def plan(shop, **body):
    body = {"name": "Coffee pass", "fee": 1990, "period_days": 7, "percent_off": 10, **body}
    return ok(shop.client.post("/api/v1/light-plans", json=body, headers=shop.admin), 201)


def join(shop, plan_id, status=201, **body):
    return ok(
        shop.client.post(
            "/api/v1/storefront/light-membership", json={"plan_id": plan_id, **body}, headers=shop.customer
        ),
        status,
    )


def mine(shop, status=200):
    return ok(shop.client.get("/api/v1/storefront/light-membership", headers=shop.customer), status)


def refund(shop, order, quantity):
    line = order["lines"][0]
    return ok(
        shop.client.post(
            f"/api/v1/orders/{order['id']}/refunds",
            json={"lines": [{"line_id": line["id"], "quantity": quantity}]},
            headers=shop.admin,
        ),
        201,
    )


def charges(runtime, merchant_id):
    with runtime.db.unit_of_work(write=False) as s:
        return list(
            s.scalars(select(SandboxAgreementCharge).where(SandboxAgreementCharge.merchant_id == merchant_id))
        )


def test_enjoy_then_pay_what_was_saved_when_less_than_the_fee(shop, client, runtime, clock):
    p = plan(shop)
    joined = join(shop, p["id"])
    assert joined["status"] == "active" and joined["enjoyed"] == 0 and joined["to_charge"] == 0
    assert charges(runtime, shop.merchant_id) == []  # joining moves no money
    quote = ok(
        client.post(
            "/api/v1/storefront/quote",
            json={"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": 2}]},
            headers=shop.customer,
        )
    )
    assert quote["total"] == 2 * 2880 and quote["light_member_savings"] == 640  # 10% off ¥32 twice
    order = shop.paid_order({"LATTE-T": 2})
    assert mine(shop)["enjoyed"] == 640 and mine(shop)["to_charge"] == 640
    refund(shop, order, 1)  # half the order back: half of what it enjoyed comes off
    assert mine(shop)["enjoyed"] == 320
    clock.advance(days=7, minutes=1)
    done = sweeps.membership_lifecycle(runtime)
    assert done["settled"] == 1
    [charge] = charges(runtime, shop.merchant_id)
    assert charge.amount == 320 and charge.status == "succeeded"
    sweeps.membership_lifecycle(runtime)  # settling again changes nothing
    assert len(charges(runtime, shop.merchant_id)) == 1
    ended = ok(client.get(f"/api/v1/light-memberships/{joined['id']}", headers=shop.admin))
    assert ended["status"] == "ended" and ended["settlement"]["status"] == "charged"
    assert ended["settlement"]["amount"] == 320
    mine(shop, 404)
    join(shop, p["id"])  # the period is paid: joining again is fine


def test_saving_more_than_the_fee_pays_the_fee_and_saving_nothing_pays_nothing(shop, client, runtime, clock):
    p = plan(shop, fee=500, percent_off=20)
    join(shop, p["id"])
    shop.stock(shop.store_id, "BEANS", 50)
    shop.paid_order({"BEANS": 3})  # 20% of ¥88.99 × 3 saved: far more than ¥5
    assert mine(shop)["to_charge"] == 500
    other = shop.sign_in("nothing-saved")
    ok(
        client.post(
            "/api/v1/storefront/light-membership", json={"plan_id": p["id"]}, headers=bearer(other["token"])
        ),
        201,
    )
    clock.advance(days=8)
    sweeps.membership_lifecycle(runtime)
    assert [c.amount for c in charges(runtime, shop.merchant_id)] == [
        500
    ]  # nothing charged for nothing saved
    with runtime.db.unit_of_work(write=False) as s:
        closed = s.scalar(select(LightSettlement).where(LightSettlement.customer_id == other["customer_id"]))
    assert closed.status == "closed" and closed.amount == 0


def test_join_errors_change_nothing(shop, client, runtime):
    strict = plan(shop, min_credit_score=600)
    low = ok(
        client.post("/api/v1/customers", json={"name": "Low", "tags": ["credit:100"]}, headers=shop.admin),
        201,
    )
    session = ok(
        client.post(f"/api/v1/customers/{low['id']}/sessions", json={"host_app": "h5"}, headers=shop.admin),
        201,
    )
    low_headers = {"Authorization": f"Bearer {session['token']}"}
    refused = client.post(
        "/api/v1/storefront/light-membership", json={"plan_id": strict["id"]}, headers=low_headers
    )
    assert refused.status_code == 403 and refused.json()["code"] == "light_membership.not_eligible"
    assert "600" in refused.json()["detail"]
    p = plan(shop)
    join(shop, p["id"])
    again = join(shop, p["id"], status=409)
    assert again["code"] == "light_membership.already_member"
    closed = plan(shop, name="Old pass")
    ok(client.post(f"/api/v1/light-plans/{closed['id']}/close", headers=shop.admin))
    low_join = client.post(
        "/api/v1/storefront/light-membership", json={"plan_id": closed["id"]}, headers=low_headers
    )
    assert low_join.status_code == 409 and low_join.json()["code"] == "light_plan.closed"
    fee_edit = client.patch(f"/api/v1/light-plans/{p['id']}", json={"fee": 1}, headers=shop.admin)
    assert fee_edit.status_code == 422
    with runtime.db.unit_of_work(write=False) as s:
        rows = s.scalars(select(LightMembership).where(LightMembership.merchant_id == shop.merchant_id)).all()
    assert [r.customer_id for r in rows] == [shop.customer_id]


def test_cancelling_settles_at_once_and_ends_the_benefits(shop, client, runtime):
    p = plan(shop)
    join(shop, p["id"])
    shop.paid_order({"LATTE-T": 1})
    cancelled = ok(client.post("/api/v1/storefront/light-membership/cancel", headers=shop.customer))
    assert cancelled["status"] == "ended" and cancelled["end_reason"] == "cancelled"
    assert cancelled["settlement"]["amount"] == 320 and cancelled["settlement"]["status"] == "charged"
    quote = ok(
        client.post(
            "/api/v1/storefront/quote",
            json={"location_id": shop.store_id, "lines": [{"sku_id": shop.skus["LATTE-T"], "quantity": 1}]},
            headers=shop.customer,
        )
    )
    assert quote["light_member_savings"] == 0 and quote["total"] == 2900  # member price only now
    assert [c.amount for c in charges(runtime, shop.merchant_id)] == [320]


def test_failed_deductions_retry_then_overdue_blocks_joining_until_paid(shop, client, runtime, clock):
    p = plan(shop)
    membership = join(shop, p["id"])
    shop.paid_order({"LATTE-T": 1})
    runtime.sandbox.agreement_failure_rate = 1.0
    clock.advance(days=7, seconds=1)
    schedule = []
    for hours in (0, 1, 25, 97):  # closes, then retries 1 h, 24 h and 72 h after each failure
        if hours:
            clock.advance(hours=hours - schedule[-1])
        schedule.append(hours)
        sweeps.membership_lifecycle(runtime)
        sweeps.membership_lifecycle(runtime)  # a second run in the same hour tries nothing more
    state = ok(client.get(f"/api/v1/light-memberships/{membership['id']}", headers=shop.admin))
    assert state["status"] == "overdue" and state["settlement"]["attempts"] == 4
    [charge] = charges(runtime, shop.merchant_id)
    assert charge.status == "failed" and charge.attempts == 4
    figures = ok(client.get("/api/v1/light-membership-figures", headers=shop.admin))
    assert figures["overdue"] == 1 and figures["overdue_amount"] == 320
    clock.advance(days=1)
    blocked = join(shop, p["id"], status=409)
    assert blocked["code"] == "light_membership.overdue"
    runtime.sandbox.agreement_failure_rate = 0.0
    paid = ok(client.post("/api/v1/storefront/light-membership/pay", headers=shop.customer))
    assert paid["status"] == "ended" and paid["settlement"]["status"] == "charged"
    [charge] = charges(runtime, shop.merchant_id)
    assert charge.status == "succeeded" and charge.amount == 320
    nothing = client.post("/api/v1/storefront/light-membership/pay", headers=shop.customer)
    assert nothing.status_code == 404
    join(shop, p["id"])


class CrashAfterCharging:
    """The provider charges, then the settling process dies before writing the outcome."""

    def __init__(self, provider):
        self.provider, self.crashed = provider, False

    def charge_agreements(self, requests):
        results = self.provider.charge_agreements(requests)
        if not self.crashed:
            self.crashed = True
            raise KeyboardInterrupt("killed")
        return results


def test_a_crash_between_charge_and_record_never_charges_twice(shop, runtime, clock):
    p = plan(shop)
    join(shop, p["id"])
    shop.paid_order({"LATTE-T": 2})
    clock.advance(days=8)
    crashing = CrashAfterCharging(runtime.sandbox)
    try:
        settlement.settle(runtime.db, crashing, now=runtime.clock())
    except KeyboardInterrupt:
        pass
    with runtime.db.unit_of_work(write=False) as s:
        assert (
            s.scalar(select(LightSettlement.status).where(LightSettlement.merchant_id == shop.merchant_id))
            == "pending"
        )  # charged, but not yet recorded
    settlement.settle(runtime.db, crashing, now=runtime.clock())
    [charge] = charges(runtime, shop.merchant_id)
    assert charge.status == "succeeded" and charge.attempts == 1 and charge.amount == 640
    with runtime.db.unit_of_work(write=False) as s:
        assert (
            s.scalar(select(LightSettlement.status).where(LightSettlement.merchant_id == shop.merchant_id))
            == "charged"
        )


def _twelve_due(shop, client, runtime, clock):
    p = plan(shop)
    for i in range(12):
        session = shop.sign_in(f"lm-{i}")
        ok(
            client.post(
                "/api/v1/storefront/light-membership",
                json={"plan_id": p["id"]},
                headers={"Authorization": f"Bearer {session['token']}"},
            ),
            201,
        )
    with runtime.db.unit_of_work() as s:  # every one of them enjoyed something
        for i, m in enumerate(
            s.scalars(select(LightMembership).where(LightMembership.merchant_id == shop.merchant_id))
        ):
            m.enjoyed = 100 + i
    clock.advance(days=8)


def test_concurrent_settlement_runs_charge_each_period_once(shop, client, runtime, clock):
    _twelve_due(shop, client, runtime, clock)
    now = runtime.clock()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: settlement.settle(runtime.db, runtime.sandbox, now=now, chunk=3), range(4)))
    ledger = charges(runtime, shop.merchant_id)
    assert len(ledger) == 12 and all(c.status == "succeeded" and c.attempts == 1 for c in ledger)
    assert sorted(c.amount for c in ledger) == [100 + i for i in range(12)]


def test_workers_side_by_side_settle_each_period_once(shop, client, runtime, clock):
    _twelve_due(shop, client, runtime, clock)
    seen: list[int] = []
    done = settlement.settle(
        runtime.db,
        runtime.sandbox,
        now=runtime.clock(),
        chunk=2,
        workers=3,
        on_chunk=lambda p: seen.append(p.closed),
    )
    assert done.closed == 12 and done.charged == 12 and done.failed == 0
    assert seen == sorted(seen) and seen[-1] == 12  # the progress the command line shows, never backwards
    ledger = charges(runtime, shop.merchant_id)
    assert len(ledger) == 12 and all(c.status == "succeeded" and c.attempts == 1 for c in ledger)
    assert sorted(c.amount for c in ledger) == [100 + i for i in range(12)]


class FailsOnce:
    """A provider that is down for one batch: the worker that meets it stops the others."""

    def __init__(self, provider):
        self.provider, self.failed = provider, False

    def charge_agreements(self, requests):
        if not self.failed:
            self.failed = True
            raise ConnectionError("provider unreachable")
        return self.provider.charge_agreements(requests)


def test_a_workers_error_stops_the_run_and_a_rerun_charges_the_rest_once(shop, client, runtime, clock):
    _twelve_due(shop, client, runtime, clock)
    flaky = FailsOnce(runtime.sandbox)
    with pytest.raises(ConnectionError):
        settlement.settle(runtime.db, flaky, now=runtime.clock(), chunk=2, workers=3)
    settlement.settle(runtime.db, flaky, now=runtime.clock(), chunk=2, workers=3)
    ledger = charges(runtime, shop.merchant_id)
    assert len(ledger) == 12 and all(c.status == "succeeded" and c.attempts == 1 for c in ledger)


def test_auto_renewal_starts_a_new_period_with_a_fresh_coupon_pack(shop, client, runtime, clock):
    gift = template(shop, total_stock=10)
    p = plan(shop, coupon_template_ids=[gift["id"]])
    join(shop, p["id"], auto_renew=True)
    sweeps.dispatch_outbox(runtime)
    sweeps.dispatch_outbox(runtime)
    coupons = ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
    assert [c["source"] for c in coupons] == ["pack"]
    clock.advance(days=7, seconds=1)
    sweeps.membership_lifecycle(runtime)
    renewed = mine(shop)
    assert renewed["status"] == "active" and renewed["period_no"] == 2 and renewed["enjoyed"] == 0
    sweeps.dispatch_outbox(runtime)
    assert len(ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]) == 2
    ok(
        client.put(
            "/api/v1/storefront/light-membership/auto-renew",
            json={"auto_renew": False},
            headers=shop.customer,
        )
    )
    clock.advance(days=7, seconds=1)
    sweeps.membership_lifecycle(runtime)
    mine(shop, 404)


def test_shoplet_settle_on_the_command_line(shop, client, runtime, database, monkeypatch):
    from typer.testing import CliRunner

    from shoplet.cli import app

    p = plan(shop)
    join(shop, p["id"])
    shop.paid_order({"LATTE-T": 1})
    monkeypatch.setenv("SHOPLET_DATABASE_URL", database.url)
    monkeypatch.setenv("SHOPLET_SANDBOX_PAYMENTS", "true")
    later = (runtime.clock() + timedelta(days=8)).isoformat()
    result = CliRunner().invoke(app, ["settle", "--at", later, "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["charged"] >= 1
    assert [c.amount for c in charges(runtime, shop.merchant_id)] == [320]
    naive = CliRunner().invoke(app, ["settle", "--at", "2030-01-01T00:00:00"])
    assert naive.exit_code == 2
    ancient = CliRunner().invoke(app, ["settle", "--at", "0001-01-01T00:00:00+14:00"])
    assert ancient.exit_code == 2


def test_light_member_prices_and_coupons_for_light_members(shop, client):
    ok(
        client.patch(
            f"/api/v1/skus/{shop.skus['BEANS']}", json={"light_member_price": 6999}, headers=shop.admin
        )
    )
    above = client.patch(
        f"/api/v1/skus/{shop.skus['BEANS']}", json={"light_member_price": 9999}, headers=shop.admin
    )
    assert above.status_code == 422 and above.json()["code"] == "sku.light_member_price_above_list"
    only_light = template(shop, audience={"kind": "light_members"})
    refused = client.post(
        "/api/v1/storefront/coupons", json={"template_id": only_light["id"]}, headers=shop.customer
    )
    assert refused.status_code == 403 and refused.json()["code"] == "coupon.not_eligible"
    p = plan(shop, percent_off=5)  # 5% of ¥88.99 is less than the SKU's light-member price saves
    join(shop, p["id"])
    ok(
        client.post(
            "/api/v1/storefront/coupons", json={"template_id": only_light["id"]}, headers=shop.customer
        ),
        201,
    )
    quote = ok(
        client.post(
            "/api/v1/storefront/quote",
            json={
                "location_id": shop.store_id,
                "lines": [{"sku_id": shop.skus["BEANS"], "quantity": 1}],
                "coupon_ids": [],
            },
            headers=shop.customer,
        )
    )
    assert quote["total"] == 6999 and quote["light_member_savings"] == 8899 - 6999
