"""The life account in the console: posts (with a cover image) and publishing them, pushes to
a segment with their reports, one-time message templates and the wording of the service
notices, and a customer's sandbox inbox (the same service calls as ``/life``, ``/messages``
and ``/sandbox/inbox``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from starlette.datastructures import UploadFile

from shoplet.console.forms import stores_of
from shoplet.console.web import PageError, attempt, check_csrf, redirect, render, require
from shoplet.customers.models import Customer
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput, ShopletError
from shoplet.guides.models import GuideGroup
from shoplet.membership.models import Tier
from shoplet.messaging import delivery, posts, pushes
from shoplet.messaging import service as messages
from shoplet.messaging.models import Message, MessageTemplate, Post, Push, TemplateKind
from shoplet.messaging.service import reachable
from shoplet.scoping import owned
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")

SEGMENTS = ("all", "tags", "tiers", "light_members", "store", "guide_group")
LINKS = ("none", "product", "coupon_template", "page")


def _page(request: Request, viewer: Any, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        post_rows = list(
            s.scalars(
                select(Post)
                .where(owned(Post, viewer.tenant))
                .order_by(Post.created_at.desc(), Post.id)
                .limit(50)
            )
        )
        push_rows = list(
            s.scalars(
                select(Push)
                .where(owned(Push, viewer.tenant))
                .order_by(Push.created_at.desc(), Push.id)
                .limit(50)
            )
        )
        figures = pushes.reports(s, viewer.tenant, push_rows)
        templates = list(
            s.scalars(
                select(MessageTemplate)
                .where(owned(MessageTemplate, viewer.tenant), MessageTemplate.kind == TemplateKind.ONE_TIME)
                .order_by(MessageTemplate.id)
            )
        )
        notices = messages.notice_texts(s, viewer.tenant)
        tiers = list(s.scalars(select(Tier.code).where(owned(Tier, viewer.tenant)).order_by(Tier.threshold)))
        groups = list(
            s.scalars(select(GuideGroup).where(owned(GuideGroup, viewer.tenant)).order_by(GuideGroup.name))
        )
        stores = stores_of(s, viewer.tenant)
    extra.setdefault("form", {})
    extra.setdefault("errors", {})
    extra.setdefault("notice", "")
    return render(
        request,
        viewer,
        "messages.html",
        status=status,
        posts=post_rows,
        pushes=[(p, figures[p.id]) for p in push_rows],
        templates=templates,
        notices=notices,
        segments=SEGMENTS,
        links=LINKS,
        tiers=["base", *tiers],
        groups=groups,
        stores=stores,
        **extra,
    )


@router.get("/messages")
def messages_page(request: Request, notice: str = "") -> Response:
    return _page(request, require(request, "messages"), notice=notice)


def _local_time(text: str, tz: Any, field: str) -> datetime | None:
    """A ``datetime-local`` field in the shop's time zone (blank: now)."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=tz)
    except ValueError:
        raise InvalidInput("request.invalid", "Give a date and time.", parameter=field) from None


@router.post("/messages/posts")
async def post_create(request: Request) -> Response:
    viewer = require(request, "messages")
    form = await check_csrf(request, viewer)
    upload = (await request.form()).get("cover")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            now = rt.clock()
            cover = posts.upload(s, merchant_id=viewer.tenant, data=data, now=now).id if data else None
            post = posts.save(
                s,
                merchant_id=viewer.tenant,
                post=None,
                title=form.get("title", "").strip(),
                body=form.get("body", "").strip(),
                cover_media_id=cover,
                link_kind=form.get("link_kind", "none") if form.get("link_kind") in LINKS else "none",
                link_target=form.get("link_target", "").strip() or None,
                now=now,
            )
            if not post.title or not post.body:
                raise InvalidInput("request.invalid", "A post has a title and a body.")
            if form.get("publish") == "on":
                posts.publish(s, post, at=_local_time(form.get("publish_at", ""), viewer.zone, "at"), now=now)
    except ShopletError as error:
        if error.status == 404 and error.code != "post.link_target_not_found":
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, form=form, errors={"post": error.detail})
    return redirect("/console/messages?notice=post", request)


@router.post("/messages/posts/{post_id}/{action}")
async def post_action(request: Request, post_id: str, action: str) -> Response:
    viewer = require(request, "messages")
    await check_csrf(request, viewer)
    if action not in ("publish", "withdraw"):
        raise PageError(404, "Page not found")

    def work(s: Any, now: datetime) -> None:
        post = s.get(Post, (viewer.tenant, post_id))
        if post is None:
            raise PageError(404, "No such post.")
        if action == "publish":
            posts.publish(s, post, at=None, now=now)
        else:
            posts.withdraw(s, post, now=now)

    refused = attempt(request, work)
    if refused is not None:
        return _page(request, viewer, status=refused.status, errors={"posts": refused.detail})
    return redirect("/console/messages", request)


