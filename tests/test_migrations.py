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
    runtime = Runtime(
        Settings(
            database_url=url,
            platform_key=PLATFORM_KEY,
            sandbox_payments=True,
            jobs_path=str(tmp_path / "jobs.db"),
        )
    )
    with TestClient(create_app(runtime)) as client:
        shop = Shop.create(client, runtime)
        pickup = shop.order({"LATTE-T": 1})
        unpaid = shop.order({"BEANS": 1}, location=shop.warehouse_id)
    runtime.db.dispose()
    migrate.downgrade(url, "0009")
    migrate.upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT o.id, f.mode, f.status, f.location_id, f.pickup_code IS NOT NULL FROM orders o "
                "JOIN order_lines l ON l.order_id = o.id JOIN fulfilments f ON f.id = l.fulfilment_id"
            )
        ).all()
    engine.dispose()
    assert sorted((*row[:4], bool(row[4])) for row in rows) == sorted(
        [
            (pickup["id"], "pickup", "pending", shop.store_id, True),
            (unpaid["id"], "express", "pending", shop.warehouse_id, False),
        ]
    )


def test_parts_get_their_share_of_the_delivery_fee_paid(tmp_path):
    """0012 splits an order's delivery fee over its parts by their own fees, as checkout does."""
    from fastapi.testclient import TestClient

    from shoplet.app import create_app
    from shoplet.config import Settings
    from shoplet.runtime import Runtime
    from tests.conftest import PLATFORM_KEY
    from tests.helpers import Shop, ok

    url = f"sqlite:///{tmp_path / 'fees.db'}"
    migrate.upgrade(url)
    runtime = Runtime(
        Settings(
            database_url=url,
            platform_key=PLATFORM_KEY,
            sandbox_payments=True,
            jobs_path=str(tmp_path / "jobs.db"),
        )
    )
    with TestClient(create_app(runtime)) as client:
        shop = Shop.create(client, runtime)
        ok(
            client.patch(
                f"/api/v1/stores/{shop.warehouse_id}",
                json={"fulfilment": {"express_fee": 800}},
                headers=shop.admin,
            )
        )
        ok(
            client.patch(
                f"/api/v1/stores/{shop.store_id}",
                json={
                    "fulfilment": {
                        "delivery_radius_m": 3000,
                        "delivery_fee": 500,
                        "lead_minutes": 0,
                        "days_ahead": 1,
                    }
                },
                headers=shop.admin,
            )
        )
        slot = next(
            s
            for s in ok(
                client.get(f"/api/v1/storefront/stores/{shop.store_id}/delivery-slots", headers=shop.customer)
            )
            if s["remaining"]
        )
        shop.stock(shop.store_id, "BEANS", 0)
        split = ok(
            client.post(
                "/api/v1/storefront/orders",
                json={
                    "location_id": shop.store_id,
                    "lines": [
                        {"sku_id": shop.skus["LATTE-T"], "quantity": 1},
                        {"sku_id": shop.skus["BEANS"], "quantity": 1},
                    ],
                    "fulfilment": {
                        "mode": "delivery",
                        "routing": "split",
                        "slot_start": slot["start"],
                        "address": {
                            "name": "Li",
                            "phone": "13800000000",
                            "address": "Next door",
                            "latitude": 31.201,
                            "longitude": 121.4,
                        },
                    },
                },
                headers=shop.customer,
            ),
            201,
        )
    runtime.db.dispose()
    assert split["delivery_fee"] == 1300

    def shares():
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            found = dict(
                connection.execute(
                    sa.text("SELECT mode, delivery_paid FROM fulfilments WHERE order_id = :o"),
                    {"o": split["id"]},
                ).all()
            )
        engine.dispose()
        return found

    assert shares() == {"delivery": 500, "express": 800}
    migrate.downgrade(url, "0011")
    migrate.upgrade(url)
    assert shares() == {"delivery": 500, "express": 800}
