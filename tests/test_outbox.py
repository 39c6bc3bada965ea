"""The outbox: delivery is kicked by the unit of work, and handlers fail terminally or retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from shoplet import outbox
from shoplet.outbox import OutboxEvent, Terminal

from .helpers import ok


@pytest.fixture
def kicks(runtime) -> list[int]:
    seen: list[int] = []
    runtime.kick = lambda: seen.append(1)
    return seen


def test_a_commit_that_writes_outbox_rows_kicks_delivery_without_being_asked(shop, client, kicks):
    order = shop.order({"LATTE-T": 1})
    kicks.clear()
    ok(client.get(f"/api/v1/orders/{order['id']}", headers=shop.admin))  # reads write nothing
    assert kicks == []
    shop.pay(order["id"], deliver=False)  # the sandbox notification is an outbox row
    assert len(kicks) >= 1


def test_a_rolled_back_transaction_kicks_nothing(runtime, shop, kicks):
    kicks.clear()
    with pytest.raises(RuntimeError), runtime.db.unit_of_work() as session:
        outbox.emit(
            session, merchant_id=shop.merchant_id, topic="test.never", payload={}, now=runtime.clock()
        )
        raise RuntimeError("the change failed")
    assert kicks == []
    with runtime.db.unit_of_work() as session:
        outbox.emit(session, merchant_id=shop.merchant_id, topic="test.once", payload={}, now=runtime.clock())
    assert kicks == [1]


def _event(runtime, merchant_id: str, topic: str) -> str:
    with runtime.db.unit_of_work() as session:
        return outbox.emit(
            session, merchant_id=merchant_id, topic=topic, payload={"n": 1}, now=runtime.clock()
        ).id


def _state(runtime, merchant_id: str, event_id: str) -> OutboxEvent:
    with runtime.db.unit_of_work(write=False) as session:
        return session.scalars(
            select(OutboxEvent).where(OutboxEvent.merchant_id == merchant_id, OutboxEvent.id == event_id)
        ).one()


def test_a_terminal_failure_is_dead_lettered_at_once_with_its_reason(runtime, shop):
    def gone(payload: dict) -> None:
        raise Terminal("the customer was erased")

    event_id = _event(runtime, shop.merchant_id, "test.terminal")
    assert outbox.dispatch(runtime.db, {"test.terminal": gone}, now=runtime.clock()) == 0
    event = _state(runtime, shop.merchant_id, event_id)
    assert (event.status, event.attempts) == ("dead", 1)
    assert event.last_error == "terminal: the customer was erased"


def test_a_retryable_failure_backs_off_then_succeeds(runtime, shop):
    calls: list[int] = []

    def flaky(payload: dict) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("host app unreachable")

    event_id = _event(runtime, shop.merchant_id, "test.flaky")
    now = runtime.clock()
    assert outbox.dispatch(runtime.db, {"test.flaky": flaky}, now=now) == 0
    event = _state(runtime, shop.merchant_id, event_id)
    assert (event.status, event.attempts) == ("pending", 1)
    assert event.last_error == "ConnectionError: host app unreachable"
    assert outbox.dispatch(runtime.db, {"test.flaky": flaky}, now=now) == 0  # not due yet: backoff
    assert outbox.dispatch(runtime.db, {"test.flaky": flaky}, now=now + timedelta(seconds=6)) == 1
    assert _state(runtime, shop.merchant_id, event_id).status == "done"
