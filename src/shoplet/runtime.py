"""Everything a request or a job needs, built once from the settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import httpx

import shoplet.campaigns.hooks  # noqa: F401  (registers the campaigns' order hooks)
from shoplet.analytics.clickhouse import CONSUMER as CLICKHOUSE
from shoplet.analytics.clickhouse import Warehouse
from shoplet.analytics.rollups import CONSUMER as ROLLUP
from shoplet.auth import API_KEY_PREFIX, SESSION_PREFIX, Verifier
from shoplet.campaigns.flash import FlashGate
from shoplet.config import Settings
from shoplet.coupons.gate import RedisGate
from shoplet.customers.credentials import verify_session
from shoplet.customers.hosts import HostApp, SandboxHostApp
from shoplet.customers.models import HOST_APPS
from shoplet.db import Clock, Database, utcnow
from shoplet.membership.agreements import AgreementProvider, CreditProvider, SandboxCreditScorer
from shoplet.messaging.delivery import Messenger, SandboxMessenger
from shoplet.orders.pricing import CartPricer, EnginePricer
from shoplet.payments.provider import PaymentProvider
from shoplet.payments.sandbox import SandboxProvider
from shoplet.tenancy.credentials import verify_api_key
from shoplet.webhooks.service import Send, http_send

log = logging.getLogger(__name__)

# (url, body, headers) -> HTTP status. Tests swap in one that calls the ASGI app.
HttpPost = Callable[[str, bytes, dict[str, str]], int]


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    return response.status_code


class Runtime:
    """Settings, database, clock, providers and hooks, shared by the API and the jobs."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        db: Database | None = None,
        post: HttpPost = http_post,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.db = db or Database(settings.database_url, settings.database_pool_size)
        self.post = post
        self.pricer: CartPricer = EnginePricer()
        self.providers: dict[str, PaymentProvider] = {}
        self.sandbox: SandboxProvider | None = None
        self.hosts: dict[str, HostApp] = {}
        # Where messages to a host app's users go (SandboxMessenger: the sandbox inbox).
        self.messengers: dict[str, Messenger] = {}
        # How webhooks are sent (tests swap in one that calls an in-process receiver).
        self.webhook_client = httpx.Client(follow_redirects=False)
        self.send_webhook: Send = http_send(self.webhook_client)
        self.credit: CreditProvider = SandboxCreditScorer()
        self.agreements: AgreementProvider | None = None
        if settings.sandbox_payments:  # the sandbox wallet and the sandbox sign-in of every host app
            self.sandbox = SandboxProvider(
                self.db,
                secret=settings.sandbox_secret,
                clock=clock,
                agreement_failure_rate=settings.sandbox_agreement_failure_rate,
            )
            self.providers["sandbox"] = self.sandbox
            self.agreements = self.sandbox
            sandbox_host = SandboxHostApp()
            self.hosts = {name: sandbox_host for name in HOST_APPS}
            sandbox_messenger = SandboxMessenger(self.db)
            self.messengers = {name: sandbox_messenger for name in HOST_APPS}
        # Who a bearer token names, by its prefix (see shoplet.auth.authenticate).
        self.verifiers: dict[str, Verifier] = {API_KEY_PREFIX: verify_api_key, SESSION_PREFIX: verify_session}
        self.coupon_gate = RedisGate(settings.redis_url) if settings.redis_url else None
        self.flash_gate = FlashGate(settings.redis_url) if settings.redis_url else None
        # Figures from ClickHouse when configured; events are then queued for its copier too.
        self.warehouse: Warehouse | None = None
        if settings.clickhouse_url:
            self.warehouse = Warehouse.from_url(settings.clickhouse_url)
            self.warehouse.create()
            self.db.event_consumers = (ROLLUP, CLICKHOUSE)
        # Called after a commit that wrote outbox events; the job queue sets it.
        self.kick: Callable[[], None] = lambda: None
        self.db.after_outbox_commit = self.after_commit

    @property
    def unpaid_timeout(self) -> timedelta:
        return timedelta(minutes=self.settings.unpaid_order_timeout_minutes)

    def notify_url(self, provider: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/api/v1/payments/notify/{provider}"

    def after_commit(self) -> None:
        try:
            self.kick()
        except Exception:  # the periodic sweep delivers whatever a failed kick left behind
            log.exception("could not enqueue the outbox dispatch")
