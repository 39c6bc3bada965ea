"""Issuing beyond the coupon centre: batches of unique codes, and event rules."""

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy
from sqlalchemy import func, select

from shoplet.coupons import issuing
from shoplet.coupons.codes import normalise
from shoplet.coupons.models import Coupon, CouponEventGrant
from shoplet.errors import ShopletError
from tests.coupons.test_coupons import template
from tests.helpers import bearer, ok


def test_thousands_of_unique_codes_in_seconds_exported_as_csv(shop, client):
    t = template(shop, total_stock=10000)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = shop.runtime.db.engine
    sqlalchemy.event.listen(engine, "before_cursor_execute", count)
    started = time.monotonic()
    try:
        batch = ok(
            client.post(
                f"/api/v1/coupon-templates/{t['id']}/codes", json={"count": 5000}, headers=shop.admin
            ),
            201,
        )
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", count)
    # "In seconds" holds by construction: the batch is one bulk insert, not a round trip per code. The
    # wall-clock bound is loose on purpose (0.6 s here; shared CI disks have stalled a commit for 10 s).
    assert sum("coupon_codes" in s for s in statements) == 1 and len(statements) < 20
    assert time.monotonic() - started < 30
    exported = client.get(
        f"/api/v1/coupon-templates/{t['id']}/codes.csv",
        params={"batch_id": batch["batch_id"]},
        headers=shop.admin,
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 5000 and len({r["code"] for r in rows}) == 5000
    assert all(normalise(r["code"]) for r in rows)  # every code carries a valid check symbol
    code = rows[0]["code"]
    coupon = ok(
        client.post("/api/v1/storefront/coupons/redeem-code", json={"code": code}, headers=shop.customer), 201
    )
    assert coupon["source"] == "bulk" and coupon["template_id"] == t["id"]
    other = bearer(shop.sign_in("second-user")["token"])
    reused = client.post("/api/v1/storefront/coupons/redeem-code", json={"code": code}, headers=other)
    assert reused.status_code == 409 and reused.json()["code"] == "coupon.code_used"
    after = client.get(f"/api/v1/coupon-templates/{t['id']}/codes.csv", headers=shop.admin).text
    assert coupon["id"] in after
    too_many = client.post(
        f"/api/v1/coupon-templates/{t['id']}/codes", json={"count": 100001}, headers=shop.admin
    )
    assert too_many.status_code == 422


def test_a_code_is_redeemed_once_under_concurrency(shop, client, runtime):
    t = template(shop)
    with runtime.db.unit_of_work() as s:
        batch = issuing.generate_codes(
            s, merchant_id=shop.merchant_id, template_id=t["id"], count=1, now=runtime.clock()
        )
    text = (
        client.get(
            f"/api/v1/coupon-templates/{t['id']}/codes.csv", params={"batch_id": batch}, headers=shop.admin
        )
        .text.splitlines()[1]
        .split(",")[0]
    )
    customers = [shop.sign_in(f"racer-{i}")["customer_id"] for i in range(8)]

    def attempt(customer_id):
        try:
            with runtime.db.unit_of_work() as s:
                issuing.claim_by_code(
                    s, merchant_id=shop.merchant_id, code=text, customer_id=customer_id, now=runtime.clock()
                )
            return "ok"
        except ShopletError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, customers))
    assert results.count("ok") == 1 and set(results) == {"ok", "coupon.code_used"}


