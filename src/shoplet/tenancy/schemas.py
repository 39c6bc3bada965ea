from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shoplet.schemas import Id, In, Name, Out, TimeZone

Role = Literal["admin", "operator", "clerk", "guide"]


class MerchantIn(In):
    name: str = Name
    timezone: TimeZone = "Asia/Shanghai"


class MerchantOut(Out):
    id: str
    name: str
    timezone: str
    status: str
    created_at: datetime


class MerchantCreated(Out):
    merchant: MerchantOut
    api_key: str = Field(description="The owner's admin API key. Shown once: store it now.")


class ApiKeyIn(In):
    name: str = Name


class ApiKeyOut(Out):
    id: str
    name: str
    staff_id: str | None
    hint: str = Field(description="The last four characters of the secret.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(Out):
    key: ApiKeyOut
    token: str = Field(description="The bearer token. Shown once: store it now.")


Login = Field(
    None,
    min_length=2,
    max_length=64,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$",
    description="Console sign-in name, unique in the shop (letters, digits, . _ @ + -; not case-sensitive).",
)
Password = Field(None, min_length=1, max_length=200, description="Console password: 10 to 128 characters.")


class StaffIn(In):
    name: str = Name
    role: Role
    store_id: Id | None = Field(None, description="Required for clerks.")
    phone: str | None = Field(None, max_length=32)
    login: str | None = Login
    password: str | None = Password


class CredentialsIn(In):
    login: str | None = Login
    password: str | None = Password


class InviteOut(Out):
    url: str = Field(description="The link with which the staff member sets a password (works once).")
    expires_at: datetime


class StaffOut(Out):
    id: str
    name: str
    role: str
    store_id: str | None
    phone: str | None
    active: bool
    created_at: datetime
    login: str | None
    has_password: bool
    locked_until: datetime | None
