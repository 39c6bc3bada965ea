"""business events, their consumers' queue, and the daily rollups of the figures

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_queue",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("consumer", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=96), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "consumer", "event_id", name=op.f("pk_event_queue")),
    )
    op.create_table(
        "events",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("host_app", sa.String(length=16), nullable=True),
        sa.Column("scene", sa.String(length=32), nullable=True),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("guide_id", sa.String(length=32), nullable=True),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("benefit", sa.BigInteger(), nullable=False),
        sa.Column("subject_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_merchant_id_occurred_at", ["merchant_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_events_merchant_id_subject_at", ["merchant_id", "subject_at"], unique=False)

    op.create_table(
        "rollup_customer_days",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "day", "customer_id", name=op.f("pk_rollup_customer_days")),
    )
    with op.batch_alter_table("rollup_customer_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rollup_customer_days_customer", ["merchant_id", "customer_id", "day"], unique=False
        )

    op.create_table(
        "rollup_customers",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("host_app", sa.String(length=16), nullable=True),
        sa.Column("scene", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("merchant_id", "customer_id", name=op.f("pk_rollup_customers")),
    )
    with op.batch_alter_table("rollup_customers", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_customers_first_day", ["merchant_id", "first_day"], unique=False)

    op.create_table(
        "rollup_daily_metrics",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "merchant_id", "metric", "dim", "day", "key", name=op.f("pk_rollup_daily_metrics")
        ),
    )
    with op.batch_alter_table("rollup_daily_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_rollup_daily_metrics_day", ["merchant_id", "day"], unique=False)
    op.create_table(
        "rollup_period_actives",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "grain", "start", name=op.f("pk_rollup_period_actives")),
    )
    op.create_table(
        "rollup_retention",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("cohort_day", sa.Date(), nullable=False),
        sa.Column("days_after", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "cohort_day", "days_after", name=op.f("pk_rollup_retention")),
    )


def downgrade() -> None:
    op.drop_table("rollup_retention")
    op.drop_table("rollup_period_actives")
    with op.batch_alter_table("rollup_daily_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_daily_metrics_day")

    op.drop_table("rollup_daily_metrics")
    with op.batch_alter_table("rollup_customers", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_customers_first_day")

    op.drop_table("rollup_customers")
    with op.batch_alter_table("rollup_customer_days", schema=None) as batch_op:
        batch_op.drop_index("ix_rollup_customer_days_customer")

    op.drop_table("rollup_customer_days")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_merchant_id_subject_at")
        batch_op.drop_index("ix_events_merchant_id_occurred_at")

    op.drop_table("events")
    op.drop_table("event_queue")
