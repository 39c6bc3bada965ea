"""Webhook endpoints and deliveries, signed as the Standard Webhooks specification says.

Headers: ``webhook-id`` (the message id: the same on every retry, so receivers deduplicate
on it), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the endpoint's ``whsec_`` secret
(base64 after the prefix), space-separated with the previous secret's during a rotation.

Retries only after a timeout or refused connection, a 5xx, a 408 or a 429, on the schedule
immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (each ±20 %), or later when the
receiver's ``Retry-After`` asks; any other 4xx (and a 3xx) fails at once, a 410 also
disables the endpoint, and an endpoint that has failed for five days is disabled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Integer, bindparam, select, update
from sqlalchemy.orm import Session

from shoplet.db import OUTBOX_WRITTEN, Database, changed, insert_new, new_id
from shoplet.errors import Conflict, InvalidInput
from shoplet.scoping import get_owned, owned, scoped
from shoplet.webhooks.catalogue import BY_KIND, CATALOGUE, PING, body_of, data_of
from shoplet.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

log = logging.getLogger(__name__)

SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
"""Seconds before each attempt after the previous one failed (the first is immediate)."""
JITTER = 0.2
DISABLE_AFTER = timedelta(days=5)
"""An endpoint that has failed without a success for this long is disabled."""
ROTATION_OVERLAP = timedelta(hours=24)
"""After a rotation the previous secret also signs for this long."""
MAX_RETRY_AFTER = 10 * 3600
TIMEOUT_SECONDS = 15.0
EXCERPT = 500


@dataclass(frozen=True)
class Reply:
    """What a receiver answered: ``status`` None when it timed out or could not be reached."""

    status: int | None
    headers: dict[str, str]
    text: str
    error: str | None = None


Send = Callable[[str, bytes, dict[str, str]], Reply]
"""(url, body, headers) → the receiver's reply (never raises)."""

