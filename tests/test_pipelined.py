"""Writes queued on PostgreSQL and sent together (``shoplet.pipelined``): in order, before the
next statement and before COMMIT, checked, rolled back with the unit of work; on SQLite at
once. Every test runs on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from shoplet import pipelined
from shoplet.errors import Conflict, Unprocessable
from shoplet.idempotency import IdempotencyRecord
from shoplet.orders import checkout
from tests.helpers import Shop, counting

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
_INSERT = cast(Table, IdempotencyRecord.__table__).insert()
_BUMP = (
    update(IdempotencyRecord)
    .where(IdempotencyRecord.key == "a")
    .values(status_code=IdempotencyRecord.status_code + 1)
)


_MISSING = update(IdempotencyRecord).where(IdempotencyRecord.key == "nowhere").values(status_code=1)


def _must_match(rowcount: int) -> None:
    if rowcount != 1:
        raise Unprocessable("stock.insufficient", "nothing matched")


def _row(key: str, merchant: str = "m_pipe") -> dict:
    return {
        "merchant_id": merchant,
        "scope": "s",
        "key": key,
        "request_hash": "h",
        "status_code": 200,
        "response": {"key": key},
        "created_at": NOW,
    }


def _keys(database, merchant: str = "m_pipe") -> list[str]:
    with database.unit_of_work(write=False) as s:
        return list(s.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.merchant_id == merchant)))


def test_queued_writes_go_out_before_the_next_statement_in_order(database):
    postgres = database.dialect == "postgresql"
    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("a"))
        pipelined.later(s, _BUMP, {}, check=lambda n: None)  # runs after the insert it follows
        assert pipelined.pending(s.connection()) == (2 if postgres else 0)
        seen = s.scalar(select(IdempotencyRecord.status_code).where(IdempotencyRecord.key == "a"))
        assert pipelined.pending(s.connection()) == 0
    assert seen == 201
    assert _keys(database) == ["a"]


def test_what_is_queued_is_committed_with_the_unit_of_work(database):
    merchant = "m_commit"
    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("b", merchant))
        pipelined.insert_later(s, IdempotencyRecord, [_row("c", merchant), _row("d", merchant)])
    assert sorted(_keys(database, merchant)) == ["b", "c", "d"]


def test_a_failed_check_rolls_everything_back(database):
    merchant = "m_check"

    with pytest.raises(Unprocessable), database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("e", merchant))
        pipelined.later(s, _MISSING, {}, check=_must_match)  # raised at COMMIT on PostgreSQL
    assert _keys(database, merchant) == []
    with database.unit_of_work() as s:  # the connection goes on, nothing left queued on it
        assert pipelined.pending(s.connection()) == 0
        pipelined.later(s, _INSERT, _row("f", merchant))
    assert _keys(database, merchant) == ["f"]


def test_a_key_taken_is_the_integrity_error_it_always_was(database):
    merchant = "m_taken"
    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("g", merchant))
    with pytest.raises(IntegrityError) as taken, database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("h", merchant))
        pipelined.later(s, _INSERT, _row("g", merchant))
    assert "idempotency" in str(taken.value.orig).lower()
    assert _keys(database, merchant) == ["g"]


def test_a_rollback_drops_what_was_queued(database):
    merchant = "m_dropped"
    with pytest.raises(Conflict), database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("i", merchant))
        raise Conflict("test.stop", "stop")
    with database.unit_of_work() as s:
        assert pipelined.pending(s.connection()) == 0
        s.execute(select(func.count()).select_from(IdempotencyRecord))
    assert _keys(database, merchant) == []


def test_execute_answers_with_the_queue_in_one_round_trip(database):
    merchant = "m_exec"
    returning = _INSERT.returning(IdempotencyRecord.key)
    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("j", merchant))
        rows = pipelined.execute(s, returning, _row("k", merchant))
        assert pipelined.pending(s.connection()) == 0
    assert [tuple(row) for row in rows] == [("k",)]
    assert sorted(_keys(database, merchant)) == ["j", "k"]


def test_stock_taken_between_the_price_and_the_write_refuses_the_order(shop: Shop):
    """Checkout's reservation is queued on PostgreSQL and checked before COMMIT: stock that
    went to another order after this one was priced refuses it, and nothing of it is written."""
    db, rt = shop.runtime.db, shop.runtime
    shop.stock(shop.store_id, "LATTE-T", 1)
    sku = shop.skus["LATTE-T"]
    kwargs = dict(merchant_id=shop.merchant_id, customer_id=shop.customer_id, location_id=shop.store_id)
    with db.unit_of_work(write=False) as s:
        found = checkout.price_checkout(
            s, items=[(sku, 1)], pricer=rt.pricer, host_app="alipay", now=NOW, **kwargs
        )
    shop.order({"LATTE-T": 1})  # takes the last one
    before = shop.level(shop.store_id, "LATTE-T")
    with pytest.raises(Unprocessable) as refused, db.unit_of_work() as s:
        checkout.place(
            s, found, host_app="alipay", scene=None, note="", timeout=timedelta(minutes=15), now=NOW, **kwargs
        )
    assert refused.value.code == "stock.insufficient"
    assert shop.level(shop.store_id, "LATTE-T") == before
    orders = shop.client.get("/api/v1/storefront/orders", headers=shop.customer).json()["items"]
    assert len(orders) == 1


def test_reads_together_answer_as_sqlalchemy_does(shop: Shop):
    """Rows read in one pipeline are SQLAlchemy's rows with the same values (JSON, floats,
    UTC times, labels) as the statements executed one by one."""
    from shoplet.membership import loyalty
    from shoplet.orders import routing

    reads = [
        routing.locations_read(shop.merchant_id, shop.store_id),
        (loyalty.TERMS, {"m": shop.merchant_id, "c": shop.customer_id}),
    ]
    db = shop.runtime.db
    with db.unit_of_work(write=False) as s:
        together = pipelined.read_together(s, reads)
        one_by_one = [list(s.connection().execute(statement, values).all()) for statement, values in reads]
    assert [len(rows) for rows in together] == [2, 1]  # the store and the warehouse; one customer
    for rows, expected in zip(together, one_by_one, strict=True):
        assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
        assert [dict(row._mapping) for row in rows] == [dict(row._mapping) for row in expected]
    store = next(row for row in together[0] if row.id == shop.store_id)
    assert isinstance(store.fulfilment, dict) and store.created_at.utcoffset() is not None


def test_reads_go_out_after_what_is_queued(database):
    merchant = "m_reads"
    keys = select(IdempotencyRecord.key).where(IdempotencyRecord.merchant_id == merchant)
    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("l", merchant))
        (rows,) = pipelined.read_together(s, [(keys, {})])
        assert pipelined.pending(s.connection()) == 0
    assert [row.key for row in rows] == ["l"]


def test_a_savepoint_keeps_what_was_queued_before_it_and_drops_what_was_rolled_back(database):
    merchant = "m_savepoint"

    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("n1", merchant))  # sent with the SAVEPOINT
        with pytest.raises(Conflict), s.begin_nested():
            pipelined.later(s, _INSERT, _row("n2", merchant))  # dropped with the savepoint
            raise Conflict("test.stop", "stop")
        with pytest.raises(Unprocessable), s.begin_nested():
            pipelined.later(s, _INSERT, _row("n3", merchant))
            pipelined.later(s, _MISSING, {}, check=_must_match)  # raised on its way out
        pipelined.later(s, _INSERT, _row("n4", merchant))
    assert sorted(_keys(database, merchant)) == ["n1", "n4"]


def test_one_read_on_a_connection_of_its_own_answers_as_sqlalchemy_does(database):
    """``execute`` on ``Database.read_once``'s connection (the credential check's, a claim's
    template): SQLAlchemy's rows, with the same values (JSON, UTC times)."""
    merchant = "m_once"
    with database.unit_of_work() as s:
        pipelined.insert_later(s, IdempotencyRecord, [_row("o1", merchant), _row("o2", merchant)])
    statement = (
        select(IdempotencyRecord.__table__)
        .where(IdempotencyRecord.merchant_id == bindparam("m"))
        .order_by(IdempotencyRecord.key)
    )
    with database.read_once() as connection:
        rows = pipelined.execute(connection, statement, {"m": merchant})
        expected = connection.execute(statement, {"m": merchant}).all()
    assert [dict(row._mapping) for row in rows] == [dict(row._mapping) for row in expected]
    assert rows[0].response == {"key": "o1"} and rows[0].created_at == NOW
    with database.read_once() as connection:
        assert pipelined.execute(connection, statement, {"m": "m_nobody"}) == []


