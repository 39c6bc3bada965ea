"""membership tiers points light membership

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_pack_grants",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("pack_key", sa.String(length=80), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("coupon_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "pack_key", "template_id", name=op.f("pk_coupon_pack_grants")),
    )
    op.create_table(
        "growth_entries",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_growth_entries")),
    )
    with op.batch_alter_table("growth_entries", schema=None) as batch_op:
        batch_op.create_index("ix_growth_entries_customer", ["merchant_id", "customer_id"], unique=False)
        batch_op.create_index("ix_growth_entries_order", ["merchant_id", "order_id"], unique=False)

    op.create_table(
        "light_benefits",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("membership_id", sa.String(length=32), nullable=False),
        sa.Column("period_no", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reversed", sa.Integer(), nullable=False),
        sa.Column("at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("reversed >= 0 AND reversed <= amount", name=op.f("ck_light_benefits_reversed")),
        sa.PrimaryKeyConstraint("merchant_id", "order_id", name=op.f("pk_light_benefits")),
    )
    with op.batch_alter_table("light_benefits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_light_benefits_membership", ["merchant_id", "membership_id", "period_no"], unique=False
        )

    op.create_table(
        "light_plans",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("light_member_prices", sa.Boolean(), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("coupon_template_ids", sa.JSON(), nullable=False),
        sa.Column("min_credit_score", sa.Integer(), nullable=False),
        sa.Column("auto_renew_allowed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active','closed')", name=op.f("ck_light_plans_status")),
        sa.CheckConstraint("fee > 0", name=op.f("ck_light_plans_fee")),
        sa.CheckConstraint("percent_off BETWEEN 0 AND 100", name=op.f("ck_light_plans_percent_off")),
        sa.CheckConstraint("period_days > 0", name=op.f("ck_light_plans_period_days")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_light_plans")),
    )
    op.create_table(
        "light_settlements",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("membership_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("period_no", sa.Integer(), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("enjoyed", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("charged_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','retrying','charged','closed','overdue')",
            name=op.f("ck_light_settlements_status"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_light_settlements_amount")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_light_settlements")),
    )
    with op.batch_alter_table("light_settlements", schema=None) as batch_op:
        batch_op.create_index("ix_light_settlements_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "uq_light_settlements_period", ["merchant_id", "membership_id", "period_no"], unique=True
        )

    op.create_table(
        "loyalty_settings",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("points_per_yuan", sa.Integer(), nullable=False),
        sa.Column("growth_per_yuan", sa.Integer(), nullable=False),
        sa.Column("value_per_point", sa.Integer(), nullable=False),
        sa.Column("max_share_percent", sa.Integer(), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("max_share_percent BETWEEN 0 AND 100", name=op.f("ck_loyalty_settings_max_share")),
        sa.CheckConstraint(
            "points_per_yuan >= 0 AND growth_per_yuan >= 0", name=op.f("ck_loyalty_settings_rates")
        ),
        sa.CheckConstraint("value_per_point >= 1", name=op.f("ck_loyalty_settings_value_per_point")),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_loyalty_settings")),
    )
    op.create_table(
        "member_tier_changes",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("from_tier", sa.String(length=32), nullable=False),
        sa.Column("to_tier", sa.String(length=32), nullable=False),
        sa.Column("growth", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_member_tier_changes")),
    )
    with op.batch_alter_table("member_tier_changes", schema=None) as batch_op:
        batch_op.create_index("ix_member_tier_changes_customer", ["merchant_id", "customer_id"], unique=False)

    op.create_table(
        "member_tiers",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("member_price", sa.Boolean(), nullable=False),
        sa.Column("points_multiplier", sa.Integer(), nullable=False),
        sa.Column("free_delivery", sa.Boolean(), nullable=False),
        sa.Column("coupon_template_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points_multiplier >= 0", name=op.f("ck_member_tiers_points_multiplier")),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_member_tiers_threshold")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_member_tiers")),
    )
    with op.batch_alter_table("member_tiers", schema=None) as batch_op:
        batch_op.create_index("uq_member_tiers_code", ["merchant_id", "code"], unique=True)

    op.create_table(
        "points_entries",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.String(length=32), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('earn','reverse_earn','spend','return_spend','exchange','expire','adjust')",
            name=op.f("ck_points_entries_kind"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_points_entries")),
    )
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.create_index("ix_points_entries_customer", ["merchant_id", "customer_id"], unique=False)
        batch_op.create_index("ix_points_entries_order", ["merchant_id", "order_id"], unique=False)

    op.create_table(
        "points_lots",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("earned_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name=op.f("ck_points_lots_remaining")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_points_lots")),
    )
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_lots_customer", ["merchant_id", "customer_id", "expires_at"], unique=False
        )
        batch_op.create_index("ix_points_lots_expiry", ["expires_at"], unique=False)

    op.create_table(
        "sandbox_agreement_charges",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("out_request_no", sa.String(length=64), nullable=False),
        sa.Column("agreement_no", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("charged_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('succeeded','failed')", name=op.f("ck_sandbox_agreement_charges_status")
        ),
        sa.PrimaryKeyConstraint("merchant_id", "out_request_no", name=op.f("pk_sandbox_agreement_charges")),
    )
    op.create_table(
        "sandbox_agreements",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("agreement_no", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("plan_id", sa.String(length=32), nullable=False),
        sa.Column("signed_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "agreement_no", name=op.f("pk_sandbox_agreements")),
    )
    op.create_table(
        "light_memberships",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("plan_id", sa.String(length=32), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("period_no", sa.Integer(), nullable=False),
        sa.Column("period_start", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("enjoyed", sa.Integer(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("agreement_no", sa.String(length=64), nullable=False),
        sa.Column("credit_score", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("joined_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active','settling','overdue','ended')", name=op.f("ck_light_memberships_status")
        ),
        sa.CheckConstraint("enjoyed >= 0", name=op.f("ck_light_memberships_enjoyed")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_light_memberships_merchant_id_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "plan_id"],
            ["light_plans.merchant_id", "light_plans.id"],
            name=op.f("fk_light_memberships_merchant_id_plan_id_light_plans"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_light_memberships")),
    )
    with op.batch_alter_table("light_memberships", schema=None) as batch_op:
        batch_op.create_index("ix_light_memberships_customer", ["merchant_id", "customer_id"], unique=False)
        batch_op.create_index("ix_light_memberships_due", ["status", "period_end"], unique=False)
        batch_op.create_index(
            "uq_light_memberships_current",
            ["merchant_id", "customer_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('active','settling','overdue')"),
            postgresql_where=sa.text("status IN ('active','settling','overdue')"),
        )

    op.create_table(
        "points_mall_items",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_points_mall_items_points")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "template_id"],
            ["coupon_templates.merchant_id", "coupon_templates.id"],
            name=op.f("fk_points_mall_items_merchant_id_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_points_mall_items")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("growth", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("points_balance", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint("points_balance", "points_balance >= 0")
        batch_op.create_check_constraint("growth", "growth >= 0")

    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.add_column(sa.Column("light_member_price", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_column("light_member_price")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_members_growth"), type_="check")
        batch_op.drop_constraint(op.f("ck_members_points_balance"), type_="check")
        batch_op.drop_column("points_balance")
        batch_op.drop_column("growth")

    op.drop_table("points_mall_items")
    with op.batch_alter_table("light_memberships", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_light_memberships_current",
            sqlite_where=sa.text("status IN ('active','settling','overdue')"),
            postgresql_where=sa.text("status IN ('active','settling','overdue')"),
        )
        batch_op.drop_index("ix_light_memberships_due")
        batch_op.drop_index("ix_light_memberships_customer")

    op.drop_table("light_memberships")
    op.drop_table("sandbox_agreements")
    op.drop_table("sandbox_agreement_charges")
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_points_lots_expiry")
        batch_op.drop_index("ix_points_lots_customer")

    op.drop_table("points_lots")
    with op.batch_alter_table("points_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_points_entries_order")
        batch_op.drop_index("ix_points_entries_customer")

    op.drop_table("points_entries")
    with op.batch_alter_table("member_tiers", schema=None) as batch_op:
        batch_op.drop_index("uq_member_tiers_code")

    op.drop_table("member_tiers")
    with op.batch_alter_table("member_tier_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tier_changes_customer")

    op.drop_table("member_tier_changes")
    op.drop_table("loyalty_settings")
    with op.batch_alter_table("light_settlements", schema=None) as batch_op:
        batch_op.drop_index("uq_light_settlements_period")
        batch_op.drop_index("ix_light_settlements_due")

    op.drop_table("light_settlements")
    op.drop_table("light_plans")
    with op.batch_alter_table("light_benefits", schema=None) as batch_op:
        batch_op.drop_index("ix_light_benefits_membership")

    op.drop_table("light_benefits")
    with op.batch_alter_table("growth_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_growth_entries_order")
        batch_op.drop_index("ix_growth_entries_customer")

    op.drop_table("growth_entries")
    op.drop_table("coupon_pack_grants")
