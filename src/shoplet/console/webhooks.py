"""Webhook endpoints in the console (admin): adding one (its secret shown), an endpoint's
deliveries with their attempts, replay, ping, secret rotation, enabling and disabling (the
same service calls as ``/webhooks``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from shoplet.console.web import PageError, attempt, check_csrf, redirect, render, require
from shoplet.errors import ShopletError
from shoplet.scoping import owned
from shoplet.threads import OneHop
from shoplet.webhooks import service as webhooks
from shoplet.webhooks.catalogue import CATALOGUE, PING
from shoplet.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

router = APIRouter(route_class=OneHop, prefix="/console")

ACTIONS = ("ping", "rotate", "enable", "disable")


def _list(request: Request, viewer: Any, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        endpoints = list(
            s.scalars(
                select(WebhookEndpoint)
                .where(owned(WebhookEndpoint, viewer.tenant))
                .order_by(WebhookEndpoint.id)
            )
        )
    extra.setdefault("form", {})
    extra.setdefault("error", "")
    types = [t for t in CATALOGUE.values() if t.name != PING]
    return render(request, viewer, "webhooks.html", status=status, endpoints=endpoints, types=types, **extra)


@router.get("/webhooks")
def webhook_list(request: Request) -> Response:
    return _list(request, require(request, "webhooks"))


@router.post("/webhooks")
async def webhook_create(request: Request) -> Response:
    viewer = require(request, "webhooks")
    form = await check_csrf(request, viewer)
    chosen = [t for t in (await request.form()).getlist("event_types") if isinstance(t, str)]
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            endpoint = webhooks.create_endpoint(
                s,
                merchant_id=viewer.tenant,
                url=form.get("url", "").strip(),
                description=form.get("description", "").strip()[:200],
                event_types=chosen,
                allow_private=rt.settings.webhooks_allow_private,
                now=rt.clock(),
            )
    except ShopletError as error:
        return _list(request, viewer, status=error.status, form=form, error=error.detail)
    return redirect(f"/console/webhooks/{endpoint.id}?created=1", request)


@router.get("/webhooks/deliveries/{delivery_id}")
def delivery_page(request: Request, delivery_id: str) -> Response:
    viewer = require(request, "webhooks")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        delivery = s.get(WebhookDelivery, (viewer.tenant, delivery_id))
        if delivery is None:
            raise PageError(404, "No such webhook delivery.")
        message = s.get_one(WebhookMessage, (viewer.tenant, delivery.message_id))
        attempts = list(
            s.scalars(
                select(WebhookAttempt)
                .where(owned(WebhookAttempt, viewer.tenant), WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.id)
            )
        )
    return render(
        request, viewer, "webhook_delivery.html", delivery=delivery, message=message, attempts=attempts
    )


@router.get("/webhooks/{endpoint_id}")
def webhook_page(request: Request, endpoint_id: str, created: str = "", done: str = "") -> Response:
    viewer = require(request, "webhooks")
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        endpoint = s.get(WebhookEndpoint, (viewer.tenant, endpoint_id))
        if endpoint is None:
            raise PageError(404, "No such webhook endpoint.")
        deliveries = list(
            s.scalars(
                select(WebhookDelivery)
                .where(owned(WebhookDelivery, viewer.tenant), WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(50)
            )
        )
    return render(
        request,
        viewer,
        "webhook.html",
        endpoint=endpoint,
        deliveries=deliveries,
        created=bool(created),
        done=done if done in (*ACTIONS, "replay") else "",
    )


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def delivery_replay(request: Request, delivery_id: str) -> Response:
    viewer = require(request, "webhooks")
    await check_csrf(request, viewer)
    endpoint_id = ""

    def work(s: Any, now: datetime) -> None:
        nonlocal endpoint_id
        delivery = s.get(WebhookDelivery, (viewer.tenant, delivery_id))
        if delivery is None:
            raise PageError(404, "No such webhook delivery.")
        endpoint_id = delivery.endpoint_id
        webhooks.replay(s, delivery, now=now)

    refused = attempt(request, work)
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect(f"/console/webhooks/{endpoint_id}?done=replay", request)


@router.post("/webhooks/{endpoint_id}/{action}")
async def webhook_action(request: Request, endpoint_id: str, action: str) -> Response:
    viewer = require(request, "webhooks")
    await check_csrf(request, viewer)
    if action not in ACTIONS:
        raise PageError(404, "Page not found")
    rt = request.app.state.runtime

    def work(s: Any, now: datetime) -> None:
        endpoint = webhooks.get_endpoint(s, viewer.tenant, endpoint_id)
        if action == "ping":
            webhooks.ping(s, endpoint, now=now)
        elif action == "rotate":
            webhooks.rotate_secret(s, endpoint, now=now)
        else:
            webhooks.update_endpoint(
                s, endpoint, url=None, description=None, event_types=None, enabled=action == "enable",
                allow_private=rt.settings.webhooks_allow_private, now=now,
            )  # fmt: skip

    refused = attempt(request, work)
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect(f"/console/webhooks/{endpoint_id}?done={action}", request)
