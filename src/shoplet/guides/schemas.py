from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shoplet.schemas import In, Out


class GuidePolicyIn(In):
    protection_days: int = Field(30, ge=0, le=3650, description="Days a new binding cannot be taken over.")
    after_protection: Literal["first_touch", "last_touch"] = Field(
        "last_touch", description="first_touch: the binding stays for good; last_touch: a new guide's code "
                                  "takes the customer over once protection has passed.")


class GuidePolicyOut(Out):
    protection_days: int
    after_protection: str


class BindIn(In):
    guide_id: str = Field(min_length=1, max_length=32, description="The guide's id (from their QR code).")


class AssignIn(BindIn):
    force: bool = Field(False, description="Admin only: reassign even a protected binding (a guide left).")


class GuideBindingOut(Out):
    customer_id: str
    guide_id: str
    guide_name: str
    store_id: str | None
    source: str
    bound_at: datetime
    protected_until: datetime
    first_bound_at: datetime


class BindingChangeOut(Out):
    id: str
    customer_id: str
    from_guide_id: str | None
    to_guide_id: str
    source: str
    by: str
    at: datetime


class QuotaIn(In):
    quota: int = Field(ge=0, le=1_000_000)


class QuotaOut(Out):
    template_id: str
    guide_id: str
    quota: int
    issued: int


class GuideIssueIn(In):
    template_id: str = Field(min_length=1, max_length=32)
    customer_id: str = Field(min_length=1, max_length=32)


class MyCustomerOut(Out):
    id: str
    name: str | None
    phone: str | None
    tags: list[str]
    bound_at: datetime
    protected_until: datetime
