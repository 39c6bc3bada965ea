"""The life account: posts and images, the feed, pushes to segments under the weekly cap
(with real threads), opens, reports and tenant isolation."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from shoplet import sweeps
from shoplet.customers import service as customers
from shoplet.customers.models import Customer, Follower
from shoplet.db import new_id
from shoplet.events import Event
from shoplet.messaging import pushes
from shoplet.messaging.delivery import SandboxMessenger
from shoplet.messaging.models import SandboxInboxItem
from shoplet.scoping import owned
from tests.helpers import bearer, ok

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def follower(shop, name: str, *, tags: list[str] | None = None) -> tuple[dict, str]:
    session = shop.sign_in(name)
    headers = bearer(session["token"])
    ok(shop.client.put("/api/v1/storefront/following", headers=headers))
    if tags:  # tags come from the guides' and the merchant's systems; set here directly
        with shop.runtime.db.unit_of_work() as s:
            s.get_one(Customer, (shop.merchant_id, session["customer_id"])).tags = tags
    return headers, session["customer_id"]


def push(shop, segment: dict | None = None, status: int = 201, **extra) -> dict:
    body = {"title": "新品上市", "body": "本周新品", "segment": segment or {"kind": "all"}, **extra}
    return ok(shop.client.post("/api/v1/life/pushes", json=body, headers=shop.admin), status)


def report(shop, push_id: str) -> dict:
    return ok(shop.client.get(f"/api/v1/life/pushes/{push_id}", headers=shop.admin))


def inbox(shop, host_user_id: str) -> list[dict]:
    return ok(
        shop.client.get(
            f"/api/v1/sandbox/inbox/alipay/{host_user_id}", params={"merchant_id": shop.merchant_id}
        )
    )


def test_posts_images_and_the_feed(shop, client, clock):
    image = ok(client.post("/api/v1/media", content=PNG, headers=shop.admin), 201)
    assert image["content_type"] == "image/png"
    assert client.get(image["url"]).content == PNG
    refused = client.post("/api/v1/media", content=b"GIF-not-really", headers=shop.admin)
    assert refused.status_code == 422 and refused.json()["code"] == "media.not_an_image"

    body = {"title": "秋季新品", "body": "桂花拿铁上市", "cover_media_id": image["id"], "link_kind": "product",
            "link_target": shop.product_id}  # fmt: skip
    post = ok(client.post("/api/v1/life/posts", json=body, headers=shop.admin), 201)
    assert post["status"] == "draft" and post["cover_url"] == image["url"]
    missing = client.post(
        "/api/v1/life/posts", json={**body, "link_target": "prod_missing"}, headers=shop.admin
    )
    assert missing.status_code == 404 and missing.json()["code"] == "post.link_target_not_found"
    page = client.post(
        "/api/v1/life/posts", json={**body, "link_kind": "page", "link_target": "menu"}, headers=shop.admin
    )
    assert page.status_code == 422 and page.json()["code"] == "post.link_invalid"

    feed = ok(client.get("/api/v1/storefront/life/feed", headers=shop.customer))["items"]
    assert feed == []
    ok(client.post(f"/api/v1/life/posts/{post['id']}/publish", json={}, headers=shop.admin))
    later = ok(client.post("/api/v1/life/posts", json={**body, "title": "明日预告"}, headers=shop.admin), 201)
    at = (clock() + timedelta(hours=2)).isoformat()
    scheduled = ok(
        client.post(f"/api/v1/life/posts/{later['id']}/publish", json={"at": at}, headers=shop.admin)
    )
    assert scheduled["scheduled"] is True
    feed = ok(client.get("/api/v1/storefront/life/feed", headers=shop.customer))["items"]
    assert [p["title"] for p in feed] == ["秋季新品"]
    clock.advance(hours=3)
    feed = ok(client.get("/api/v1/storefront/life/feed", headers=shop.customer))["items"]
    assert [p["title"] for p in feed] == ["明日预告", "秋季新品"]
    ok(client.post(f"/api/v1/life/posts/{post['id']}/withdraw", headers=shop.admin))
    feed = ok(client.get("/api/v1/storefront/life/feed", headers=shop.customer))["items"]
    assert [p["title"] for p in feed] == ["明日预告"]


def test_three_pushes_a_week_reach_a_follower_the_fourth_is_skipped(shop, client, runtime, clock):
    names = [f"f{new_id('u')[-8:]}" for _ in range(3)]
    people = [follower(shop, n) for n in names]
    sent = []
    for i in range(4):
        sent.append(push(shop, title=f"第{i + 1}条"))
        sweeps.dispatch_outbox(runtime)
    reports = [report(shop, p["id"])["report"] for p in sent]
    assert [r["delivered"] for r in reports] == [3, 3, 3, 0]
    assert reports[3]["skipped_over_cap"] == 3 and reports[3]["targeted"] == 3
    assert all(report(shop, p["id"])["status"] == "sent" for p in sent)
    for name in names:
        items = inbox(shop, name)
        assert sorted(i["title"] for i in items) == ["第1条", "第2条", "第3条"]
        assert all(i["kind"] == "push" for i in items)

    # The next natural week (Monday in the merchant's zone) the follower can be reached again.
    clock.advance(days=7)
    fifth = push(shop, title="下周")
    sweeps.dispatch_outbox(runtime)
    assert report(shop, fifth["id"])["report"]["delivered"] == 3

    # Opening a push is counted once per follower, and recorded as an event.
    headers, customer_id = people[0]
    for _ in range(2):
        assert (
            client.post(f"/api/v1/storefront/life/pushes/{fifth['id']}/open", headers=headers).status_code
            == 204
        )
    assert report(shop, fifth["id"])["report"]["opened"] == 1
    with runtime.db.unit_of_work(write=False) as s:
        kinds = s.scalars(
            select(Event.kind).where(owned(Event, shop.merchant_id), Event.subject_id == fifth["id"])
        ).all()
    assert sorted(kinds) == ["push.opened", "push.sent"]


def test_pushes_sent_at_the_same_moment_never_give_anyone_a_fourth(shop, runtime, clock):
    names = [f"r{new_id('u')[-8:]}" for _ in range(12)]
    for n in names:
        follower(shop, n)
    created = [push(shop, title=f"同时{i}") for i in range(6)]
    barrier = threading.Barrier(len(created))
    errors: list[BaseException] = []

    def send(push_id: str) -> None:
        try:
            barrier.wait()
            now = clock()
            assert pushes.start(runtime.db, merchant_id=shop.merchant_id, push_id=push_id, now=now)
            pushes.run(runtime.db, merchant_id=shop.merchant_id, push_id=push_id, now=now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(p["id"],)) for p in created]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sweeps.dispatch_outbox(runtime)
    reports = [report(shop, p["id"])["report"] for p in created]
    assert sum(r["delivered"] for r in reports) == 3 * len(names)
    assert sum(r["skipped_over_cap"] for r in reports) == 3 * len(names)
    with runtime.db.unit_of_work(write=False) as s:
        per_user = dict(
            s.execute(
                select(SandboxInboxItem.host_user_id, func.count())
                .where(owned(SandboxInboxItem, shop.merchant_id), SandboxInboxItem.kind == "push")
                .group_by(SandboxInboxItem.host_user_id)
            ).all()
        )
    assert per_user == {n: 3 for n in names}


def test_segments_and_refusals(shop, client, runtime):
    _, vip = follower(shop, f"t{new_id('u')[-8:]}", tags=["vip"])
    follower(shop, f"t{new_id('u')[-8:]}", tags=["new"])
    tagged = push(shop, {"kind": "tags", "values": ["vip"]})
    sweeps.dispatch_outbox(runtime)
    assert report(shop, tagged["id"])["report"]["delivered"] == 1

    empty = push(shop, {"kind": "tags", "values": ["nobody"]}, status=422)
    assert empty["code"] == "push.segment_empty"
    assert push(shop, {"kind": "light_members"}, status=422)["code"] == "push.segment_empty"
    assert (
        push(shop, {"kind": "tiers", "values": ["nope"]}, status=404)["code"]
        == "push.segment_target_not_found"
    )
    assert push(shop, {"kind": "store", "values": []}, status=422)["code"] == "push.segment_invalid"
    no_text = client.post("/api/v1/life/pushes", json={"segment": {"kind": "all"}}, headers=shop.admin)
    assert no_text.status_code == 422 and no_text.json()["code"] == "push.content_missing"
    bad = client.post("/api/v1/life/pushes", json={"title": "x", "body": "y", "segment": {"kind": "x"}},
                      headers=shop.admin)  # fmt: skip
    assert bad.status_code == 422

    # A store's customers: those who bought there.
    order = shop.paid_order({"LATTE-T": 1})
    ok(client.put("/api/v1/storefront/following", headers=shop.customer))
    at_store = push(shop, {"kind": "store", "values": [shop.store_id]})
    sweeps.dispatch_outbox(runtime)
    assert (
        report(shop, at_store["id"])["report"]["targeted"] == 1 and order["customer_id"] == shop.customer_id
    )


def test_unreachable_and_failed_followers_are_reported_and_failures_give_the_slot_back(shop, runtime):
    headers, reachable_id = follower(shop, f"u{new_id('u')[-8:]}")
    failing_name = f"x{new_id('u')[-8:]}"
    _, failing_id = follower(shop, failing_name)
    elsewhere = shop.sign_in(f"w{new_id('u')[-8:]}")
    with runtime.db.unit_of_work() as s:  # follows in a host app they never signed in with
        customers.follow(
            s,
            merchant_id=shop.merchant_id,
            customer_id=elsewhere["customer_id"],
            host_app="taobao",
            now=runtime.clock(),
        )
    runtime.messengers["alipay"] = SandboxMessenger(runtime.db, unreachable=frozenset({failing_name}))
    sent = push(shop)
    sweeps.dispatch_outbox(runtime)
    r = report(shop, sent["id"])["report"]
    assert (r["targeted"], r["delivered"], r["failed"], r["skipped_unreachable"]) == (3, 1, 1, 1)
    with runtime.db.unit_of_work(write=False) as s:
        counts = {
            f.customer_id: f.pushes_this_week
            for f in s.scalars(select(Follower).where(owned(Follower, shop.merchant_id)))
        }
    assert counts[reachable_id] == 1 and counts[failing_id] == 0


def test_a_scheduled_push_waits_and_can_be_cancelled(shop, client, runtime, clock):
    follower(shop, f"s{new_id('u')[-8:]}")
    at = (clock() + timedelta(hours=1)).isoformat()
    later = push(shop, send_at=at)
    other = push(shop, send_at=at)
    sweeps.dispatch_outbox(runtime)
    assert report(shop, later["id"])["status"] == "scheduled"
    assert (
        ok(client.post(f"/api/v1/life/pushes/{other['id']}/cancel", headers=shop.admin))["status"]
        == "cancelled"
    )
    clock.advance(hours=2)
    sweeps.dispatch_outbox(runtime)
    assert report(shop, later["id"])["report"]["delivered"] == 1
    again = client.post(f"/api/v1/life/pushes/{later['id']}/cancel", headers=shop.admin)
    assert again.status_code == 409 and again.json()["code"] == "push.started"


def test_the_week_is_the_merchants_natural_week():
    shanghai = ZoneInfo("Asia/Shanghai")
    sunday_night = datetime(2026, 12, 6, 15, 59, tzinfo=UTC)  # Sunday 23:59 in Shanghai
    monday = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # Monday 00:00 in Shanghai
    assert pushes.week_of(sunday_night, shanghai) == date(2026, 11, 30)
    assert pushes.week_of(monday, shanghai) == date(2026, 12, 7)


def test_another_merchants_posts_and_pushes_are_not_found(shop, other_shop, client, runtime):
    follower(shop, f"i{new_id('u')[-8:]}")
    post = ok(client.post("/api/v1/life/posts", json={"title": "t", "body": "b"}, headers=shop.admin), 201)
    sent = push(shop)
    image = ok(client.post("/api/v1/media", content=PNG, headers=shop.admin), 201)
    for method, path in (
        ("get", f"/api/v1/life/posts/{post['id']}"),
        ("put", f"/api/v1/life/posts/{post['id']}"),
        ("post", f"/api/v1/life/posts/{post['id']}/publish"),
        ("post", f"/api/v1/life/posts/{post['id']}/withdraw"),
        ("get", f"/api/v1/life/pushes/{sent['id']}"),
        ("post", f"/api/v1/life/pushes/{sent['id']}/cancel"),
    ):
        body = {"title": "t", "body": "b"} if method == "put" else {}
        r = getattr(client, method)(
            path, headers=other_shop.admin, **({"json": body} if method != "get" else {})
        )
        assert r.status_code == 404, (method, path, r.text)
    assert client.get(f"/api/v1/media/{other_shop.merchant_id}/{image['id']}").status_code == 404
    assert ok(client.get("/api/v1/life/pushes", headers=other_shop.admin))["items"] == []
    opened = client.post(f"/api/v1/storefront/life/pushes/{sent['id']}/open", headers=other_shop.customer)
    assert opened.status_code == 404
    assert ok(client.get("/api/v1/storefront/life/feed", headers=other_shop.customer))["items"] == []