def test_statements_run_at_once_are_seen_by_the_engine_events(database):
    """On SQLite the statements go to the driver's cursor, not through SQLAlchemy's execution:
    the engine's cursor events still see each one (statement counts, the check that a reading
    unit of work writes nothing)."""
    merchant = "m_seen"
    keys = select(IdempotencyRecord.key).where(IdempotencyRecord.merchant_id == bindparam("m"))
    with database.unit_of_work() as s, counting(database.engine) as statements:
        pipelined.later(s, _INSERT, _row("p1", merchant))
        pipelined.insert_later(s, IdempotencyRecord, [_row("p2", merchant), _row("p3", merchant)])
        (rows,) = pipelined.read_together(s, [(keys, {"m": merchant})])
    assert sorted(row.key for row in rows) == ["p1", "p2", "p3"]
    inserts = [sql for sql in statements if sql.startswith("INSERT INTO idempotency_records")]
    assert len(inserts) == 2 and len([sql for sql in statements if sql.startswith("SELECT")]) == 1


def test_a_statement_with_an_expanding_in_is_refused(database):
    statement = select(IdempotencyRecord.key).where(IdempotencyRecord.key.in_(["a", "b"]))
    with database.unit_of_work(write=False) as s, pytest.raises(ValueError, match="expanding IN"):
        pipelined.execute(s, statement, {})


