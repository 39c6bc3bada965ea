"""stock transfers

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_transfers",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("from_location_id", sa.String(length=32), nullable=False),
        sa.Column("to_location_id", sa.String(length=32), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("from_location_id <> to_location_id", name=op.f("ck_stock_transfers_two_places")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "from_location_id"],
            ["stock_locations.merchant_id", "stock_locations.id"],
            name=op.f("fk_stock_transfers_merchant_id_from_location_id_stock_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "to_location_id"],
            ["stock_locations.merchant_id", "stock_locations.id"],
            name=op.f("fk_stock_transfers_merchant_id_to_location_id_stock_locations"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_stock_transfers")),
    )


def downgrade() -> None:
    op.drop_table("stock_transfers")
