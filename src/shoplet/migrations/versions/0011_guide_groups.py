"""guide groups

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guide_groups",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("guide_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "guide_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_guide_groups_merchant_id_guide_id_staff"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_guide_groups")),
    )
    with op.batch_alter_table("guide_groups", schema=None) as batch_op:
        batch_op.create_index("uq_guide_groups_name", ["merchant_id", "guide_id", "name"], unique=True)

    op.create_table(
        "guide_group_members",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("added_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_guide_group_members_merchant_id_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "group_id"],
            ["guide_groups.merchant_id", "guide_groups.id"],
            name=op.f("fk_guide_group_members_merchant_id_group_id_guide_groups"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "group_id", "customer_id", name=op.f("pk_guide_group_members")
        ),
    )
    with op.batch_alter_table("guide_group_members", schema=None) as batch_op:
        batch_op.create_index("ix_guide_group_members_customer", ["merchant_id", "customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("guide_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_guide_group_members_customer")

    op.drop_table("guide_group_members")
    with op.batch_alter_table("guide_groups", schema=None) as batch_op:
        batch_op.drop_index("uq_guide_groups_name")

    op.drop_table("guide_groups")
