"""Requests and responses of webhook endpoints and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from shoplet.schemas import In, Out

EventTypeName = Annotated[str, Field(min_length=1, max_length=48)]


class EndpointIn(In):
    url: Annotated[str, Field(min_length=1, max_length=500)]
    description: Annotated[str, Field(max_length=200)] = ""
    event_types: Annotated[list[EventTypeName], Field(max_length=50)] = Field(
        default=[], description="Event types to receive (empty: every type)."
    )


class EndpointPatch(In):
    url: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    description: Annotated[str, Field(max_length=200)] | None = None
    event_types: Annotated[list[EventTypeName], Field(max_length=50)] | None = None
    enabled: bool | None = None


class EndpointOut(Out):
    id: str
    url: str
    description: str
    event_types: list[str]
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime


class EndpointSecretOut(EndpointOut):
    secret: str = Field(description="The whsec_ secret receivers verify signatures with.")
    previous_until: datetime | None


class AttemptOut(Out):
    id: str
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response: str
    error: str | None


class DeliveryOut(Out):
    id: str
    endpoint_id: str
    message_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    done_at: datetime | None


class DeliveryDetailOut(DeliveryOut):
    payload: dict
    attempt_log: list[AttemptOut]


class EventTypeOut(Out):
    name: str
    summary: str
