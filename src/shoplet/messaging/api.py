"""The life account (posts, images, pushes and their reports), subscription-message
templates and service notices, messages sent; the storefront's feed, consents and push
opens; the sandbox host app's inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.auth import AsCustomer, AsOperator, Db, Now, Rt
from shoplet.db import new_id
from shoplet.errors import Conflict
from shoplet.messaging import delivery, posts, pushes
from shoplet.messaging import service as messages
from shoplet.messaging.models import Consent, Media, Message, MessageTemplate, Post, PostStatus, Push
from shoplet.messaging.schemas import (
    ConsentOut,
    InboxItemOut,
    MediaOut,
    MessageOut,
    NoticeIn,
    NoticeOut,
    PostIn,
    PostOut,
    PublishIn,
    PushIn,
    PushOut,
    PushReport,
    SendIn,
    SendOut,
    TemplateIn,
    TemplateOut,
)
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, owned, scoped
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["life account and messages"])
media = APIRouter(route_class=OneHop, tags=["life account and messages"])
storefront = APIRouter(route_class=OneHop, prefix="/storefront", tags=["storefront"])
sandbox = APIRouter(route_class=OneHop, prefix="/sandbox", tags=["sandbox"])


def media_url(merchant_id: str, media_id: str) -> str:
    return f"/api/v1/media/{merchant_id}/{media_id}"


def post_out(post: Post, now: datetime | None = None) -> PostOut:
    out = PostOut.model_validate(post)
    if post.cover_media_id:
        out.cover_url = media_url(post.merchant_id, post.cover_media_id)
    out.scheduled = bool(
        post.status == PostStatus.PUBLISHED
        and post.publish_at is not None
        and now is not None
        and post.publish_at > now
    )
    return out


def push_out(s: Session, push: Push, figures: dict[str, int] | None = None) -> PushOut:
    return PushOut(
        **{k: getattr(push, k) for k in PushOut.model_fields if k != "report"},
        report=PushReport(**(figures or pushes.report(s, push))),
    )


# -- images -------------------------------------------------------------------------------


@router.post("/media", response_model=MediaOut, status_code=201)
async def upload_media(p: AsOperator, db: Db, now: Now, request: Request) -> MediaOut:
    """Upload an image (the request body is the file: PNG, JPEG, GIF or WebP, at most 2 MB)."""
    data = await request.body()
    with db.unit_of_work() as s:
        item = posts.upload(s, merchant_id=p.tenant, data=data, now=now)
        return MediaOut(
            id=item.id, content_type=item.content_type, size=item.size, url=media_url(p.tenant, item.id)
        )


@media.get("/media/{merchant_id}/{media_id}", response_class=Response)
def get_media(db: Db, merchant_id: str, media_id: str) -> Response:
    """An uploaded image (public: posts show it to anyone)."""
    with db.unit_of_work(write=False) as s:
        item = get_owned(s, Media, merchant_id, media_id, what="Image")
        return Response(
            item.data,
            media_type=item.content_type,
            headers={"cache-control": "public, max-age=31536000, immutable"},
        )


# -- posts --------------------------------------------------------------------------------


@router.post("/life/posts", response_model=PostOut, status_code=201)
def create_post(p: AsOperator, db: Db, now: Now, body: PostIn) -> PostOut:
    """A draft post: title, body, a cover image, a link to a product, a coupon template to
    claim or a mini-program page."""
    with db.unit_of_work() as s:
        post = posts.save(s, merchant_id=p.tenant, post=None, now=now, **body.model_dump())
        return post_out(post, now)


@router.get("/life/posts", response_model=Page[PostOut])
def list_posts(
    p: AsOperator,
    db: Db,
    now: Now,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(draft|published|withdrawn)$"),
) -> Page[PostOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Post, p.tenant)
        if status:
            stmt = stmt.where(Post.status == status)
        rows, cursor = paginate(s, stmt, Post.id, page)
        return Page(items=[post_out(r, now) for r in rows], next_cursor=cursor)


@router.get("/life/posts/{post_id}", response_model=PostOut)
def get_post(p: AsOperator, db: Db, now: Now, post_id: str) -> PostOut:
    with db.unit_of_work(write=False) as s:
        return post_out(get_owned(s, Post, p.tenant, post_id, what="Post"), now)


@router.put("/life/posts/{post_id}", response_model=PostOut)
def update_post(p: AsOperator, db: Db, now: Now, post_id: str, body: PostIn) -> PostOut:
    with db.unit_of_work() as s:
        post = get_owned(s, Post, p.tenant, post_id, what="Post")
        return post_out(posts.save(s, merchant_id=p.tenant, post=post, now=now, **body.model_dump()), now)


@router.post("/life/posts/{post_id}/publish", response_model=PostOut)
def publish_post(p: AsOperator, db: Db, now: Now, post_id: str, body: PublishIn) -> PostOut:
    """Publish now, or at ``at`` (the feed shows it from then)."""
    with db.unit_of_work() as s:
        post = get_owned(s, Post, p.tenant, post_id, what="Post")
        return post_out(posts.publish(s, post, at=body.at, now=now), now)


@router.post("/life/posts/{post_id}/withdraw", response_model=PostOut)
def withdraw_post(p: AsOperator, db: Db, now: Now, post_id: str) -> PostOut:
    with db.unit_of_work() as s:
        return post_out(posts.withdraw(s, get_owned(s, Post, p.tenant, post_id, what="Post"), now=now), now)


# -- pushes -------------------------------------------------------------------------------


@router.post("/life/pushes", response_model=PushOut, status_code=201)
def create_push(
    p: AsOperator,
    db: Db,
    now: Now,
    body: PushIn,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> PushOut:
    """Push a message (or a published post) to a segment of followers, now or at
    ``send_at``. At most 3 pushes reach a follower per natural week: the report says who
    was skipped over the cap."""

    def work(s: Session) -> tuple[int, dict]:
        push = pushes.create_push(
            s,
            merchant_id=p.tenant,
            title=body.title,
            body=body.body,
            post_id=body.post_id,
            link_kind=body.link_kind,
            link_target=body.link_target,
            segment=body.segment.model_dump(),
            send_at=body.send_at,
            created_by=p.staff_id,
            push_id=new_id("push"),
            now=now,
        )
        return 201, {"push_id": push.id}

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation="push",
        payload=body.model_dump(mode="json"),
        work=work,
    )
    with db.unit_of_work(write=False) as s:
        return push_out(s, get_owned(s, Push, p.tenant, stored["push_id"], what="Push"))


@router.get("/life/pushes", response_model=Page[PushOut])
def list_pushes(p: AsOperator, db: Db, page: PageQuery) -> Page[PushOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(Push, p.tenant), Push.id, page)
        figures = pushes.reports(s, p.tenant, rows)
        return Page(items=[push_out(s, r, figures[r.id]) for r in rows], next_cursor=cursor)


@router.get("/life/pushes/{push_id}", response_model=PushOut)
def get_push(p: AsOperator, db: Db, push_id: str) -> PushOut:
    """A push and its report: delivered, skipped over the weekly cap, skipped as unreachable,
    failed, still in flight, opened."""
    with db.unit_of_work(write=False) as s:
        return push_out(s, get_owned(s, Push, p.tenant, push_id, what="Push"))


@router.post("/life/pushes/{push_id}/cancel", response_model=PushOut)
def cancel_push(p: AsOperator, db: Db, push_id: str) -> PushOut:
    """Cancel a push that has not started."""
    with db.unit_of_work() as s:
        push = get_owned(s, Push, p.tenant, push_id, what="Push")
        if not pushes.cancel(s, push):
            raise Conflict("push.started", "The push has started (or ended); it can no longer be cancelled.")
        s.refresh(push)
        return push_out(s, push)


# -- templates and notices ----------------------------------------------------------------


@router.get("/messages/templates", response_model=list[TemplateOut])
def list_templates(p: AsOperator, db: Db) -> list[TemplateOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(scoped(MessageTemplate, p.tenant).order_by(MessageTemplate.id))
        return [TemplateOut.model_validate(t) for t in rows]


@router.post("/messages/templates", response_model=TemplateOut, status_code=201)
def create_template(p: AsOperator, db: Db, now: Now, body: TemplateIn) -> TemplateOut:
    """A one-time subscription-message template: ``{name}`` marks a variable."""
    with db.unit_of_work() as s:
        return TemplateOut.model_validate(
            messages.create_template(
                s, merchant_id=p.tenant, name=body.name, title=body.title, body=body.body, now=now
            )
        )


@router.post("/messages/templates/{message_template_id}/send", response_model=SendOut)
def send_template(
    p: AsOperator,
    db: Db,
    now: Now,
    message_template_id: str,
    body: SendIn,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> SendOut:
    """Send a one-time template to customers: each send uses one of the customer's consents;
    the answer says who had none, who cannot be reached and who is unknown."""
    template_id = message_template_id
    key = f"send:{template_id}:{idempotency_key or new_id('snd')}"
    with db.unit_of_work() as s:
        report = messages.send_template(
            s,
            merchant_id=p.tenant,
            template_id=template_id,
            customer_ids=body.customer_ids,
            values=body.values,
            key=key,
            link=body.link,
            now=now,
        )
        return SendOut(**report.__dict__)


@router.get("/messages/notices", response_model=list[NoticeOut])
def list_notices(p: AsOperator, db: Db) -> list[NoticeOut]:
    """The service notices Shoplet sends (long-term: no consent needed), in your wording."""
    with db.unit_of_work(write=False) as s:
        return [
            NoticeOut(**{**n.__dict__, "variables": list(n.variables)})
            for n in messages.notice_texts(s, p.tenant)
        ]


@router.put("/messages/notices/{code}", response_model=NoticeOut)
def reword_notice(p: AsOperator, db: Db, now: Now, code: str, body: NoticeIn) -> NoticeOut:
    """Reword a service notice (with its own variables only)."""
    with db.unit_of_work() as s:
        t = messages.reword_notice(
            s, merchant_id=p.tenant, code=code, title=body.title, body=body.body, now=now
        )
        n = messages.NOTICES[code]
        return NoticeOut(
            code=code, name=n.name, title=t.title, body=t.body, variables=list(n.variables), customised=True
        )


@router.get("/messages", response_model=Page[MessageOut])
def list_messages(
    p: AsOperator,
    db: Db,
    page: PageQuery,
    customer_id: str | None = Query(None, max_length=40),
) -> Page[MessageOut]:
    """Messages sent (or queued, or unreachable) to customers, oldest first."""
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Message, p.tenant)
        if customer_id:
            stmt = stmt.where(Message.customer_id == customer_id)
        rows, cursor = paginate(s, stmt, Message.id, page)
        return Page(items=[MessageOut.model_validate(m) for m in rows], next_cursor=cursor)


# -- storefront ---------------------------------------------------------------------------


@storefront.get("/life/feed", response_model=Page[PostOut])
def feed(p: AsCustomer, db: Db, now: Now, limit: int = Query(20, ge=1, le=50)) -> Page[PostOut]:
    """The life account's feed: published posts, newest first."""
    with db.unit_of_work(write=False) as s:
        rows = list(s.scalars(posts.feed(p.tenant, now).limit(limit)))
        return Page(items=[post_out(r, now) for r in rows], next_cursor=None)