def test_event_rules_issue_exactly_once_per_event(shop, client, runtime):
    welcome = template(shop, name="Welcome ¥5")
    big = template(shop, name="Thanks for a big order", off=1000)
    for event, template_id, amount in (("joined", welcome["id"], None), ("order_at_least", big["id"], 10000)):
        ok(
            client.post(
                "/api/v1/coupon-event-rules",
                json={"event": event, "template_id": template_id, "min_order_amount": amount},
                headers=shop.admin,
            ),
            201,
        )
    refused = client.post(
        "/api/v1/coupon-event-rules",
        json={"event": "order_at_least", "template_id": big["id"]},
        headers=shop.admin,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "coupon.rule_needs_amount"
    shop.paid_order({"BEANS": 2})  # first paid order (joins) and over ¥100
    shop.paid_order({"LATTE-T": 1})  # small: nothing
    shop.paid_order({"BEANS": 2})  # big again: one more

    def names():
        return sorted(
            c["name"] for c in ok(client.get("/api/v1/storefront/coupons", headers=shop.customer))["items"]
        )

    # The first big order used nothing: the welcome coupon arrived with it. Later orders may use coupons.
    with runtime.db.unit_of_work(write=False) as s:
        grants = s.scalar(
            select(func.count())
            .select_from(CouponEventGrant)
            .where(CouponEventGrant.merchant_id == shop.merchant_id, CouponEventGrant.outcome == "issued")
        )
        held = s.scalar(
            select(func.count())
            .select_from(Coupon)
            .where(Coupon.merchant_id == shop.merchant_id, Coupon.source == "event")
        )
    assert grants == held == 3
    assert names().count("Welcome ¥5") == 1 and names().count("Thanks for a big order") == 2
    # Replaying the payment notification fires nothing again.
    from shoplet.coupons.issuing import on_event

    with runtime.db.unit_of_work() as s:
        again = on_event(
            s,
            merchant_id=shop.merchant_id,
            customer_id=shop.customer_id,
            events={"joined": f"customer:{shop.customer_id}"},
            order_amount=None,
            now=runtime.clock(),
        )
    assert again == []


def test_issue_to_a_segment_as_a_resumable_job(shop, client, runtime):
    from shoplet import sweeps
    from shoplet.coupons.issuing import run_issue_job

    t = template(shop, total_stock=3)
    tagged = [
        ok(
            client.post("/api/v1/customers", json={"name": f"VIP {i}", "tags": ["vip"]}, headers=shop.admin),
            201,
        )["id"]
        for i in range(5)
    ]
    ok(client.post("/api/v1/customers", json={"name": "Plain", "tags": ["new"]}, headers=shop.admin), 201)
    job = ok(
        client.post(
            f"/api/v1/coupon-templates/{t['id']}/issue-jobs",
            json={"segment": {"kind": "tags", "tags": ["vip"]}},
            headers=shop.admin,
        ),
        202,
    )
    assert job["status"] == "pending" and job["total"] == 5
    import shoplet.coupons.issuing as issuing_module

    original = issuing_module.CHUNK
    issuing_module.CHUNK = 2
    try:
        partial = run_issue_job(
            runtime.db, merchant_id=shop.merchant_id, job_id=job["id"], now=runtime.clock(), max_chunks=1
        )  # stopped after one chunk
        assert partial.status == "running"
        sweeps.dispatch_outbox(runtime)  # the queued job resumes and finishes
    finally:
        issuing_module.CHUNK = original
    done = ok(client.get(f"/api/v1/coupon-templates/{t['id']}/issue-jobs/{job['id']}", headers=shop.admin))
    assert done["status"] == "done" and done["processed"] == 5
    assert done["issued"] == 3 and done["skipped"] == {"coupon.sold_out": 2}
    with runtime.db.unit_of_work(write=False) as s:
        holders = set(
            s.scalars(
                select(Coupon.customer_id).where(
                    Coupon.merchant_id == shop.merchant_id, Coupon.template_id == t["id"]
                )
            )
        )
    assert len(holders) == 3 and holders <= set(tagged)


def test_birthday_coupons_once_a_year_on_the_merchants_date(shop, client, runtime, clock):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from shoplet import sweeps

    gift = template(shop, name="Happy birthday")
    ok(
        client.post(
            "/api/v1/coupon-event-rules",
            json={"event": "birthday", "template_id": gift["id"]},
            headers=shop.admin,
        ),
        201,
    )
    today = clock().astimezone(ZoneInfo("Asia/Shanghai"))
    tomorrow = (today + timedelta(days=1)).strftime("%m-%d")
    born_today = ok(
        client.post(
            "/api/v1/customers",
            json={"name": "Today", "birthday": today.strftime("%m-%d")},
            headers=shop.admin,
        ),
        201,
    )
    ok(
        client.post("/api/v1/customers", json={"name": "Tomorrow", "birthday": tomorrow}, headers=shop.admin),
        201,
    )
    bad = client.post("/api/v1/customers", json={"name": "Bad", "birthday": "13-40"}, headers=shop.admin)
    assert bad.status_code == 422
    sweeps.coupon_lifecycle(runtime)
    sweeps.coupon_lifecycle(runtime)  # the sweep runs often; the birthday is celebrated once

    def holders():
        with runtime.db.unit_of_work(write=False) as s:
            return sorted(
                s.scalars(
                    select(Coupon.customer_id).where(
                        Coupon.merchant_id == shop.merchant_id, Coupon.template_id == gift["id"]
                    )
                )
            )

    assert holders() == [born_today["id"]]
    this_year = today.date()
    next_year = (
        this_year.replace(year=this_year.year + 1) if (this_year.month, this_year.day) != (2, 29) else None
    )
    if next_year is not None:  # the same date next year: celebrated again, once
        clock.advance(days=(next_year - this_year).days)
        sweeps.coupon_lifecycle(runtime)
        sweeps.coupon_lifecycle(runtime)
        assert holders() == [born_today["id"], born_today["id"]]
