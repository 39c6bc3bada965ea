"""The event types a webhook endpoint can subscribe to, and the body each one sends.

Every body is ``{"type": ..., "timestamp": ..., "data": {...}}`` (the Standard Webhooks
shape); ``data`` is built from the business event the type comes from (``shoplet.events``),
so what a merchant's system hears is exactly what the figures count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, create_model

from shoplet.events import EventKind

PING = "webhook.ping"


@dataclass(frozen=True)
class EventType:
    name: str
    kind: str | None  # the business event it comes from (None: sent by Shoplet itself)
    summary: str
    subject: str  # what ``subject_id`` is called in ``data``
    ref: str | None  # what ``ref`` is called (None: not sent)
    amount: str | None  # what ``amount`` means (None: not sent)
    benefit: str | None = None


CATALOGUE: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("order.paid", EventKind.ORDER_PAID, "An order was paid.", "order_id", None,
                  "paid, in fen", "the discount, in fen"),
        EventType("order.cancelled", EventKind.ORDER_CANCELLED, "An unpaid order was cancelled.",
                  "order_id", "reason", "the order's total, in fen"),
        EventType("order.refunded", EventKind.REFUND, "Money of a paid order is being returned.",
                  "refund_id", "order_id", "refunded, in fen"),
        EventType("coupon.claimed", EventKind.COUPON_CLAIMED, "A customer claimed a coupon.",
                  "coupon_id", "template_id", None),
        EventType("coupon.verified", EventKind.COUPON_VERIFIED, "A clerk verified a coupon at the till.",
                  "coupon_id", "template_id", None),
        EventType("coupon.used", EventKind.COUPON_USED, "A coupon was used on a paid order.",
                  "coupon_id", "template_id", None),
        EventType("pickup.verified", EventKind.PICKUP_VERIFIED, "A pickup was collected with its code.",
                  "fulfilment_id", "mode", None),
        EventType("delivery.handed_over", EventKind.DELIVERY_HANDED_OVER,
                  "A delivery left the store or a parcel was shipped.", "fulfilment_id", "mode", None),
        EventType("light_membership.joined", EventKind.LIGHT_JOINED, "A customer joined a light membership.",
                  "membership_id", "plan_id", "the period's fee, in fen"),
        EventType("light_membership.settled", EventKind.LIGHT_SETTLED,
                  "A light membership's period was settled: charged min(fee, enjoyed).",
                  "membership_id", "outcome", "charged, in fen", "benefits enjoyed in the period, in fen"),
        EventType("light_membership.overdue", EventKind.LIGHT_OVERDUE,
                  "A light membership's deduction failed: the amount is owed.",
                  "membership_id", "outcome", "owed, in fen", "benefits enjoyed in the period, in fen"),
        EventType("tier.reached", EventKind.TIER_REACHED, "A member's tier changed.", "change_id", "tier", None),
        EventType("group.succeeded", EventKind.GROUP_SUCCEEDED,
                  "A buying group filled (one message per member's order); its orders go on to fulfilment.",
                  "group_id", "order_id", "the member paid, in fen"),
        EventType("group.failed", EventKind.GROUP_FAILED,
                  "A buying group timed out (one message per member's order); the order is refunded in full.",
                  "group_id", "order_id", "refunded, in fen"),
        EventType("plan.delivered", EventKind.PLAN_DELIVERED,
                  "A periodic plan's delivery order was made for the period.", "order_id", "plan_id",
                  "the period number"),
        EventType(PING, None, "A test message sent from the console or the API.", "endpoint_id", None, None),
    )
}  # fmt: skip

BY_KIND: dict[str, EventType] = {t.kind: t for t in CATALOGUE.values() if t.kind is not None}


def data_of(event_type: EventType, row: Any) -> dict[str, Any]:
    """The ``data`` of a business event's row (an ``events.Event``)."""
    data: dict[str, Any] = {event_type.subject: row.subject_id}
    if event_type.ref:
        data[event_type.ref] = row.ref
    if event_type.amount:
        data["amount"] = row.amount
    if event_type.benefit:
        data["benefit"] = row.benefit
    data.update(
        customer_id=row.customer_id,
        host_app=row.host_app,
        store_id=row.store_id,
        guide_id=row.guide_id,
        occurred_at=_iso(row.occurred_at),
    )
    return data


def body_of(event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"type": event_type, "timestamp": _iso(at), "data": data}


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def models() -> dict[str, type[BaseModel]]:
    """A pydantic model of each type's body, for the OpenAPI document's ``webhooks``."""
    out: dict[str, type[BaseModel]] = {}
    for t in CATALOGUE.values():
        fields: dict[str, Any] = {t.subject: (str, Field(description=f"The {t.subject.replace('_', ' ')}."))}
        if t.ref:
            fields[t.ref] = (str | None, Field(default=None))
        if t.amount:
            fields["amount"] = (int, Field(description=t.amount))
        if t.benefit:
            fields["benefit"] = (int, Field(description=t.benefit))
        if t.kind is not None:
            for name in ("customer_id", "host_app", "store_id", "guide_id"):
                fields[name] = (str | None, Field(default=None))
            fields["occurred_at"] = (str, Field(description="When it happened (RFC 3339, UTC)."))
        else:
            fields["message"] = (str, Field(description="A greeting: the endpoint is reachable."))
        stem = "".join(part.capitalize() for part in t.name.replace(".", "_").split("_"))
        data_model = create_model(f"{stem}Data", **fields)
        out[t.name] = create_model(
            f"{stem}Webhook",
            __doc__=t.summary,
            type=(str, Field(description=f'Always "{t.name}".', examples=[t.name])),
            timestamp=(str, Field(description="When the message was created (RFC 3339, UTC).")),
            data=(data_model, ...),
        )
    return out
