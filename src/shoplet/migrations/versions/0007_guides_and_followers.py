"""guides and followers

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guide_binding_changes",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("from_guide_id", sa.String(length=32), nullable=True),
        sa.Column("to_guide_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_guide_binding_changes")),
    )
    with op.batch_alter_table("guide_binding_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_guide_binding_changes_customer", ["merchant_id", "customer_id"], unique=False
        )

    op.create_table(
        "guide_policies",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("protection_days", sa.Integer(), nullable=False),
        sa.Column("after_protection", sa.String(length=16), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "after_protection IN ('first_touch','last_touch')",
            name=op.f("ck_guide_policies_after_protection"),
        ),
        sa.CheckConstraint("protection_days >= 0", name=op.f("ck_guide_policies_protection_days")),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_guide_policies")),
    )
    op.create_table(
        "followers",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("host_app", sa.String(length=16), nullable=False),
        sa.Column("followed_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unfollowed_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_followers_merchant_id_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "customer_id", name=op.f("pk_followers")),
    )
    op.create_table(
        "guide_bindings",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("guide_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("bound_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("protected_until", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_bound_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('scan','store','admin')", name=op.f("ck_guide_bindings_source")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_guide_bindings_merchant_id_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "guide_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_guide_bindings_merchant_id_guide_id_staff"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "customer_id", name=op.f("pk_guide_bindings")),
    )
    with op.batch_alter_table("guide_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_guide_bindings_guide", ["merchant_id", "guide_id"], unique=False)

    op.create_table(
        "guide_coupon_quotas",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("guide_id", sa.String(length=32), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "issued >= 0 AND issued <= quota", name=op.f("ck_guide_coupon_quotas_within_quota")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "guide_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_guide_coupon_quotas_merchant_id_guide_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "template_id"],
            ["coupon_templates.merchant_id", "coupon_templates.id"],
            name=op.f("fk_guide_coupon_quotas_merchant_id_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "template_id", "guide_id", name=op.f("pk_guide_coupon_quotas")
        ),
    )
    with op.batch_alter_table("guide_coupon_quotas", schema=None) as batch_op:
        batch_op.create_index("ix_guide_coupon_quotas_guide", ["merchant_id", "guide_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("guide_coupon_quotas", schema=None) as batch_op:
        batch_op.drop_index("ix_guide_coupon_quotas_guide")

    op.drop_table("guide_coupon_quotas")
    with op.batch_alter_table("guide_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_guide_bindings_guide")

    op.drop_table("guide_bindings")
    op.drop_table("followers")
    op.drop_table("guide_policies")
    with op.batch_alter_table("guide_binding_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_guide_binding_changes_customer")

    op.drop_table("guide_binding_changes")
