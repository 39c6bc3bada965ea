"""Fixtures: real databases (SQLite always, PostgreSQL when configured), a controllable
clock, and a test client whose sandbox notifications travel through the real ASGI app."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from shoplet.app import create_app
from shoplet.config import Settings
from shoplet.db import Database, utcnow
from shoplet.migrate import upgrade
from shoplet.runtime import Runtime
from tests import problem_log
from tests.helpers import Shop

PG_URL = os.environ.get("SHOPLET_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SHOPLET_TEST_REDIS_URL")
PLATFORM_KEY = "test-platform-key"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


class Clock:
    """Real time plus an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self):
        return utcnow() + self.offset

    def advance(self, **kwargs) -> None:
        self.offset += timedelta(**kwargs)


def _fresh_postgres(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> str:
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("SHOPLET_TEST_DATABASE_URL is not set")
        _fresh_postgres(PG_URL)
        url = PG_URL
    else:
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('db')) / 'shoplet.db'}"
    upgrade(url)
    return url


# What a reading unit of work must never send: on PostgreSQL it runs in autocommit (see
# Database.__init__), where a write would commit on its own and a lock end with its statement.
WRITES = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b|\bFOR (NO KEY )?UPDATE\b|\bFOR SHARE\b|pg_advisory", re.I
)
READ_UNIT_WRITES: list[str] = []


@pytest.fixture(scope="session")
def database(database_url) -> Database:
    db = Database(database_url)

    @event.listens_for(db.read_engine, "before_cursor_execute")
    def _reads_only(_conn, _cursor, statement, *_args) -> None:
        if WRITES.search(statement):
            READ_UNIT_WRITES.append(statement[:120])

    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def _read_units_only_read():
    """Every test: no reading unit of work wrote or locked anything."""
    READ_UNIT_WRITES.clear()
    yield
    assert not READ_UNIT_WRITES, f"a reading unit of work wrote or locked: {READ_UNIT_WRITES}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(database, clock, tmp_path) -> Runtime:
    settings = Settings(
        database_url=database.url,
        platform_key=PLATFORM_KEY,
        sandbox_payments=True,
        public_url="http://testserver",
        jobs_path=str(tmp_path / "jobs.db"),
    )
    return Runtime(settings, clock=clock, db=database)


@pytest.fixture
def client(runtime) -> TestClient:
    app = create_app(runtime)
    test_client = TestClient(problem_log.RecordProblems(app), raise_server_exceptions=False)

    def post_through_app(url: str, body: bytes, headers: dict[str, str]) -> int:
        path = url.removeprefix(runtime.settings.public_url)
        return test_client.post(path, content=body, headers=headers).status_code

    runtime.post = post_through_app
    return test_client


@pytest.fixture
def shop(client, runtime) -> Shop:
    """A merchant with a warehouse, two stores, products in stock, staff and a signed-in customer."""
    return Shop.create(client, runtime)


@pytest.fixture
def other_shop(client, runtime) -> Shop:
    return Shop.create(client, runtime, name="Other merchant")


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run when the API answered with an error code its OpenAPI entry does not list."""
    if not problem_log.SEEN:
        return
    runtime = Runtime(Settings(database_url="sqlite://", sandbox_payments=True))
    missing = problem_log.undeclared(create_app(runtime).openapi())
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["error codes returned but not declared in the OpenAPI document:", *missing]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
