"""Webhook endpoints (URL, event types, secret), their deliveries and attempts, replay and
ping. The event catalogue, with each body's schema, is the API document's ``webhooks``."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from shoplet.auth import AsAdmin, Db, Now, Rt
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, owned, scoped
from shoplet.threads import OneHop
from shoplet.webhooks import service
from shoplet.webhooks.catalogue import CATALOGUE, PING
from shoplet.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage
from shoplet.webhooks.schemas import (
    AttemptOut,
    DeliveryDetailOut,
    DeliveryOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointSecretOut,
    EventTypeOut,
)

router = APIRouter(route_class=OneHop, prefix="/webhooks", tags=["webhooks"])


def _secret_out(endpoint: WebhookEndpoint) -> EndpointSecretOut:
    return EndpointSecretOut.model_validate(endpoint)


@router.get("/event-types", response_model=list[EventTypeOut])
def event_types(p: AsAdmin) -> list[EventTypeOut]:
    """The events an endpoint can subscribe to (their bodies: the API document's webhooks)."""
    return [EventTypeOut(name=t.name, summary=t.summary) for t in CATALOGUE.values() if t.name != PING]


@router.post("/endpoints", response_model=EndpointSecretOut, status_code=201)
def create_endpoint(p: AsAdmin, db: Db, rt: Rt, now: Now, body: EndpointIn) -> EndpointSecretOut:
    """Add an endpoint; the answer carries its ``whsec_`` secret. Loopback, private and
    link-local targets are refused unless the installation allows them."""
    with db.unit_of_work() as s:
        endpoint = service.create_endpoint(
            s,
            merchant_id=p.tenant,
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            allow_private=rt.settings.webhooks_allow_private,
            now=now,
        )
        return _secret_out(endpoint)


@router.get("/endpoints", response_model=list[EndpointOut])
def list_endpoints(p: AsAdmin, db: Db) -> list[EndpointOut]:
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(scoped(WebhookEndpoint, p.tenant).order_by(WebhookEndpoint.id))
        return [EndpointOut.model_validate(e) for e in rows]


@router.get("/endpoints/{endpoint_id}", response_model=EndpointSecretOut)
def get_endpoint(p: AsAdmin, db: Db, endpoint_id: str) -> EndpointSecretOut:
    with db.unit_of_work(write=False) as s:
        return _secret_out(service.get_endpoint(s, p.tenant, endpoint_id))


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
def update_endpoint(
    p: AsAdmin, db: Db, rt: Rt, now: Now, endpoint_id: str, body: EndpointPatch
) -> EndpointOut:
    """Change the URL, description or event types; enable or disable it."""
    with db.unit_of_work() as s:
        endpoint = service.update_endpoint(
            s,
            service.get_endpoint(s, p.tenant, endpoint_id),
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            enabled=body.enabled,
            allow_private=rt.settings.webhooks_allow_private,
            now=now,
        )
        return EndpointOut.model_validate(endpoint)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointSecretOut)
def rotate_secret(p: AsAdmin, db: Db, now: Now, endpoint_id: str) -> EndpointSecretOut:
    """A new secret; for a day messages carry a second signature under the previous one."""
    with db.unit_of_work() as s:
        return _secret_out(service.rotate_secret(s, service.get_endpoint(s, p.tenant, endpoint_id), now=now))


@router.post("/endpoints/{endpoint_id}/ping", response_model=DeliveryOut, status_code=202)
def ping(p: AsAdmin, db: Db, now: Now, endpoint_id: str) -> DeliveryOut:
    """Send a ``webhook.ping`` message to this endpoint now."""
    with db.unit_of_work() as s:
        delivery = service.ping(s, service.get_endpoint(s, p.tenant, endpoint_id), now=now)
        return DeliveryOut.model_validate(delivery)


@router.get("/endpoints/{endpoint_id}/deliveries", response_model=Page[DeliveryOut])
def endpoint_deliveries(
    p: AsAdmin,
    db: Db,
    page: PageQuery,
    endpoint_id: str,
    status: str | None = Query(None, pattern="^(pending|succeeded|failed)$"),
) -> Page[DeliveryOut]:
    """The endpoint's deliveries, oldest first."""
    with db.unit_of_work(write=False) as s:
        service.get_endpoint(s, p.tenant, endpoint_id)
        stmt = scoped(WebhookDelivery, p.tenant).where(WebhookDelivery.endpoint_id == endpoint_id)
        if status:
            stmt = stmt.where(WebhookDelivery.status == status)
        rows, cursor = paginate(s, stmt, WebhookDelivery.id, page)
        return Page(items=[DeliveryOut.model_validate(d) for d in rows], next_cursor=cursor)


def _detail(s, delivery: WebhookDelivery) -> DeliveryDetailOut:
    message = s.get_one(WebhookMessage, (delivery.merchant_id, delivery.message_id))
    attempts = s.scalars(
        select(WebhookAttempt)
        .where(owned(WebhookAttempt, delivery.merchant_id), WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.id)
    )
    return DeliveryDetailOut(
        **DeliveryOut.model_validate(delivery).model_dump(),
        payload=message.payload,
        attempt_log=[AttemptOut.model_validate(a) for a in attempts],
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailOut)
def get_delivery(p: AsAdmin, db: Db, delivery_id: str) -> DeliveryDetailOut:
    """A delivery with what was sent and every attempt (status, duration, response excerpt)."""
    with db.unit_of_work(write=False) as s:
        return _detail(s, get_owned(s, WebhookDelivery, p.tenant, delivery_id, what="Webhook delivery"))


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryDetailOut, status_code=202)
def replay(p: AsAdmin, db: Db, now: Now, delivery_id: str) -> DeliveryDetailOut:
    """Send a finished delivery again (same message id: receivers deduplicate on it)."""
    with db.unit_of_work() as s:
        delivery = service.replay(
            s, get_owned(s, WebhookDelivery, p.tenant, delivery_id, what="Webhook delivery"), now=now
        )
        return _detail(s, delivery)
