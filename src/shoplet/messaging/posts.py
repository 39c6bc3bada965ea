"""The life account's posts (SPEC L1): images, drafts, publishing now or at a time, and the
followers' feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.catalog.models import Product
from shoplet.coupons.models import CouponTemplate
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput, NotFound
from shoplet.messaging.models import LinkKind, Media, Post, PostStatus
from shoplet.scoping import get_owned, owned

MAX_IMAGE_BYTES = 2 * 1024 * 1024
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str:
    """The image's type from its first bytes (what it says it is does not count)."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InvalidInput("media.not_an_image", "Upload a PNG, JPEG, GIF or WebP image.", parameter="file")


def check_link(session: Session, merchant_id: str, kind: str, target: str | None) -> str | None:
    if kind == LinkKind.NONE:
        return None
    if not target:
        raise InvalidInput("post.link_invalid", "A link names what it leads to.", parameter="link_target")
    if kind == LinkKind.PRODUCT and session.get(Product, (merchant_id, target)) is None:
        raise NotFound("post.link_target_not_found", "No such product.")
    if kind == LinkKind.COUPON_TEMPLATE and session.get(CouponTemplate, (merchant_id, target)) is None:
        raise NotFound("post.link_target_not_found", "No such coupon template.")
    if kind == LinkKind.PAGE and not target.startswith("/"):
        raise InvalidInput(
            "post.link_invalid", "A mini-program page is a path such as /pages/menu.", parameter="link_target"
        )
    return target


def upload(session: Session, *, merchant_id: str, data: bytes, now: datetime) -> Media:
    if not data:
        raise InvalidInput("media.not_an_image", "The file is empty.", parameter="file")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput("media.too_large", "An image is at most 2 MB.", parameter="file")
    media = Media(
        merchant_id=merchant_id, id=new_id("img"), content_type=image_type(data), size=len(data), data=data,
        created_at=now,
    )  # fmt: skip
    session.add(media)
    session.flush()
    return media


def save(
    session: Session,
    *,
    merchant_id: str,
    post: Post | None,
    title: str,
    body: str,
    cover_media_id: str | None,
    link_kind: str,
    link_target: str | None,
    now: datetime,
) -> Post:
    """Create a draft, or change a post (a published one changes in place)."""
    if cover_media_id is not None:
        get_owned(session, Media, merchant_id, cover_media_id, what="Image")
    target = check_link(session, merchant_id, link_kind, link_target)
    if post is None:
        post = Post(merchant_id=merchant_id, id=new_id("post"), status=PostStatus.DRAFT, created_at=now)
        session.add(post)
    elif post.status == PostStatus.WITHDRAWN:
        raise Conflict("post.withdrawn", "A withdrawn post cannot be changed.")
    post.title, post.body, post.cover_media_id = title, body, cover_media_id
    post.link_kind, post.link_target, post.updated_at = LinkKind(link_kind).value, target, now
    session.flush()
    return post


def publish(session: Session, post: Post, *, at: datetime | None, now: datetime) -> Post:
    """Publish now, or schedule for ``at`` (the feed shows it from then)."""
    if post.status == PostStatus.WITHDRAWN:
        raise Conflict("post.withdrawn", "A withdrawn post cannot be published again.")
    if at is not None and at < now:
        raise InvalidInput(
            "post.publish_at_past", "A scheduled post is published in the future.", parameter="at"
        )
    post.status, post.publish_at, post.updated_at = PostStatus.PUBLISHED, at or now, now
    session.flush()
    return post


def withdraw(session: Session, post: Post, *, now: datetime) -> Post:
    post.status, post.updated_at = PostStatus.WITHDRAWN, now
    session.flush()
    return post


def feed(merchant_id: str, now: datetime):
    """The followers' feed: published posts whose time has come, newest first."""
    return (
        select(Post)
        .where(owned(Post, merchant_id), Post.status == PostStatus.PUBLISHED, Post.publish_at <= now)
        .order_by(Post.publish_at.desc(), Post.id.desc())
    )
