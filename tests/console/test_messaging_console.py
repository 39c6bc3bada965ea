"""The life account and webhooks in the console over HTTP: a post with its cover image, a
push and its report under the weekly cap, templates and notices, a customer's inbox, webhook
endpoints with ping and replay; roles, CSRF and another merchant's objects."""

from __future__ import annotations

from sqlalchemy import select

from shoplet import sweeps
from shoplet.messaging.models import Post, Push
from shoplet.scoping import owned
from shoplet.webhooks import service as webhooks
from shoplet.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.console.helpers import add_staff, csrf_of, sign_in
from tests.helpers import ok

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _follow(shop) -> None:
    ok(shop.client.put("/api/v1/storefront/following", headers=shop.customer))


def test_a_post_a_push_and_its_report(shop, client, runtime):
    _follow(shop)
    add_staff(shop, "operator", "lin")
    person = sign_in(client, shop, "lin")
    page = person.get("/console/messages")
    assert page.status_code == 200 and 'id="new-push"' in page.text
    csrf = csrf_of(page.text)
    made = person.post(
        "/console/messages/posts",
        data={
            "csrf": csrf,
            "title": "秋季新品",
            "body": "桂花拿铁上市",
            "link_kind": "none",
            "publish": "on",
        },
        files={"cover": ("cover.png", PNG, "image/png")},
    )
    assert made.status_code == 303
    with runtime.db.unit_of_work(write=False) as s:
        post = s.scalars(select(Post).where(owned(Post, shop.merchant_id))).one()
    assert post.status == "published" and post.cover_media_id
    assert client.get(f"/api/v1/media/{shop.merchant_id}/{post.cover_media_id}").content == PNG
    bad = person.post(
        "/console/messages/posts",
        data={"csrf": csrf, "title": "x", "body": "y", "link_kind": "none"},
        files={"cover": ("x.png", b"not an image", "image/png")},
    )
    assert bad.status_code == 422 and "PNG, JPEG, GIF or WebP" in bad.text

    for i in range(4):
        pushed = person.post(
            "/console/messages/pushes",
            data={"csrf": csrf, "post_id": post.id, "segment": "all", "title": f"第{i}条"},
        )
        assert pushed.status_code == 303
        sweeps.dispatch_outbox(runtime)
    empty = person.post(
        "/console/messages/pushes",
        data={"csrf": csrf, "title": "x", "body": "y", "segment": "tags", "values_tags": "z"},
    )
    assert empty.status_code == 422 and "No follower is in this segment" in empty.text
    page = person.get("/console/messages").text
    with runtime.db.unit_of_work(write=False) as s:
        last = s.scalars(select(Push).where(owned(Push, shop.merchant_id)).order_by(Push.id.desc())).first()
    row = page[page.index(f'data-push="{last.id}"') :].split("</tr>")[0]
    cells = [c.split(">", 1)[1].split("<")[0] for c in row.split('<td class="num"')[1:]]
    assert cells[:3] == ["1", "0", "1"]  # targeted, delivered, over the weekly cap

    inbox = person.get("/console/messages/inbox", params={"customer": shop.customer_id})
    assert inbox.status_code == 200 and inbox.text.count('class="card message"') == 3
    assert 'id="inbox-error"' in person.get("/console/messages/inbox?customer=nobody").text

    template = person.post(
        "/console/messages/templates",
        data={"csrf": csrf, "name": "到店", "title": "到店提醒", "body": "{name} 到了"},
    )
    assert template.status_code == 303
    reworded = person.post(
        "/console/messages/notices/order_paid", data={"csrf": csrf, "title": "已付款", "body": "{x}"}
    )
    assert reworded.status_code == 422
    assert "This notice has no x" in reworded.text
    assert (
        person.post("/console/messages/templates", data={"name": "n", "title": "t", "body": "b"}).status_code
        == 403
    )


