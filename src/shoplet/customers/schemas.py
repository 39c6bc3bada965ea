from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shoplet.customers.models import HOST_APPS
from shoplet.schemas import In, Instant, Out, Tag

HostAppName = Literal[HOST_APPS]  # type: ignore[valid-type]
Scene = Field(
    None,
    max_length=32,
    pattern=r"^[a-z0-9_]+$",
    description="Entry scene: qr_scan, search, share, profile, feed, home_banner, nearby, ...",
)


class IdentityIn(In):
    host_app: HostAppName
    host_user_id: str = Field(min_length=1, max_length=128)


class IdentityOut(Out):
    host_app: str
    host_user_id: str


class CustomerIn(In):
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9-]{5,20}$")
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    birthday: str | None = Field(
        None,
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD, for birthday coupons.",
    )
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)


class MembershipOut(Out):
    tier: str
    host_app: str | None
    scene: str | None
    first_order_id: str | None
    joined_at: datetime


class CustomerOut(Out):
    id: str
    name: str | None
    phone: str | None
    tags: list[str]
    birthday: str | None = None
    identities: list[IdentityOut]
    membership: MembershipOut | None
    created_at: datetime


class SessionIn(In):
    host_app: HostAppName
    scene: str | None = Scene


class SignInIn(In):
    """A customer signs in from a host app with the app's one-time auth code."""

    merchant_id: str = Field(min_length=1, max_length=32)
    host_app: HostAppName
    auth_code: str = Field(min_length=1, max_length=256)
    scene: str | None = Scene


class SessionOut(Out):
    customer_id: str
    token: str = Field(description="The customer's bearer token. Shown once.")
    expires_at: datetime


class FollowOut(Out):
    customer_id: str
    following: bool
    host_app: str | None
    followed_at: datetime | None
    unfollowed_at: datetime | None


class VisitIn(In):
    """One page view, as the mini program reports it."""

    id: str | None = Field(
        None,
        min_length=1,
        max_length=48,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The view's own id, made by the mini program: a view sent twice counts once.",
    )
    page: str = Field(min_length=1, max_length=64, description="The page, e.g. 'home', 'product', 'coupons'.")
    scene: str | None = Scene
    store_id: str | None = Field(None, max_length=32, description="The store the page is about, if any.")
    at: Instant | None = Field(None, description="When it was viewed (default: now); at most 7 days ago.")


class VisitsIn(In):
    views: list[VisitIn] = Field(min_length=1, max_length=50)


class VisitsOut(Out):
    recorded: int
