"""Requests and responses of the life account, pushes and subscription messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from shoplet.schemas import Id, In, Instant, Out

LinkKindIn = Literal["none", "product", "coupon_template", "page"]
Text120 = Annotated[str, Field(min_length=1, max_length=120)]
Value = Annotated[str, Field(max_length=200)]


class MediaOut(Out):
    id: str
    content_type: str
    size: int
    url: str


class PostIn(In):
    title: Text120
    body: Annotated[str, Field(min_length=1, max_length=5000)]
    cover_media_id: Id | None = None
    link_kind: LinkKindIn = "none"
    link_target: Annotated[str, Field(max_length=200)] | None = None


class PublishIn(In):
    at: Instant | None = Field(None, description="Schedule for this moment (default: now).")


class PostOut(Out):
    id: str
    title: str
    body: str
    cover_media_id: str | None
    cover_url: str | None = None
    link_kind: str
    link_target: str | None
    status: str
    scheduled: bool = False
    publish_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SegmentIn(In):
    kind: Literal["all", "tags", "tiers", "light_members", "store", "guide_group"]
    values: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=50)] = []


class PushIn(In):
    title: Text120 | None = None
    body: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    post_id: Id | None = None
    link_kind: LinkKindIn = "none"
    link_target: Annotated[str, Field(max_length=200)] | None = None
    segment: SegmentIn
    send_at: Instant | None = Field(None, description="Send at this moment (default: now).")


class PushReport(Out):
    targeted: int
    delivered: int
    skipped_over_cap: int
    skipped_unreachable: int
    failed: int
    in_flight: int
    opened: int


class PushOut(Out):
    id: str
    title: str
    body: str
    post_id: str | None
    link_kind: str
    link_target: str | None
    segment: dict
    status: str
    send_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    report: PushReport


class TemplateIn(In):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    title: Text120
    body: Annotated[str, Field(min_length=1, max_length=1000)]


class TemplateOut(Out):
    id: str
    name: str
    kind: str
    notice: str | None
    title: str
    body: str
    variables: list[str]
    created_at: datetime


class NoticeIn(In):
    title: Text120
    body: Annotated[str, Field(min_length=1, max_length=1000)]


class NoticeOut(Out):
    code: str
    name: str
    title: str
    body: str
    variables: list[str]
    customised: bool


class SendIn(In):
    customer_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]
    values: Annotated[dict[Annotated[str, Field(max_length=64)], Value], Field(max_length=30)] = {}
    link: Annotated[str, Field(max_length=300)] | None = None


class SendOut(Out):
    queued: list[str]
    no_consent: list[str]
    unreachable: list[str]
    unknown: list[str]
    already: list[str]


class ConsentOut(Out):
    template_id: str
    customer_id: str
    remaining: int
    granted: int


class MessageOut(Out):
    id: str
    customer_id: str
    template_id: str | None
    notice: str | None
    title: str
    body: str
    link: str | None
    host_app: str | None
    status: str
    error: str | None
    created_at: datetime
    sent_at: datetime | None


class InboxItemOut(Out):
    message_id: str
    merchant_id: str
    kind: str
    title: str
    body: str
    link: str | None
    received_at: datetime
