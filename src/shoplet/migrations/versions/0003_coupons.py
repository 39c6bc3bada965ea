"""coupons

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:21:21.451280
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_claim_counts",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("claimed", sa.Integer(), nullable=False),
        sa.CheckConstraint("claimed >= 0", name=op.f("ck_coupon_claim_counts_claimed")),
        sa.PrimaryKeyConstraint(
            "merchant_id", "template_id", "customer_id", "period", name=op.f("pk_coupon_claim_counts")
        ),
    )
    op.create_table(
        "coupon_templates",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("store_ids", sa.JSON(), nullable=False),
        sa.Column("host_apps", sa.JSON(), nullable=False),
        sa.Column("stackable", sa.Boolean(), nullable=False),
        sa.Column("exclusive_with_promotions", sa.Boolean(), nullable=False),
        sa.Column("validity", sa.String(length=16), nullable=False),
        sa.Column("valid_from", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_until", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("delay_days", sa.Integer(), nullable=False),
        sa.Column("total_stock", sa.Integer(), nullable=True),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("per_day_limit", sa.Integer(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("claim_starts_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_ends_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("budget_committed", sa.Integer(), nullable=False),
        sa.Column("public_code", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active','paused','stopped')", name=op.f("ck_coupon_templates_status")
        ),
        sa.CheckConstraint("validity IN ('fixed','relative')", name=op.f("ck_coupon_templates_validity")),
        sa.CheckConstraint(
            "budget IS NULL OR budget_committed <= budget", name=op.f("ck_coupon_templates_budget")
        ),
        sa.CheckConstraint(
            "total_stock IS NULL OR issued_count <= total_stock", name=op.f("ck_coupon_templates_no_oversell")
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_coupon_templates")),
    )
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.create_index("uq_coupon_templates_public_code", ["merchant_id", "public_code"], unique=True)

    op.create_table(
        "coupons",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid_from", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("used_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("verified_store_id", sa.String(length=32), nullable=True),
        sa.Column("verified_by", sa.String(length=32), nullable=True),
        sa.Column("discount", sa.Integer(), nullable=False),
        sa.Column("order_amount", sa.Integer(), nullable=False),
        sa.Column("reminded_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('available','locked','used','expired')", name=op.f("ck_coupons_status")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "template_id"],
            ["coupon_templates.merchant_id", "coupon_templates.id"],
            name=op.f("fk_coupons_merchant_id_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_coupons")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index("ix_coupons_customer", ["merchant_id", "customer_id", "status"], unique=False)
        batch_op.create_index("ix_coupons_expiry", ["status", "valid_until"], unique=False)
        batch_op.create_index("ix_coupons_template", ["merchant_id", "template_id", "status"], unique=False)
        batch_op.create_index("uq_coupons_code", ["merchant_id", "code"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index("uq_coupons_code")
        batch_op.drop_index("ix_coupons_template")
        batch_op.drop_index("ix_coupons_expiry")
        batch_op.drop_index("ix_coupons_customer")

    op.drop_table("coupons")
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.drop_index("uq_coupon_templates_public_code")

    op.drop_table("coupon_templates")
    op.drop_table("coupon_claim_counts")
