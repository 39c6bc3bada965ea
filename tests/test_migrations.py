"""The migrations build exactly the schema the models describe, and unwind cleanly."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shoplet import migrate
from shoplet.models import metadata


def test_migrations_match_the_models_and_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    migrate.upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    migrate.downgrade(url, "base")
    with engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_orders_from_before_fulfilments_get_one_each(tmp_path):
    """0010 gives every existing order a fulfilment in its order's state (pickup at a store,
    express from a warehouse) and points its lines at it."""
    from fastapi.testclient import TestClient

    from shoplet.app import create_app
    from shoplet.config import Settings
    from shoplet.runtime import Runtime
    from tests.conftest import PLATFORM_KEY
    from tests.helpers import Shop

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url)
    runtime = Runtime(Settings(database_url=url, platform_key=PLATFORM_KEY, jobs_path=str(tmp_path / "jobs.db")))
    with TestClient(create_app(runtime)) as client:
        shop = Shop.create(client, runtime)
        pickup = shop.order({"LATTE-T": 1})
        unpaid = shop.order({"BEANS": 1}, location=shop.warehouse_id)
    runtime.db.dispose()
    migrate.downgrade(url, "0009")
    migrate.upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT o.id, f.mode, f.status, f.location_id, f.pickup_code IS NOT NULL FROM orders o "
            "JOIN order_lines l ON l.order_id = o.id JOIN fulfilments f ON f.id = l.fulfilment_id")).all()
    engine.dispose()
    assert sorted((*row[:4], bool(row[4])) for row in rows) == sorted([
        (pickup["id"], "pickup", "pending", shop.store_id, True),
                                   (unpaid["id"], "express", "pending", shop.warehouse_id, False)])
