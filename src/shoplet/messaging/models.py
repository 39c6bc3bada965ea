"""The life account's posts and their images, pushes and their batches, subscription-message
templates and consents, messages to customers, and the sandbox host app's inbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKeyConstraint, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow

WEEKLY_PUSH_CAP = 3
"""At most this many pushes reach a follower per natural week per account (SPEC L2)."""


class PostStatus(StrEnum):
    """A post's status. Stored as these strings. A published post with ``publish_at`` in the
    future is scheduled: the feed shows it from then."""

    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class LinkKind(StrEnum):
    """What a post or a push links to. Stored as these strings."""

    NONE = "none"
    PRODUCT = "product"
    COUPON_TEMPLATE = "coupon_template"
    PAGE = "page"


class PushStatus(StrEnum):
    """A push's status. Stored as these strings."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class BatchStatus(StrEnum):
    """A push batch's status. Stored as these strings."""

    PENDING = "pending"
    SENT = "sent"


class TemplateKind(StrEnum):
    """A subscription-message template's kind. Stored as these strings."""

    ONE_TIME = "one_time"
    LONG_TERM = "long_term"


class MessageStatus(StrEnum):
    """A message to a customer. Stored as these strings."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


class Media(TenantMixin, Base):
    """An uploaded image (a post's cover), kept in the database: nothing to set up."""

    __tablename__ = "media"

    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column()
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Post(TenantMixin, Base):
    """A life-account post: title, body, a cover, and a link to a product, a coupon template
    to claim or a mini-program page."""

    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint("status IN ('draft','published','withdrawn')", name="status"),
        CheckConstraint("link_kind IN ('none','product','coupon_template','page')", name="link_kind"),
        Index("ix_posts_feed", "merchant_id", "status", "publish_at"),
    )

    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(5000))
    cover_media_id: Mapped[str | None] = mapped_column(String(32))
    link_kind: Mapped[str] = mapped_column(String(16), default="none")
    link_target: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    publish_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Push(TenantMixin, Base):
    """A message (or a post) pushed to the followers of a segment, now or at ``send_at``.

    Sent in batches of followers in id order: ``cursor`` is the last follower a batch took,
    so a push interrupted anywhere resumes where it stopped. The report is the sum of its
    batches."""

    __tablename__ = "pushes"
    __table_args__ = (
        CheckConstraint("status IN ('scheduled','sending','sent','cancelled')", name="status"),
        CheckConstraint("link_kind IN ('none','product','coupon_template','page')", name="link_kind"),
        Index("ix_pushes_due", "status", "send_at"),
    )

    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(1000))
    post_id: Mapped[str | None] = mapped_column(String(32))
    link_kind: Mapped[str] = mapped_column(String(16), default="none")
    link_target: Mapped[str | None] = mapped_column(String(200))
    segment: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    send_at: Mapped[datetime] = mapped_column()
    cursor: Mapped[str] = mapped_column(String(32), default="")
    batches: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column()
    opened: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class PushBatch(Base):
    """Up to a thousand followers of a push, taken together: how many were in the segment,
    skipped over the weekly cap, skipped as unreachable (no user id in a host app) or
    unfollowed, and — once the host apps answered — delivered or failed."""

    __tablename__ = "push_batches"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "push_id"], ["pushes.merchant_id", "pushes.id"]),
        CheckConstraint("status IN ('pending','sent')", name="status"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    push_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    targeted: Mapped[int] = mapped_column(default=0)
    over_cap: Mapped[int] = mapped_column(default=0)
    unreachable: Mapped[int] = mapped_column(default=0)
    queued: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class PushOpen(Base):
    """A follower opened a push (once per follower and push)."""

    __tablename__ = "push_opens"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    push_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column()


class MessageTemplate(TenantMixin, Base):
    """A subscription-message template (订阅消息): one-time (each consent a customer gives
    grants one send) or long-term (service notices; ``notice`` names which one it words)."""

    __tablename__ = "message_templates"
    __table_args__ = (
        CheckConstraint("kind IN ('one_time','long_term')", name="kind"),
        Index(
            "uq_message_templates_notice",
            "merchant_id",
            "notice",
            unique=True,
            sqlite_where=text("notice IS NOT NULL"),
            postgresql_where=text("notice IS NOT NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    notice: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(1000))
    variables: Mapped[list[str]] = mapped_column(JSON, default=list)
    archived_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """How many sends of a one-time template a customer has granted and not yet used."""

    __tablename__ = "message_consents"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining"),
        ForeignKeyConstraint(
            ["merchant_id", "template_id"], ["message_templates.merchant_id", "message_templates.id"]
        ),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    remaining: Mapped[int] = mapped_column(default=0)
    granted: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column()


class Message(TenantMixin, Base):
    """A subscription message or service notice to one customer, delivered through the host
    app after commit. ``key`` names what it is about (``order_paid:<order id>``): a notice
    queued twice is one message."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued','sent','failed','unreachable')", name="status"),
        Index("uq_messages_key", "merchant_id", "key", unique=True),
        Index("ix_messages_customer", "merchant_id", "customer_id"),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(120))
    template_id: Mapped[str | None] = mapped_column(String(32))
    notice: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(1000))
    link: Mapped[str | None] = mapped_column(String(300))
    host_app: Mapped[str | None] = mapped_column(String(16))
    host_user_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class SandboxInboxItem(Base):
    """What the sandbox host app received for one of its users: the stand-in for a real host
    app's message centre, read over the sandbox API and shown to the demo customer."""

    __tablename__ = "sandbox_inbox"
    __table_args__ = (Index("ix_sandbox_inbox_user", "host_app", "host_user_id", "received_at"),)

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host_app: Mapped[str] = mapped_column(String(16), primary_key=True)
    host_user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(String(1000))
    link: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column()