def test_an_insert_that_leaves_a_column_to_its_default_is_refused(database):
    """SQLAlchemy fills Python-side defaults per execution; a statement compiled once would
    write NULL there: it is refused instead."""
    row = _row("q1", "m_defaults")
    del row["created_at"]  # the model's default fills it through SQLAlchemy
    with database.unit_of_work() as s, pytest.raises(ValueError, match="created_at"):
        pipelined.later(s, _INSERT, row)


def test_a_read_for_later_goes_with_the_next_statements_or_only_when_asked(database):
    """``read_later``: on PostgreSQL queued and sent with the unit's next reads (no round trip
    of its own); on SQLite run only if its rows are asked for."""
    merchant = "m_later"
    with database.unit_of_work() as s:
        pipelined.insert_later(s, IdempotencyRecord, [_row("r1", merchant)])
    keys = select(IdempotencyRecord.key).where(IdempotencyRecord.merchant_id == bindparam("m"))
    postgres = database.dialect == "postgresql"
    with database.unit_of_work(write=False) as s, counting(database.engine) as statements:
        unasked = pipelined.read_later(s, keys, {"m": "m_nobody"})
        found = pipelined.read_later(s, keys, {"m": merchant})
        assert pipelined.pending(s.connection()) == (2 if postgres else 0)
        pipelined.read_together(s, [(keys, {"m": merchant})])  # what sends them on PostgreSQL
        assert pipelined.pending(s.connection()) == 0
        assert [row.key for row in found.rows()] == ["r1"]
    assert len([sql for sql in statements if sql.startswith("SELECT")]) == (3 if postgres else 2)
    assert unasked is not None


def test_a_value_the_driver_cannot_send_fails_the_unit_and_leaves_the_connection_clean(database):
    """A parameter the driver cannot adapt fails as SQLAlchemy's error, after what was queued
    before it was answered (on PostgreSQL the pipeline is left and the transaction rolled
    back): nothing is written and the next unit of work runs."""
    merchant = "m_unsendable"
    bad = {**_row("u2", merchant), "status_code": object()}
    with pytest.raises(DBAPIError), database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("u1", merchant))
        pipelined.later(s, _INSERT, bad)
        s.connection().exec_driver_sql("SELECT 1")  # sends the queue on PostgreSQL
    with database.unit_of_work() as s:
        pipelined.later(s, _INSERT, _row("u3", merchant))
    assert _keys(database, merchant) == ["u3"]
