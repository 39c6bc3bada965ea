"""Alembic environment: runs against the connection or URL that ``shoplet.migrate`` gives it."""

from alembic import context

from shoplet.models import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from shoplet.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as conn:
            _migrate(conn)
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
