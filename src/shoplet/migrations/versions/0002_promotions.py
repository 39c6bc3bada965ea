"""promotions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:06:44.606298
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("stack_group", sa.String(length=64), nullable=True),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("host_apps", sa.JSON(), nullable=False),
        sa.Column("store_ids", sa.JSON(), nullable=False),
        sa.Column("starts_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active','paused','stopped')", name=op.f("ck_promotions_status")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_promotions")),
    )
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.create_index("ix_promotions_status", ["merchant_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        batch_op.drop_index("ix_promotions_status")

    op.drop_table("promotions")
