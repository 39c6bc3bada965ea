"""Alembic environment: runs against the connection or URL that ``shoplet.migrate`` gives it."""

from alembic import context

from shoplet.models import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from sqlalchemy import event

        from shoplet.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        if engine.dialect.name == "sqlite":
            # SQLite alters a table by copying it into a new one and dropping the old, which
            # foreign keys pointing at it would refuse once rows exist: switch them off while
            # migrating (it only works outside a transaction) and check them afterwards.
            @event.listens_for(engine, "connect")
            def _keys_off(dbapi_connection, _record) -> None:
                dbapi_connection.execute("PRAGMA foreign_keys=OFF")

        with engine.connect() as conn:
            _migrate(conn)
            if engine.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                conn.rollback()
                if broken:
                    raise RuntimeError(
                        f"the migration left rows whose foreign keys point nowhere: {broken[:5]}"
                    )
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


run()
