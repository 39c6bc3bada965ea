"""coupon codes and event rules

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:49:31.534767
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_event_grants",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("coupon_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "rule_id", "event_key", name=op.f("pk_coupon_event_grants")),
    )
    op.create_table(
        "coupon_codes",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("redeemed_by", sa.String(length=32), nullable=True),
        sa.Column("redeemed_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("coupon_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "template_id"],
            ["coupon_templates.merchant_id", "coupon_templates.id"],
            name=op.f("fk_coupon_codes_merchant_id_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "code", name=op.f("pk_coupon_codes")),
    )
    with op.batch_alter_table("coupon_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_coupon_codes_template", ["merchant_id", "template_id", "batch_id"], unique=False
        )

    op.create_table(
        "coupon_event_rules",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("min_order_amount", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "event IN ('joined','first_order','order_at_least')", name=op.f("ck_coupon_event_rules_event")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "template_id"],
            ["coupon_templates.merchant_id", "coupon_templates.id"],
            name=op.f("fk_coupon_event_rules_merchant_id_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_coupon_event_rules")),
    )


def downgrade() -> None:
    op.drop_table("coupon_event_rules")
    with op.batch_alter_table("coupon_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_codes_template")

    op.drop_table("coupon_codes")
    op.drop_table("coupon_event_grants")