@storefront.get("/messages/templates", response_model=list[TemplateOut])
def consentable_templates(p: AsCustomer, db: Db) -> list[TemplateOut]:
    """The one-time templates the merchant may ask me to subscribe to."""
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            scoped(MessageTemplate, p.tenant)
            .where(MessageTemplate.kind == "one_time", MessageTemplate.archived_at.is_(None))
            .order_by(MessageTemplate.id)
        )
        return [TemplateOut.model_validate(t) for t in rows]


@storefront.post("/messages/templates/{message_template_id}/consent", response_model=ConsentOut)
def consent(p: AsCustomer, db: Db, now: Now, message_template_id: str) -> ConsentOut:
    """I agree to receive this message once more (consents add up; each send uses one)."""
    with db.unit_of_work() as s:
        row = messages.grant_consent(
            s, merchant_id=p.tenant, customer_id=p.customer, template_id=message_template_id, now=now
        )
        return ConsentOut.model_validate(row)


@storefront.get("/messages/consents", response_model=list[ConsentOut])
def my_consents(p: AsCustomer, db: Db) -> list[ConsentOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(select(Consent).where(owned(Consent, p.tenant), Consent.customer_id == p.customer))
        return [ConsentOut.model_validate(c) for c in rows]


@storefront.post("/life/pushes/{push_id}/open", status_code=204)
def open_push(p: AsCustomer, db: Db, now: Now, push_id: str) -> Response:
    """I opened a push (its link carries ``push=<id>``): counted once, as an event."""
    with db.unit_of_work() as s:
        pushes.opened(s, merchant_id=p.tenant, push_id=push_id, customer_id=p.customer, now=now)
    return Response(status_code=204)


# -- the sandbox host app -----------------------------------------------------------------


@sandbox.get("/inbox/{host_app}/{host_user_id}", response_model=list[InboxItemOut])
def sandbox_inbox(
    rt: Rt,
    host_app: str,
    host_user_id: str,
    merchant_id: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=200),
) -> list[InboxItemOut]:
    """What the sandbox host app delivered to one of its users (pushes and messages)."""
    items = delivery.inbox(
        rt.db, merchant_id=merchant_id, host_app=host_app, host_user_id=host_user_id, limit=limit
    )
    return [InboxItemOut.model_validate(i) for i in items]
