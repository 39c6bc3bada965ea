"""Settings from ``SHOPLET_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Deployment settings; every field reads ``SHOPLET_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="SHOPLET_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///shoplet.db",
        description="SQLAlchemy URL; a SQLite file by default, postgresql+psycopg://... at scale.",
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description=(
            "Database connections a process keeps open; under more concurrent work it opens as "
            "many again and closes those when they are returned. Keep it at least the number "
            "of requests served at once (connections opened per request are slow, on "
            "PostgreSQL most)."
        ),
    )
    redis_url: str | None = Field(
        default=None, description="When set, the job queue keeps its tasks in Redis."
    )
    clickhouse_url: str | None = Field(
        default=None,
        description=(
            "When set, events are copied to ClickHouse and figures are computed there: "
            "clickhouse://user:password@host:8123/database (a server, through clickhouse-connect) "
            "or chdb:///path/to/dir (the in-process engine). Unset: figures come from the rollups."
        ),
    )
    jobs_path: str | None = Field(
        default=None,
        description="SQLite file of the job queue when Redis is not used (default: beside the database).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL at which payment providers reach this deployment (notify URLs).",
    )
    platform_key: str | None = Field(
        default=None,
        description="Bearer key of the platform operator (creates merchants). Unset: platform API disabled.",
    )
    unpaid_order_timeout_minutes: int = Field(
        default=15, ge=1, description="Unpaid orders are cancelled after this many minutes."
    )
    sandbox_payments: bool = Field(
        default=False,
        description="Turn on the sandbox: its payment provider, its unauthenticated wallet (/api/v1/sandbox) and "
        "the sandbox sign-in of every host app. For demos and tests only; `shoplet demo` turns it on.",
    )
    sandbox_secret: str | None = Field(
        default=None,
        min_length=16,
        description="HMAC secret the sandbox provider signs its notifications with (default: one generated once "
        "per installation and kept in the database).",
    )
    sandbox_agreement_failure_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of sandbox agreement (withholding) charges that fail, to exercise retries and overdue.",
    )
    settlement_chunk: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Light memberships settled per transaction (default: 1000 on SQLite, whose one writer other "
        "requests wait for; 5000 on PostgreSQL).",
    )
    settlement_workers: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="Threads `shoplet settle` closes and charges chunks with, side by side (default: 2 on "
        "PostgreSQL, where one's Python runs while another's statements run in the database; 1 on SQLite, whose "
        "one writer would serialise them anyway).",
    )
    worker_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Requests the server works on at once in its worker threads (Starlette's default: 40). The "
        "work is Python under one interpreter lock: threads beyond a few only take turns with it, and each turn "
        "costs CPU; more help while requests wait on a remote database.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhook endpoints point at loopback, private and link-local addresses (tests, a "
        "receiver on the same machine). Off: such URLs are refused, when saved and at every send.",
    )
    customer_session_days: int = Field(default=30, ge=1)
    sweep_interval_seconds: int = Field(default=60, ge=1)
    log_level: str = "info"

    def resolved_jobs_path(self) -> str:
        """Where the SQLite job queue lives: explicit, or beside the SQLite database."""
        if self.jobs_path:
            return self.jobs_path
        if self.database_url.startswith("sqlite:///"):
            db_file = Path(self.database_url.removeprefix("sqlite:///"))
            return str(db_file.with_name(db_file.stem + "-jobs.db"))
        return "shoplet-jobs.db"


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
