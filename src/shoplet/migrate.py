"""Apply the Alembic migrations shipped inside the package."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from shoplet.db import normalize_url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("shoplet") / "migrations"))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creating a SQLite file if needed)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` back to ``revision`` ("base": empty)."""
    command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    """Autogenerate a new migration from the models (for developers)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def pending(url: str) -> list[tuple[str, str]]:
    """(revision, what it does) of each migration not yet applied, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(url))
    at = current(url)
    applied = {r.revision for r in script.iterate_revisions(at, "base")} if at else set()
    steps = [
        (rev.revision, (rev.doc or "").strip().splitlines()[0] if rev.doc else "")
        for rev in script.walk_revisions(base="base", head="heads")
        if rev.revision not in applied
    ]
    return list(reversed(steps))
