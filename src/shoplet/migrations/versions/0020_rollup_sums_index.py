"""the day sums a figure reads, from one index: (merchant, metric, dim, day, key) with the value

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_rollup_daily_metrics_sums",
        "rollup_daily_metrics",
        ["merchant_id", "metric", "dim", "day", "key", "value"],
    )


def downgrade() -> None:
    op.drop_index("ix_rollup_daily_metrics_sums", table_name="rollup_daily_metrics")
