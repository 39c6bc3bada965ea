"""The job queue: Huey, with SQLite storage by default and Redis when configured.

Periodic sweeps (unpaid-order timeout, outbox delivery, reconciliation, refund retries,
uncollected pickups, commission settlement)
and one-off jobs run here. ``shoplet serve`` and ``shoplet demo`` run a consumer in
their own process so a newcomer needs one process; ``shoplet worker`` runs it alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from huey.consumer import Consumer

from shoplet import sweeps
from shoplet.config import Settings, get_settings
from shoplet.runtime import Runtime

log = logging.getLogger(__name__)


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("shoplet", url=settings.redis_url)
    return SqliteHuey("shoplet", filename=settings.resolved_jobs_path())


huey: Huey = make_huey(get_settings())
_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """The runtime jobs use: the one the server installed, or one built from the settings."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            install(Runtime(get_settings()))
        assert _runtime is not None
        return _runtime


class Coalesced:
    """Call ``fire`` at most once per ``window`` seconds, never dropping the last call: a
    call inside the window schedules one more at its end (unless one is scheduled). Commits
    that wrote outbox rows or messaged events (a rush of claims, of payments) then enqueue
    the dispatcher a few times a second, not once per request."""

    def __init__(
        self, fire: Callable[[], object], window: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.fire, self.window, self.clock = fire, window, clock
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        with self._lock:
            if self._timer is not None:
                return
            wait = self._last + self.window - self.clock()
            if wait > 0:
                self._timer = threading.Timer(wait, self._later)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = self.clock()
        self.fire()

    def _later(self) -> None:
        with self._lock:
            self._timer, self._last = None, self.clock()
        try:
            self.fire()
        except Exception:  # the periodic sweep delivers whatever a failed kick left behind
            log.exception("could not enqueue the outbox dispatch")


def install(rt: Runtime) -> None:
    """Make ``rt`` the jobs' runtime, and let its commits wake the outbox dispatcher."""
    global _runtime
    _runtime = rt
    rt.kick = Coalesced(lambda: dispatch_outbox_task())


@huey.task(retries=3, retry_delay=5)
def dispatch_outbox_task() -> int:
    return sweeps.dispatch_outbox(runtime())


@huey.periodic_task(crontab(minute="*"))
def dispatch_outbox_periodic() -> int:
    return sweeps.dispatch_outbox(runtime())


@huey.periodic_task(crontab(minute="*"))
def cancel_unpaid_orders_periodic() -> int:
    return sweeps.cancel_unpaid_orders(runtime())


@huey.periodic_task(crontab(minute="*/5"))
def reconcile_payments_periodic() -> int:
    return sweeps.reconcile_stale_payments(runtime())


@huey.periodic_task(crontab(minute="*/5"))
def retry_refunds_periodic() -> int:
    return sweeps.retry_pending_refunds(runtime())


@huey.periodic_task(crontab(minute="*/10"))
def coupon_lifecycle_periodic() -> int:
    return sweeps.coupon_lifecycle(runtime())


@huey.periodic_task(crontab(minute="*/10"))
def membership_lifecycle_periodic() -> dict:
    return sweeps.membership_lifecycle(runtime())


@huey.periodic_task(crontab(minute="*/5"))
def fulfilment_lifecycle_periodic() -> dict:
    return sweeps.fulfilment_lifecycle(runtime())


@huey.periodic_task(crontab(minute="*"))
def campaign_lifecycle_periodic() -> dict:
    return sweeps.campaign_lifecycle(runtime())


@huey.periodic_task(crontab(minute="*"))
def analytics_periodic() -> dict:
    return sweeps.analytics(runtime())


@huey.periodic_task(crontab(minute="*/5"))
def reconcile_coupon_gate_periodic() -> int:
    rt = runtime()
    if rt.coupon_gate is None:
        return 0
    from shoplet.coupons.claims import reconcile_gate

    return reconcile_gate(rt.db, rt.coupon_gate)


class EmbeddedConsumer(Consumer):
    """A consumer that runs beside the web server: it leaves signal handling to uvicorn."""

    def _set_signal_handlers(self) -> None:
        pass


def start_embedded_consumer(workers: int = 2) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(huey, workers=workers, worker_type="thread", periodic=True)
    consumer.start()
    return consumer