def test_roles_and_another_merchants_objects(shop, other_shop, client, runtime):
    _follow(shop)
    add_staff(shop, "clerk", "zhao")
    assert sign_in(client, shop, "zhao").get("/console/messages").status_code == 403
    add_staff(shop, "operator", "qin")
    operator = sign_in(client, shop, "qin")
    assert operator.get("/console/webhooks").status_code == 403
    theirs = ok(
        client.post("/api/v1/life/posts", json={"title": "t", "body": "b"}, headers=other_shop.admin), 201
    )
    token = csrf_of(operator.get("/console/messages").text)
    assert (
        operator.post(f"/console/messages/posts/{theirs['id']}/publish", data={"csrf": token}).status_code
        == 404
    )
    ok(client.put("/api/v1/storefront/following", headers=other_shop.customer))
    their_push = ok(
        client.post(
            "/api/v1/life/pushes",
            json={"title": "t", "body": "b", "segment": {"kind": "all"}},
            headers=other_shop.admin,
        ),
        201,
    )
    assert (
        operator.post(f"/console/messages/pushes/{their_push['id']}/cancel", data={"csrf": token}).status_code
        == 404
    )
    assert their_push["id"] not in operator.get("/console/messages").text
    # Their customer's inbox is not this shop's to read.
    shown = operator.get("/console/messages/inbox", params={"customer": other_shop.customer_id}).text
    assert 'id="inbox-error"' in shown and 'class="card message"' not in shown


def test_webhook_endpoints_ping_and_replay(shop, other_shop, client, runtime):
    runtime.settings.webhooks_allow_private = True
    answers = [500, 400, 200]
    runtime.send_webhook = lambda url, body, headers: webhooks.Reply(
        answers.pop(0) if answers else 200, {}, "ok"
    )
    add_staff(shop, "admin", "wu")
    admin = sign_in(client, shop, "wu")
    csrf = csrf_of(admin.get("/console/webhooks").text)
    refused = admin.post("/console/webhooks", data={"csrf": csrf, "url": "ftp://x"})
    assert refused.status_code == 422 and "http:// or https://" in refused.text
    made = admin.post(
        "/console/webhooks",
        data={"csrf": csrf, "url": "http://127.0.0.1:9/hook", "event_types": "order.paid"},
    )
    assert made.status_code == 303
    with runtime.db.unit_of_work(write=False) as s:
        endpoint = s.scalars(select(WebhookEndpoint).where(owned(WebhookEndpoint, shop.merchant_id))).one()
    assert endpoint.event_types == ["order.paid"]
    page = admin.get(made.headers["location"]).text
    assert endpoint.secret in page
    assert admin.post(f"/console/webhooks/{endpoint.id}/ping", data={"csrf": csrf}).status_code == 303
    sweeps.deliver_webhooks(runtime)  # 500: retried later
    runtime.clock.advance(seconds=10)
    sweeps.deliver_webhooks(runtime)  # 400: failed
    with runtime.db.unit_of_work(write=False) as s:
        delivery = s.scalars(select(WebhookDelivery).where(owned(WebhookDelivery, shop.merchant_id))).one()
    assert delivery.status == "failed"
    detail = admin.get(f"/console/webhooks/deliveries/{delivery.id}").text
    assert "webhook.ping" in detail and "500" in detail and "400" in detail
    assert (
        admin.post(f"/console/webhooks/deliveries/{delivery.id}/replay", data={"csrf": csrf}).status_code
        == 303
    )
    sweeps.deliver_webhooks(runtime)
    with runtime.db.unit_of_work(write=False) as s:
        assert s.get(WebhookDelivery, (shop.merchant_id, delivery.id)).status == "succeeded"
    assert admin.post(f"/console/webhooks/{endpoint.id}/disable", data={"csrf": csrf}).status_code == 303
    assert 'aria-current="page"' in admin.get("/console/webhooks").text

    # Another merchant's admin sees none of it.
    add_staff(other_shop, "admin", "he")
    other = sign_in(client, other_shop, "he")
    token = csrf_of(other.get("/console/webhooks").text)
    assert other.get(f"/console/webhooks/{endpoint.id}").status_code == 404
    assert other.get(f"/console/webhooks/deliveries/{delivery.id}").status_code == 404
    assert other.post(f"/console/webhooks/{endpoint.id}/ping", data={"csrf": token}).status_code == 404
    assert (
        other.post(f"/console/webhooks/deliveries/{delivery.id}/replay", data={"csrf": token}).status_code
        == 404
    )
