"""Push and webhook benchmark (issue 15).

Per backend (SQLite; PostgreSQL when SHOPLET_TEST_DATABASE_URL is set): N followers (full
100,000; --quick 10,000) of one merchant, each reachable in the sandbox host app; four
pushes to all of them started at the same moment in four threads, then a fifth; the
batches handed to the host app by two outbox dispatchers. Read back from the database:

- deliveries: push items in the sandbox inbox;
- over_cap: followers holding more than 3 pushes of the week (target 0);
- deliveries_per_s: deliveries over the wall time of the five pushes (running and handing over);
- bulk_insert_rows_per_s: the baseline, a bare bulk insert of as many inbox rows into the
  same database in the same run (target: deliveries_per_s at least a third of it).

Then webhook fan-out: E business events (full 10,000; --quick 2,000) to an endpoint served
by a real HTTP receiver on loopback that fails 20 % of first attempts with a 500 and applies
each ``webhook-id`` once; retries run as their schedule comes due (the clock is moved).
``webhooks_lost`` counts events never applied, ``webhooks_duplicated_effects`` effects applied
twice (both target 0); ``webhook_redeliveries`` how many requests the receiver saw again.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import delete, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from harness import fresh_postgres  # noqa: E402
from shoplet import events, outbox, sweeps  # noqa: E402
from shoplet.config import Settings  # noqa: E402
from shoplet.customers.models import Customer, CustomerIdentity, Follower  # noqa: E402
from shoplet.db import Database, bulk_insert  # noqa: E402
from shoplet.events import EventKind, Fact  # noqa: E402
from shoplet.messaging import pushes  # noqa: E402
from shoplet.messaging.models import Push, SandboxInboxItem  # noqa: E402
from shoplet.migrate import upgrade  # noqa: E402
from shoplet.runtime import Runtime  # noqa: E402
from shoplet.scoping import owned  # noqa: E402
from shoplet.tenancy.models import Merchant  # noqa: E402
from shoplet.webhooks import service as webhooks  # noqa: E402
from shoplet.webhooks.models import WebhookDelivery  # noqa: E402

MERCHANT = "mer_pushbench"


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def seed(db: Database, n: int, now: datetime) -> None:
    with db.unit_of_work() as s:
        conn = s.connection()
        bulk_insert(conn, Merchant.__table__, [{"id": MERCHANT, "name": "Push bench", "timezone": "Asia/Shanghai",
                                               "status": "active", "created_at": now}])  # fmt: skip
        for start in range(0, n, 5000):
            ids = [f"cus_{i:08d}" for i in range(start, min(n, start + 5000))]
            bulk_insert(conn, Customer.__table__, [
                {"merchant_id": MERCHANT, "id": c, "name": None, "phone": None, "tags": [], "birthday": None,
                 "created_at": now} for c in ids])  # fmt: skip
            bulk_insert(conn, CustomerIdentity.__table__, [
                {"merchant_id": MERCHANT, "host_app": "alipay", "host_user_id": f"u{c}", "customer_id": c,
                 "created_at": now} for c in ids])  # fmt: skip
            bulk_insert(conn, Follower.__table__, [
                {"merchant_id": MERCHANT, "customer_id": c, "host_app": "alipay", "followed_at": now,
                 "unfollowed_at": None, "push_week": None, "pushes_this_week": 0} for c in ids])  # fmt: skip


def drain(rt: Runtime, threads: int = 2) -> None:
    """Hand every pending batch to the host app (two dispatchers, as `shoplet serve` runs)."""
    handlers = sweeps.outbox_handlers(rt)

    def work() -> None:
        while outbox.dispatch(rt.db, handlers, now=rt.clock(), limit=20):
            pass

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def run_pushes(rt: Runtime, count: int, now: datetime) -> None:
    ids = []
    with rt.db.unit_of_work() as s:
        for i in range(count):
            push = pushes.create_push(
                s, merchant_id=MERCHANT, title=f"Push {i}", body="本周新品", post_id=None, link_kind="none",
                link_target=None, segment={"kind": "all"}, send_at=None, created_by=None,
                push_id=f"push_bench{now:%H%M%S}{i}", now=now,
            )  # fmt: skip
            ids.append(push.id)
    barrier = threading.Barrier(count)

    def one(push_id: str) -> None:
        barrier.wait()
        assert pushes.start(rt.db, merchant_id=MERCHANT, push_id=push_id, now=now)
        pushes.run(rt.db, merchant_id=MERCHANT, push_id=push_id, now=now)

    pool = [threading.Thread(target=one, args=(i,)) for i in ids]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    drain(rt)


def bulk_baseline(db: Database, rows: int, now: datetime) -> float:
    started = time.perf_counter()
    for start in range(0, rows, 1000):
        with db.unit_of_work() as s:
            bulk_insert(s.connection(), SandboxInboxItem.__table__, [
                {"merchant_id": "mer_baseline", "host_app": "alipay", "host_user_id": f"ucus_{i:08d}",
                 "message_id": f"base.{i}", "kind": "push", "title": "Push", "body": "本周新品", "link": None,
                 "received_at": now} for i in range(start, min(rows, start + 1000))])  # fmt: skip
    elapsed = time.perf_counter() - started
    with db.unit_of_work() as s:
        s.execute(delete(SandboxInboxItem).where(owned(SandboxInboxItem, "mer_baseline")))
    return rows / elapsed


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.applied: dict[str, int] = {}
        self.requests = 0
        self.rng = random.Random(7)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        server: Receiver = self.server  # type: ignore[assignment]
        self.rfile.read(int(self.headers.get("content-length", 0)))
        msg_id = self.headers["webhook-id"]
        with server.lock:
            server.requests += 1
            first = msg_id not in server.seen
            server.seen.add(msg_id)
            fail = first and server.rng.random() < 0.2
            if not fail:  # the effect, applied once per webhook-id
                if msg_id not in server.applied:
                    server.applied[msg_id] = 1
        self.send_response(500 if fail else 200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def webhook_fanout(rt: Runtime, clock: Clock, n: int) -> dict:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with rt.db.unit_of_work() as s:
        webhooks.create_endpoint(
            s, merchant_id=MERCHANT, url=f"http://127.0.0.1:{receiver.server_address[1]}/hook", description="bench",
            event_types=["order.paid"], allow_private=True, now=clock(),
        )  # fmt: skip
    for start in range(0, n, 1000):
        with rt.db.unit_of_work() as s:
            facts = [
                Fact(kind=EventKind.ORDER_PAID, occurred_at=clock(), customer_id=f"cus_{i:08d}",
                     subject_id=f"ord_bench{i:08d}", amount=1000)
                for i in range(start, min(n, start + 1000))
            ]  # fmt: skip
            events.record_many(s, MERCHANT, facts)
    started = time.perf_counter()
    sweeps.dispatch_outbox(rt)
    for _ in range(5):  # retries as their schedule comes due
        clock.now += timedelta(seconds=10)
        sweeps.deliver_webhooks(rt, max_batches=1000)
    elapsed = time.perf_counter() - started
    with rt.db.unit_of_work(write=False) as s:
        pending = s.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status != "succeeded")
        )
    receiver.shutdown()
    applied = receiver.applied
    return {
        "webhook_events": n,
        "webhooks_lost": n - len(applied),
        "webhooks_duplicated_effects": sum(1 for v in applied.values() if v > 1),
        "webhook_redeliveries": receiver.requests - len(receiver.seen),
        "webhooks_not_succeeded": pending,
        "webhooks_per_s": round(receiver.requests / elapsed, 1),
    }


def bench(backend: str, url: str, n: int, hooks: int) -> dict:
    if backend == "postgresql":
        fresh_postgres(url)
    upgrade(url)
    start = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # a Monday morning in Shanghai
    clock = Clock(start)
    settings = Settings(database_url=url, sandbox_payments=True, webhooks_allow_private=True)
    rt = Runtime(settings, clock=clock)
    seed(rt.db, n, start)
    if backend == "postgresql":  # the statistics autovacuum would have by now
        with rt.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    # As `shoplet serve` and `shoplet worker` do once started: what is built so far lives as
    # long as the process, and full collections would walk it again and again.
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    run_pushes(rt, 4, start)
    clock.now = start + timedelta(minutes=5)
    run_pushes(rt, 1, clock.now)
    elapsed = time.perf_counter() - began
    with rt.db.unit_of_work(write=False) as s:
        deliveries = s.scalar(
            select(func.count()).select_from(SandboxInboxItem).where(SandboxInboxItem.kind == "push")
        )
        per_user = (
            select(SandboxInboxItem.host_user_id, func.count().label("n"))
            .where(SandboxInboxItem.kind == "push")
            .group_by(SandboxInboxItem.host_user_id)
            .subquery()
        )
        over_cap = s.scalar(select(func.count()).select_from(per_user).where(per_user.c.n > 3))
        over_counter = s.scalar(
            select(func.count()).select_from(Follower).where(Follower.pushes_this_week > 3)
        )
        reports = [pushes.report(s, p) for p in s.scalars(select(Push).order_by(Push.created_at, Push.id))]
    baseline = bulk_baseline(rt.db, deliveries or 1, start)
    result = {
        "backend": backend,
        "followers": n,
        "deliveries": deliveries,
        "over_cap": over_cap + over_counter,
        "skipped_over_cap": sum(r["skipped_over_cap"] for r in reports),
        "deliveries_per_s": round(deliveries / elapsed, 1),
        "bulk_insert_rows_per_s": round(baseline, 1),
        "ratio": round(deliveries / elapsed / baseline, 3),
        **webhook_fanout(rt, clock, hooks),
    }
    rt.db.dispose()
    gc.unfreeze()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 followers, 2,000 webhook events")
    args = parser.parse_args()
    n, hooks = (10_000, 2_000) if args.quick else (100_000, 10_000)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench("sqlite", f"sqlite:///{tmp}/pushes.db", n, hooks))
        print(json.dumps(results[-1]), flush=True)
        pg = os.environ.get("SHOPLET_TEST_DATABASE_URL")
        if pg:
            results.append(bench("postgresql", pg, n, hooks))
            print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