@router.post("/messages/pushes")
async def push_create(request: Request) -> Response:
    viewer = require(request, "messages")
    form = await check_csrf(request, viewer)
    kind = form.get("segment", "all")
    raw = form.get(f"values_{kind}", "")
    values = (
        [v.strip() for v in raw.split(",") if v.strip()]
        if kind in ("tags", "tiers")
        else ([raw] if raw else [])
    )
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            now = rt.clock()
            pushes.create_push(
                s,
                merchant_id=viewer.tenant,
                title=form.get("title", "").strip() or None,
                body=form.get("body", "").strip() or None,
                post_id=form.get("post_id") or None,
                link_kind="none",
                link_target=None,
                segment={"kind": kind, "values": values},
                send_at=_local_time(form.get("send_at", ""), viewer.zone, "send_at"),
                created_by=viewer.staff_id,
                push_id=new_id("push"),
                now=now,
            )
    except ShopletError as error:
        if error.status == 404 and error.code not in ("push.segment_target_not_found",):
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, form=form, errors={"push": error.detail})
    return redirect("/console/messages?notice=push", request)


@router.post("/messages/pushes/{push_id}/cancel")
async def push_cancel(request: Request, push_id: str) -> Response:
    viewer = require(request, "messages")
    await check_csrf(request, viewer)

    def work(s: Any, now: datetime) -> None:
        push = s.get(Push, (viewer.tenant, push_id))
        if push is None:
            raise PageError(404, "No such push.")
        if not pushes.cancel(s, push):
            raise Conflict("push.started", "The push has started (or ended); it can no longer be cancelled.")

    refused = attempt(request, work)
    if refused is not None:
        return _page(request, viewer, status=refused.status, errors={"push": refused.detail})
    return redirect("/console/messages", request)


@router.post("/messages/templates")
async def template_create(request: Request) -> Response:
    viewer = require(request, "messages")
    form = await check_csrf(request, viewer)
    fields = {k: form.get(k, "").strip() for k in ("name", "title", "body")}
    if not all(fields.values()):
        return _page(
            request, viewer, status=422, form=form, errors={"template": "Give a name, a title and a body."}
        )
    refused = attempt(
        request, lambda s, now: messages.create_template(s, merchant_id=viewer.tenant, now=now, **fields)
    )
    if refused is not None:
        return _page(request, viewer, status=refused.status, form=form, errors={"template": refused.detail})
    return redirect("/console/messages?notice=template", request)


@router.post("/messages/notices/{code}")
async def notice_reword(request: Request, code: str) -> Response:
    viewer = require(request, "messages")
    form = await check_csrf(request, viewer)
    if code not in messages.NOTICES:
        raise PageError(404, "Page not found")
    title, body = form.get("title", "").strip(), form.get("body", "").strip()
    if not title or not body:
        return _page(request, viewer, status=422, errors={f"notice_{code}": "Give a title and a body."})
    refused = attempt(
        request,
        lambda s, now: messages.reword_notice(
            s, merchant_id=viewer.tenant, code=code, title=title, body=body, now=now
        ),
    )
    if refused is not None:
        return _page(request, viewer, status=refused.status, errors={f"notice_{code}": refused.detail})
    return redirect("/console/messages?notice=notice", request)


@router.get("/messages/inbox")
def inbox_page(request: Request, customer: str = "") -> Response:
    """What a customer's host app received from the shop (the sandbox host app's inbox)."""
    viewer = require(request, "messages")
    rt = request.app.state.runtime
    found, items, error, recent = None, [], "", []
    if not customer.strip():  # the customers messaged last, to pick from
        with rt.db.unit_of_work(write=False) as s:
            recent = list(
                s.execute(
                    select(Message.customer_id, func.max(Message.created_at).label("at"))
                    .where(owned(Message, viewer.tenant))
                    .group_by(Message.customer_id)
                    .order_by(func.max(Message.created_at).desc())
                    .limit(10)
                )
            )
    else:
        with rt.db.unit_of_work(write=False) as s:
            wanted = customer.strip()
            found = (
                s.get(Customer, (viewer.tenant, wanted))
                or s.scalars(
                    select(Customer).where(owned(Customer, viewer.tenant), Customer.phone == wanted)
                ).first()
            )
            host = reachable(s, viewer.tenant, [found.id])[found.id] if found else None
        if found is None:
            error = "No customer with that id or phone."
        elif host is None:
            error = "This customer has no user id in any host app."
        else:
            items = delivery.inbox(
                rt.db, merchant_id=viewer.tenant, host_app=host[0], host_user_id=host[1], limit=50
            )
    return render(
        request, viewer, "inbox.html", customer=customer, found=found, items=items, error=error, recent=recent
    )