Resolve = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers_for(
    endpoint: WebhookEndpoint, msg_id: str, timestamp: int, body: bytes, now: datetime
) -> dict[str, str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
        keys.append(endpoint.previous_secret)
    return {
        "content-type": "application/json",
        "user-agent": "Shoplet-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
    }


# -- endpoints ---------------------------------------------------------------------------


def check_url(url: str, *, allow_private: bool, resolve: Resolve = _resolve) -> str:
    """The URL if webhooks may go there: http(s), a host, and (unless private targets are
    allowed) no loopback, private, link-local or otherwise internal address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidInput(
            "webhook.url_invalid", "The URL must be http:// or https:// with a host name.", parameter="url"
        )
    try:
        _ = parts.port
    except ValueError as exc:
        raise InvalidInput("webhook.url_invalid", "The URL's port is not a number.", parameter="url") from exc
    if allow_private:
        return url
    try:
        addresses = resolve(parts.hostname)
    except OSError as exc:
        raise InvalidInput(
            "webhook.url_unresolvable", "The URL's host name does not resolve.", parameter="url"
        ) from exc
    if not addresses or any(_internal(a) for a in addresses):
        raise InvalidInput(
            "webhook.url_private",
            "The URL leads to a loopback, private or link-local address; webhooks go to public addresses.",
            parameter="url",
        )
    return url


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_types(event_types: Iterable[str]) -> list[str]:
    chosen = sorted(set(event_types))
    unknown = [t for t in chosen if t not in CATALOGUE or t == PING]
    if unknown:
        raise InvalidInput(
            "webhook.event_type_unknown",
            f"No such event type: {', '.join(unknown)}. The catalogue is in the API document's webhooks.",
            parameter="event_types",
        )
    return chosen


def create_endpoint(
    session: Session,
    *,
    merchant_id: str,
    url: str,
    description: str,
    event_types: list[str],
    allow_private: bool,
    now: datetime,
    resolve: Resolve = _resolve,
) -> WebhookEndpoint:
    types = check_types(event_types)
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id,
        id=new_id("we"),
        url=check_url(url, allow_private=allow_private, resolve=resolve),
        description=description,
        event_types=types,
        secret=new_secret(),
        status=EndpointStatus.ENABLED,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    url: str | None,
    description: str | None,
    event_types: list[str] | None,
    enabled: bool | None,
    allow_private: bool,
    now: datetime,
    resolve: Resolve = _resolve,
) -> WebhookEndpoint:
    if url is not None:
        endpoint.url = check_url(url, allow_private=allow_private, resolve=resolve)
    if description is not None:
        endpoint.description = description
    if event_types is not None:
        endpoint.event_types = check_types(event_types)
    if enabled is True and endpoint.status != EndpointStatus.ENABLED:
        endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = EndpointStatus.ENABLED, None, None
        endpoint.failing_since = None
    elif enabled is False and endpoint.status != EndpointStatus.DISABLED:
        endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = (
            EndpointStatus.DISABLED,
            "disabled by the merchant",
            now,
        )
    session.flush()
    return endpoint


def rotate_secret(session: Session, endpoint: WebhookEndpoint, *, now: datetime) -> WebhookEndpoint:
    """A new secret; the one it replaces keeps signing (a second signature) for a day."""
    endpoint.previous_secret, endpoint.previous_until = endpoint.secret, now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    session.flush()
    return endpoint


def get_endpoint(session: Session, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
    return get_owned(session, WebhookEndpoint, merchant_id, endpoint_id, what="Webhook endpoint")


# -- messages and deliveries --------------------------------------------------------------


def _subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


def enabled_endpoints(session: Session, merchant_id: str) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            scoped(WebhookEndpoint, merchant_id).where(WebhookEndpoint.status == EndpointStatus.ENABLED)
        )
    )


def fan_out(
    session: Session,
    merchant_id: str,
    events: list[Any],
    *,
    now: datetime,
    endpoints: list[WebhookEndpoint] | None = None,
) -> int:
    """A message for each business event of the catalogue that an enabled endpoint wants,
    and a delivery to each such endpoint (an event fans out once: the message is named by
    the event). Returns how many deliveries were queued. ``endpoints``: the merchant's
    enabled endpoints when the caller has read them."""
    wanted = [(BY_KIND[e.kind], e) for e in events if e.kind in BY_KIND]
    if not wanted:
        return 0
    if endpoints is None:
        endpoints = enabled_endpoints(session, merchant_id)
    if not endpoints:
        return 0
    messages, deliveries = [], []
    for event_type, event in wanted:
        targets = [e for e in endpoints if _subscribed(e, event_type.name)]
        if not targets:
            continue
        message_id = new_id("msg")
        messages.append(
            {
                "merchant_id": merchant_id,
                "id": message_id,
                "event_type": event_type.name,
                "event_id": event.id,
                "payload": body_of(event_type.name, data_of(event_type, event), event.occurred_at),
                "created_at": now,
            }
        )
        deliveries += [
            _delivery(merchant_id, endpoint.id, message_id, event_type.name, now) for endpoint in targets
        ]
    if not messages:
        return 0
    insert_new(session, WebhookMessage, messages)
    # A message already sent for the same event (a consumer run twice) keeps its deliveries.
    kept = set(
        session.scalars(
            select(WebhookMessage.id).where(
                owned(WebhookMessage, merchant_id), WebhookMessage.id.in_([m["id"] for m in messages])
            )
        )
    )
    return insert_new(session, WebhookDelivery, [d for d in deliveries if d["message_id"] in kept])


def _delivery(
    merchant_id: str, endpoint_id: str, message_id: str, event_type: str, now: datetime
) -> dict[str, Any]:
    return {
        "merchant_id": merchant_id,
        "id": new_id("wd"),
        "endpoint_id": endpoint_id,
        "message_id": message_id,
        "event_type": event_type,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "step": 0,
        "next_attempt_at": now,
        "last_status": None,
        "last_error": None,
        "created_at": now,
        "done_at": None,
    }


def ping(session: Session, endpoint: WebhookEndpoint, *, now: datetime) -> WebhookDelivery:
    """A ``webhook.ping`` message to this endpoint alone, whatever it subscribes to."""
    if endpoint.status != EndpointStatus.ENABLED:
        raise Conflict("webhook.endpoint_disabled", "The endpoint is disabled; enable it first.")
    message = WebhookMessage(
        merchant_id=endpoint.merchant_id,
        id=new_id("msg"),
        event_type=PING,
        event_id=None,
        payload=body_of(PING, {"endpoint_id": endpoint.id, "message": "Shoplet says hello."}, now),
        created_at=now,
    )
    session.add(message)
    session.flush()
    delivery = WebhookDelivery(**_delivery(endpoint.merchant_id, endpoint.id, message.id, PING, now))
    session.add(delivery)
    session.flush()
    session.info[OUTBOX_WRITTEN] = True  # the dispatcher sends it right after commit
    return delivery


def replay(session: Session, delivery: WebhookDelivery, *, now: datetime) -> WebhookDelivery:
    """Send a delivery again from the start of the schedule (its attempts are kept)."""
    endpoint = session.get_one(WebhookEndpoint, (delivery.merchant_id, delivery.endpoint_id))
    if endpoint.status != EndpointStatus.ENABLED:
        raise Conflict("webhook.endpoint_disabled", "The endpoint is disabled; enable it first.")
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("webhook.delivery_pending", "This delivery is still being tried.")
    delivery.status, delivery.step, delivery.next_attempt_at, delivery.done_at = "pending", 0, now, None
    session.flush()
    session.info[OUTBOX_WRITTEN] = True
    return delivery


# -- sending ------------------------------------------------------------------------------

_CLAIM = (
    update(WebhookDelivery)
    .where(
        owned(WebhookDelivery, bindparam("m")),
        WebhookDelivery.id == bindparam("key"),
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.attempts == bindparam("n", type_=Integer),
    )
    .values(attempts=bindparam("n", type_=Integer) + 1, next_attempt_at=bindparam("lease"))
    .execution_options(synchronize_session=False)
)


@dataclass
class Sent:
    attempted: int = 0
    succeeded: int = 0


def deliver_due(
    db: Database,
    send: Send,
    *,
    now: datetime,
    allow_private: bool,
    limit: int = 200,
    resolve: Resolve = _resolve,
    rng: random.Random | None = None,
) -> Sent:
    """Attempt every due delivery (up to ``limit``): each is claimed by a conditional update
    (status and attempt count unchanged), so two workers never send the same attempt."""
    rng = rng or random.Random()
    with db.unit_of_work(write=False) as session:
        due = session.execute(
            select(WebhookDelivery.merchant_id, WebhookDelivery.id, WebhookDelivery.attempts)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        ).all()
    sent = Sent()
    for merchant_id, delivery_id, attempts in due:
        ok = attempt(
            db,
            send,
            merchant_id,
            delivery_id,
            attempts,
            now=now,
            allow_private=allow_private,
            resolve=resolve,
            rng=rng,
        )
        if ok is not None:
            sent.attempted += 1
            sent.succeeded += ok
    return sent


def attempt(
    db: Database,
    send: Send,
    merchant_id: str,
    delivery_id: str,
    attempts: int,
    *,
    now: datetime,
    allow_private: bool,
    resolve: Resolve = _resolve,
    rng: random.Random,
) -> bool | None:
    """One try of one delivery; None when another worker had it."""
    with db.unit_of_work() as session:
        claimed = changed(
            session.execute(
                _CLAIM,
                {"m": merchant_id, "key": delivery_id, "n": attempts, "lease": now + timedelta(minutes=5)},
            )
        )
        if not claimed:
            return None
        delivery = session.get_one(WebhookDelivery, (merchant_id, delivery_id))
        endpoint = session.get_one(WebhookEndpoint, (merchant_id, delivery.endpoint_id))
        message = session.get_one(WebhookMessage, (merchant_id, delivery.message_id))
        if endpoint.status != EndpointStatus.ENABLED:
            delivery.status, delivery.done_at, delivery.last_error = "failed", now, "the endpoint is disabled"
            return False
        url, body = (
            endpoint.url,
            json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode(),
        )
        headers = headers_for(endpoint, message.id, int(now.timestamp()), body, now)
    started = time.perf_counter()
    reply = _send_checked(send, url, body, headers, allow_private=allow_private, resolve=resolve)
    duration = int((time.perf_counter() - started) * 1000)
    return _record(db, merchant_id, delivery_id, reply, duration, now=now, rng=rng)


def _send_checked(
    send: Send, url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, resolve: Resolve
) -> Reply:
    if not allow_private:  # checked again at each send: a host name may resolve elsewhere now
        try:
            check_url(url, allow_private=False, resolve=resolve)
        except InvalidInput as exc:
            return Reply(None, {}, "", error=exc.detail)
    return send(url, body, headers)


def retryable(status: int | None) -> bool:
    return status is None or status >= 500 or status in (408, 429)


def retry_after(reply: Reply, now: datetime) -> int | None:
    value = next((v for k, v in reply.headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, min(int((when - now).total_seconds()), MAX_RETRY_AFTER))


def _record(
    db: Database,
    merchant_id: str,
    delivery_id: str,
    reply: Reply,
    duration: int,
    *,
    now: datetime,
    rng: random.Random,
) -> bool:
    ok = reply.status is not None and 200 <= reply.status < 300
    with db.unit_of_work() as session:
        delivery = session.get_one(WebhookDelivery, (merchant_id, delivery_id))
        endpoint = session.get_one(WebhookEndpoint, (merchant_id, delivery.endpoint_id), with_for_update=True)
        session.add(
            WebhookAttempt(
                merchant_id=merchant_id,
                id=new_id("wa"),
                delivery_id=delivery_id,
                endpoint_id=endpoint.id,
                attempted_at=now,
                status_code=reply.status,
                duration_ms=duration,
                response=reply.text[:EXCERPT],
                error=(reply.error or None) and reply.error[:300],
            )
        )
        delivery.last_status, delivery.last_error = reply.status, reply.error and reply.error[:300]
        if ok:
            delivery.status, delivery.done_at = "succeeded", now
            endpoint.failing_since = None
            return True
        step = delivery.step + 1
        if reply.status == 410:
            _disable(endpoint, "the receiver answered 410 Gone", now)
            delivery.status, delivery.done_at = "failed", now
        elif not retryable(reply.status) or step >= len(SCHEDULE):
            delivery.status, delivery.done_at = "failed", now
        else:
            delay = SCHEDULE[step] * (1 + rng.uniform(-JITTER, JITTER))
            asked = retry_after(reply, now) if reply.status in (429, 503) or reply.status == 408 else None
            delivery.step, delivery.next_attempt_at = step, now + timedelta(seconds=max(delay, asked or 0))
        if endpoint.failing_since is None:
            endpoint.failing_since = now
        elif now - endpoint.failing_since >= DISABLE_AFTER and endpoint.status == EndpointStatus.ENABLED:
            _disable(endpoint, f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC", now)
        return False


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = (
        EndpointStatus.DISABLED,
        reason[:200],
        now,
    )
    log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)


def http_send(client: Any) -> Send:
    """A :data:`Send` over an ``httpx.Client`` (timeouts and refused connections are replies
    without a status)."""

    def send(url: str, body: bytes, headers: dict[str, str]) -> Reply:
        try:
            response = client.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
        except httpx.TimeoutException:
            return Reply(None, {}, "", error="timed out")
        except httpx.HTTPError as exc:
            return Reply(None, {}, "", error=f"{type(exc).__name__}: {exc}"[:300])
        return Reply(response.status_code, dict(response.headers), response.text[:EXCERPT])

    return send
