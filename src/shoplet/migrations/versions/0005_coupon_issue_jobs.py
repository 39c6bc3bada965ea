"""coupon issue jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 23:51:32.098740
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_issue_jobs",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("cursor", sa.String(length=32), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','running','done')", name=op.f("ck_coupon_issue_jobs_status")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "template_id"],
            ["coupon_templates.merchant_id", "coupon_templates.id"],
            name=op.f("fk_coupon_issue_jobs_merchant_id_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_coupon_issue_jobs")),
    )


def downgrade() -> None:
    op.drop_table("coupon_issue_jobs")
