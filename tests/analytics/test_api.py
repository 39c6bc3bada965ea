"""The figures over the API: page views reported by the mini program, the figures of what
customers did, bad input refused with stable codes, roles, tenants, and the ClickHouse path
(chDB) behind the same endpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.analytics.calendar import local_day
from shoplet.config import Settings
from shoplet.events import Event, EventKind
from shoplet.runtime import Runtime
from shoplet.scoping import owned
from tests.helpers import bearer, ok

VISITS = "/api/v1/storefront/visits"


def _events(runtime, merchant_id: str, kind: str) -> int:
    with runtime.db.unit_of_work(write=False) as s:
        return s.scalar(
            select(func.count()).select_from(Event).where(owned(Event, merchant_id), Event.kind == kind)
        )


def test_page_views_count_once_per_view_id(shop, client, runtime):
    body = {"views": [{"id": "v1", "page": "home"}, {"id": "v2", "page": "product", "scene": "search"}]}
    assert ok(client.post(VISITS, json=body, headers=shop.customer), 201) == {"recorded": 2}
    ok(client.post(VISITS, json=body, headers=shop.customer), 201)  # a resend of the same views
    ok(client.post(VISITS, json={"views": [{"page": "home"}]}, headers=shop.customer), 201)
    assert _events(runtime, shop.merchant_id, EventKind.VISIT) == 3
    with runtime.db.unit_of_work(write=False) as s:
        scenes = sorted(
            (e.scene or "", e.host_app)
            for e in s.scalars(
                select(Event).where(owned(Event, shop.merchant_id), Event.kind == EventKind.VISIT)
            )
        )
    assert scenes == [
        ("qr_scan", "alipay"),
        ("qr_scan", "alipay"),
        ("search", "alipay"),
    ]  # the session's scene


def test_bad_page_views_are_refused_and_record_nothing(shop, client, runtime):
    now = runtime.clock()
    cases = [
        ({"views": [{"page": "home", "at": (now - timedelta(days=8)).isoformat()}]}, "visit.bad_time"),
        ({"views": [{"page": "home", "at": (now + timedelta(hours=1)).isoformat()}]}, "visit.bad_time"),
        ({"views": [{"page": "store", "store_id": "loc_nope"}]}, "visit.unknown_store"),
        ({"views": [{"page": "home"}] * 51}, "request.invalid"),
        ({"views": []}, "request.invalid"),
        ({"views": [{"page": "home", "scene": "Not A Scene"}]}, "request.invalid"),
    ]
    for body, code in cases:
        response = client.post(VISITS, json=body, headers=shop.customer)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == code
    assert _events(runtime, shop.merchant_id, EventKind.VISIT) == 0
    assert client.post(VISITS, json={"views": [{"page": "home"}]}, headers=shop.admin).status_code == 403


def _month(runtime) -> tuple[str, str]:
    today = local_day(runtime.clock(), __import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    return (today - timedelta(days=29)).isoformat(), (today + timedelta(days=1)).isoformat()


def test_what_customers_did_shows_in_every_figure(shop, client, runtime):
    ok(client.post(VISITS, json={"views": [{"page": "home"}]}, headers=shop.customer), 201)
    template = ok(
        client.post(
            "/api/v1/coupon-templates",
            json={"name": "¥3 off", "kind": "cash", "off": 300, "validity": "relative", "valid_days": 7},
            headers=shop.admin,
        ),
        201,
    )
    ok(
        client.post(
            "/api/v1/storefront/coupons", json={"template_id": template["id"]}, headers=shop.customer
        ),
        201,
    )
    order = shop.paid_order({"LATTE-T": 2})
    second = shop.sign_in("second-customer", host_app="taobao", scene="search")
    ok(client.post(VISITS, json={"views": [{"page": "home"}]}, headers=bearer(second["token"])), 201)
    sweeps.analytics(runtime)
    since, until = _month(runtime)
    period = {"since": since, "until": until}
    sales = ok(client.get("/api/v1/analytics/sales", params={**period, "by": "store"}, headers=shop.admin))
    assert sales["total"]["gmv"] == order["paid_amount"] and sales["total"]["orders"] == 1
    assert sales["rows"][0]["key"] == shop.store_id and sales["rows"][0]["name"] == "S1 location"
    coupons = ok(client.get("/api/v1/analytics/coupons", params=period, headers=shop.admin))
    assert coupons[0]["template_id"] == template["id"] and coupons[0]["name"] == "¥3 off"
    assert (coupons[0]["claimed"], coupons[0]["used"], coupons[0]["use_rate"]) == (1, 1, 1.0)
    funnel = ok(client.get("/api/v1/analytics/funnel", params=period, headers=shop.admin))
    assert [s["journeys"] for s in funnel["steps"]] == [2, 1, 1, 1]
    assert funnel["steps"][1]["dropped"] == 1 and funnel["steps"][1]["conversion"] == 0.5
    new = ok(client.get("/api/v1/analytics/new-customers", params=period, headers=shop.admin))
    assert new["total"] == 2
    assert {(r["host_app"], r["scene"]) for r in new["by_source"]} == {
        ("alipay", "qr_scan"),
        ("taobao", "search"),
    }
    active = ok(client.get("/api/v1/analytics/active-customers", params=period, headers=shop.admin))
    assert active["points"][-1]["customers"] == 2 and len(active["points"]) == 30
    monthly = ok(
        client.get(
            "/api/v1/analytics/active-customers", params={**period, "grain": "month"}, headers=shop.admin
        )
    )
    assert monthly["points"][-1]["customers"] == 2
    retention = ok(client.get("/api/v1/analytics/retention", params=period, headers=shop.admin))
    assert retention["cohorts"][-1]["customers"] == 2 and retention["cohorts"][-1]["retained"] == [None] * 3
    repeat = ok(client.get("/api/v1/analytics/repeat-purchase", params=period, headers=shop.admin))
    assert repeat == {"buyers": 1, "repeat_buyers": 0, "rate": 0.0}
    before_after = ok(
        client.get(f"/api/v1/analytics/stores/{shop.store_id}/before-after", headers=shop.admin)
    )
    assert before_after["after"]["gmv"] == order["paid_amount"] and before_after["before"]["gmv"] == 0
    dashboard = ok(client.get("/api/v1/analytics/dashboard", params=period, headers=shop.admin))
    assert dashboard["engine"] == "rollups"
    assert dashboard["sales_by_store"] == sales and dashboard["funnel"] == funnel
    one = ok(client.get("/api/v1/analytics/dashboard", params={"figures": "mau"}, headers=shop.admin))
    assert one["mau"] and one["funnel"] is None


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("active-customers", {"grain": "hour"}, "analytics.unknown_grain"),
        ("active-customers", {"since": "2026-13-01"}, "analytics.bad_date"),
        ("active-customers", {"since": "yesterday"}, "analytics.bad_date"),
        ("active-customers", {"since": "2026-11-10", "until": "2026-11-01"}, "analytics.bad_range"),
        ("active-customers", {"since": "2026-11-10", "until": "2026-11-10"}, "analytics.bad_range"),
        ("active-customers", {"since": "2024-01-01", "until": "2026-01-01"}, "analytics.range_too_long"),
        ("retention", {"since": "2024-01-01", "until": "2026-01-01"}, "analytics.range_too_long"),
        ("funnel", {"steps": "visit,nope"}, "analytics.unknown_step"),
        ("funnel", {"steps": "visit,visit"}, "analytics.repeated_step"),
        ("funnel", {"steps": ",".join(["visit", "order.paid"] * 5)}, "analytics.bad_steps"),
        ("retention", {"offsets": "0"}, "analytics.bad_offsets"),
        ("retention", {"offsets": "1,31"}, "analytics.bad_offsets"),
        ("retention", {"offsets": "seven"}, "analytics.bad_offsets"),
        ("dashboard", {"figures": "mau,nope"}, "analytics.unknown_figure"),
        ("sales", {"by": "planet"}, "analytics.unknown_dimension"),
        ("sales", {"tz": "Mars/Olympus_Mons"}, "analytics.unknown_time_zone"),
        ("sales", {"tz": "UTC"}, "analytics.other_time_zone"),
    ],
)
def test_bad_questions_get_a_stable_code(shop, client, path, params, code):
    response = client.get(f"/api/v1/analytics/{path}", params=params, headers=shop.admin)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code


def test_a_long_range_by_month_is_fine_and_the_shops_own_zone_too(shop, client):
    params = {"since": "2024-01-01", "until": "2026-01-01", "grain": "month", "tz": "Asia/Shanghai"}
    months = ok(client.get("/api/v1/analytics/active-customers", params=params, headers=shop.admin))
    assert len(months["points"]) == 24


def test_figures_are_for_operators_only(shop, client):
    clerk_key = shop.clerk
    assert client.get("/api/v1/analytics/dashboard", headers=clerk_key).status_code == 403
    assert client.get("/api/v1/analytics/dashboard", headers=shop.customer).status_code == 403
    assert client.get("/api/v1/analytics/dashboard").status_code == 401


def test_another_merchant_sees_none_of_it(shop, other_shop, client, runtime):
    shop.paid_order({"LATTE-T": 1})
    ok(client.post(VISITS, json={"views": [{"page": "home"}]}, headers=shop.customer), 201)
    sweeps.analytics(runtime)
    since, until = _month(runtime)
    theirs = ok(
        client.get(
            "/api/v1/analytics/dashboard", params={"since": since, "until": until}, headers=other_shop.admin
        )
    )
    assert theirs["sales_by_store"]["total"]["gmv"] == 0 and theirs["sales_by_store"]["rows"] == []
    # Only their own customer, who signed in and did nothing else.
    assert theirs["new_customers"]["total"] == 1 and theirs["funnel"]["steps"][0]["journeys"] == 0
    text = str(theirs)
    assert shop.store_id not in text and shop.customer_id not in text
    response = client.get(f"/api/v1/analytics/stores/{shop.store_id}/before-after", headers=other_shop.admin)
    assert response.status_code == 404 and response.json()["code"] == "store.not_found"


def test_the_same_endpoints_answer_from_clickhouse_when_configured(shop, client, runtime, database):
    from fastapi.testclient import TestClient

    from shoplet.app import create_app

    ok(client.post(VISITS, json={"views": [{"page": "home"}]}, headers=shop.customer), 201)
    order = shop.paid_order({"LATTE-T": 1})
    settings = Settings(
        database_url=database.url,
        platform_key="x",
        sandbox_payments=True,
        public_url="http://testserver",
        clickhouse_url="chdb://",
    )
    warehouse_rt = Runtime(settings, clock=runtime.clock, db=database)
    try:
        with database.unit_of_work() as s:  # what was recorded before ClickHouse was configured is copied too
            from sqlalchemy import text

            s.execute(
                text(
                    "INSERT INTO event_queue (merchant_id, consumer, event_id) SELECT merchant_id, 'clickhouse', id "
                    "FROM events WHERE merchant_id = :m"
                ),
                {"m": shop.merchant_id},
            )
        assert sweeps.analytics(warehouse_rt)["copied"] >= 3
        since, until = _month(runtime)
        period = {"since": since, "until": until}
        from_clickhouse = ok(
            TestClient(create_app(warehouse_rt)).get(
                "/api/v1/analytics/dashboard", params=period, headers=shop.admin
            )
        )
        from_rollups = ok(client.get("/api/v1/analytics/dashboard", params=period, headers=shop.admin))
    finally:
        database.event_consumers = ("rollup",)
    assert from_clickhouse["engine"] == "clickhouse" and from_rollups["engine"] == "rollups"
    assert from_clickhouse["sales_by_store"]["total"]["gmv"] == order["paid_amount"]
    assert {**from_clickhouse, "engine": ""} == {**from_rollups, "engine": ""}
