"""Connections are kept: a server under steady concurrent load does not open (and close) a
database connection per request, which it did while its pool was smaller than the requests
it served at once (a SQLite file opened and set up again, on PostgreSQL a server process)."""

from __future__ import annotations

import threading

from sqlalchemy import event, text

from shoplet.config import Settings
from shoplet.db import DEFAULT_POOL_SIZE, Database
from shoplet.runtime import Runtime


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
