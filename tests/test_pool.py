"""Connections are kept: a server under steady concurrent load does not open (and close) a
database connection per request, which it did while its pool was smaller than the requests
it served at once (a SQLite file opened and set up again, on PostgreSQL a server process).
On PostgreSQL a connection is pinged only after it rested in the pool; one the server
dropped is replaced."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from shoplet import db as db_module
from shoplet.config import Settings
from shoplet.db import DEFAULT_POOL_SIZE, Database
from shoplet.runtime import Runtime
from tests.conftest import PG_URL


def test_sixteen_concurrent_units_of_work_reuse_their_connections(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'pool.db'}")
    opened = []
    event.listen(db.engine, "connect", lambda *_: opened.append(1))
    threads = 16

    def work(together: threading.Barrier) -> None:
        together.wait()
        with db.unit_of_work(write=False) as s:
            s.execute(text("SELECT 1"))
            together.wait()  # all sixteen hold a connection at the same moment

    for _ in range(3):  # three bursts of sixteen at once
        together = threading.Barrier(threads)
        running = [threading.Thread(target=work, args=(together,)) for _ in range(threads)]
        for t in running:
            t.start()
        for t in running:
            t.join()
    db.dispose()
    assert len(opened) == threads  # the first burst opened them; the next two reused them


def test_the_pool_size_is_a_setting(monkeypatch, tmp_path):
    assert Settings().database_pool_size == DEFAULT_POOL_SIZE == 20
    monkeypatch.setenv("SHOPLET_DATABASE_POOL_SIZE", "32")
    runtime = Runtime(Settings(database_url=f"sqlite:///{tmp_path / 'sized.db'}"))
    try:
        assert runtime.db.engine.pool.size() == 32
    finally:
        runtime.db.dispose()


def _backend_pid(db: Database) -> int:
    with db.unit_of_work(write=False) as s:
        return s.scalar(text("SELECT pg_backend_pid()"))


def _terminate(db: Database, pid: int) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


@pytest.mark.postgres
def test_a_connection_that_rested_is_pinged_and_replaced_when_the_server_dropped_it(monkeypatch):
    if not PG_URL:
        pytest.skip("SHOPLET_TEST_DATABASE_URL is not set")
    db = Database(PG_URL, pool_size=1)
    killer = Database(PG_URL, pool_size=1)
    pings = []
    do_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pings.append(1) or do_ping(c))
    try:
        first = _backend_pid(db)
        # Used a moment ago: no ping before the next unit of work (a round trip saved).
        assert _backend_pid(db) == first and pings == []
        # The server drops the resting connection; once it has rested long enough to be
        # pinged, the ping fails and the pool connects anew: the request never sees it.
        _terminate(killer, first)
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
        second = _backend_pid(db)
        assert second != first and pings == [1]
    finally:
        db.dispose()
        killer.dispose()


@pytest.mark.postgres
def test_a_connection_dropped_under_load_fails_one_unit_of_work_and_the_pool_recovers(monkeypatch):
    if not PG_URL:
        pytest.skip("SHOPLET_TEST_DATABASE_URL is not set")
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 3600.0)
    db = Database(PG_URL, pool_size=2)
    killer = Database(PG_URL, pool_size=1)
    try:
        first = _backend_pid(db)
        _terminate(killer, first)
        with pytest.raises(OperationalError) as failed:
            _backend_pid(db)
        assert failed.value.connection_invalidated  # the pool dropped it (and any older ones)
        assert _backend_pid(db) != first
    finally:
        db.dispose()
        killer.dispose()
