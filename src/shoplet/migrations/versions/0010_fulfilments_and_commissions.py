"""fulfilments and commissions

Revision ID: 0010
Revises: 0009
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

STATUS = {"pending_payment": "pending", "paid": "ready", "fulfilled": "done", "cancelled": "cancelled"}


def _backfill_fulfilments() -> None:
    """Orders placed before fulfilments existed get one: pickup at a store, express from a
    warehouse, in the state their order is in; their lines point at it."""
    bind = op.get_bind()
    orders = bind.execute(
        sa.text(
            "SELECT o.merchant_id, o.id, o.location_id, o.status, o.created_at, l.kind FROM orders o "
            "JOIN stock_locations l ON l.merchant_id = o.merchant_id AND l.id = o.location_id"
        )
    ).all()
    codes: set[tuple[str, str, str]] = set()
    for merchant_id, order_id, location_id, status, created_at, kind in orders:
        fulfilment_id = "ful_" + order_id[4:]
        mode = "pickup" if kind == "store" else "express"
        code = None
        if mode == "pickup":
            while code is None or (merchant_id, location_id, code) in codes:
                code = f"{secrets.randbelow(10**8):08d}"
            codes.add((merchant_id, location_id, code))
        bind.execute(
            sa.text(
                "INSERT INTO fulfilments (merchant_id, id, order_id, location_id, mode, status, fee, pickup_code, "
                "created_at) VALUES (:m, :id, :o, :loc, :mode, :status, 0, :code, :at)"
            ),
            {
                "m": merchant_id,
                "id": fulfilment_id,
                "o": order_id,
                "loc": location_id,
                "mode": mode,
                "status": STATUS[status],
                "code": code,
                "at": created_at,
            },
        )
        bind.execute(
            sa.text("UPDATE order_lines SET fulfilment_id = :f WHERE merchant_id = :m AND order_id = :o"),
            {"f": fulfilment_id, "m": merchant_id, "o": order_id},
        )


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commission_rules",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("scope IN ('merchant','store','guide')", name=op.f("ck_commission_rules_scope")),
        sa.CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name=op.f("ck_commission_rules_rate_bp")),
        sa.PrimaryKeyConstraint("merchant_id", "scope", "target_id", name=op.f("pk_commission_rules")),
    )
    op.create_table(
        "guide_visits",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("guide_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_guide_visits")),
    )
    with op.batch_alter_table("guide_visits", schema=None) as batch_op:
        batch_op.create_index("ix_guide_visits_customer", ["merchant_id", "customer_id"], unique=False)

    op.create_table(
        "delivery_slots",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("slot_start", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.CheckConstraint("booked >= 0", name=op.f("ck_delivery_slots_booked")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "location_id"],
            ["stock_locations.merchant_id", "stock_locations.id"],
            name=op.f("fk_delivery_slots_merchant_id_location_id_stock_locations"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "location_id", "slot_start", name=op.f("pk_delivery_slots")),
    )
    op.create_table(
        "commissions",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("guide_id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("base", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reversed_amount", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("frozen_until", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('frozen','settled','reversed')", name=op.f("ck_commissions_status")),
        sa.CheckConstraint(
            "amount >= 0 AND reversed_amount >= 0 AND reversed_amount <= amount",
            name=op.f("ck_commissions_amounts"),
        ),
        sa.CheckConstraint("refunded >= 0 AND refunded <= base", name=op.f("ck_commissions_refunded")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "guide_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_commissions_merchant_id_guide_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"],
            ["orders.merchant_id", "orders.id"],
            name=op.f("fk_commissions_merchant_id_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_commissions")),
    )
    with op.batch_alter_table("commissions", schema=None) as batch_op:
        batch_op.create_index("ix_commissions_due", ["status", "frozen_until"], unique=False)
        batch_op.create_index("ix_commissions_guide", ["merchant_id", "guide_id"], unique=False)
        batch_op.create_index("uq_commissions_order", ["merchant_id", "order_id"], unique=True)

    op.create_table(
        "fulfilments",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("pickup_code", sa.String(length=12), nullable=True),
        sa.Column("ready_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("slot_start", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("slot_end", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("distance_m", sa.Integer(), nullable=True),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('pickup','delivery','express')", name=op.f("ck_fulfilments_mode")),
        sa.CheckConstraint(
            "status IN ('pending','ready','done','expired','cancelled')", name=op.f("ck_fulfilments_status")
        ),
        sa.CheckConstraint("fee >= 0", name=op.f("ck_fulfilments_fee")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "location_id"],
            ["stock_locations.merchant_id", "stock_locations.id"],
            name=op.f("fk_fulfilments_merchant_id_location_id_stock_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"],
            ["orders.merchant_id", "orders.id"],
            name=op.f("fk_fulfilments_merchant_id_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_fulfilments")),
    )
    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.create_index("ix_fulfilments_due", ["status", "mode", "expires_at"], unique=False)
        batch_op.create_index("ix_fulfilments_order", ["merchant_id", "order_id"], unique=False)
        batch_op.create_index(
            "uq_fulfilments_open_code",
            ["merchant_id", "location_id", "pickup_code"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending','ready')"),
            postgresql_where=sa.text("status IN ('pending','ready')"),
        )

    with op.batch_alter_table("guide_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("after_sale_days", sa.Integer(), nullable=False, server_default="7"))
        batch_op.add_column(sa.Column("revisit_days", sa.Integer(), nullable=False, server_default="30"))
        batch_op.create_check_constraint("windows", "after_sale_days >= 0 AND revisit_days >= 1")

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fulfilment_id", sa.String(length=32), nullable=True))
    _backfill_fulfilments()
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.alter_column("fulfilment_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_order_lines_merchant_id_fulfilment_id_fulfilments"),
            "fulfilments",
            ["merchant_id", "fulfilment_id"],
            ["merchant_id", "id"],
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("guide_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("guide_store_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_orders_guide", ["merchant_id", "guide_id"], unique=False)

    with op.batch_alter_table("stock_locations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fulfilment", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("stock_locations", schema=None) as batch_op:
        batch_op.drop_column("fulfilment")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_guide")
        batch_op.drop_column("guide_store_id")
        batch_op.drop_column("guide_id")

    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_order_lines_merchant_id_fulfilment_id_fulfilments"), type_="foreignkey"
        )
        batch_op.drop_column("fulfilment_id")

    with op.batch_alter_table("guide_policies", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_guide_policies_windows"), type_="check")
        batch_op.drop_column("revisit_days")
        batch_op.drop_column("after_sale_days")

    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_fulfilments_open_code",
            sqlite_where=sa.text("status IN ('pending','ready')"),
            postgresql_where=sa.text("status IN ('pending','ready')"),
        )
        batch_op.drop_index("ix_fulfilments_order")
        batch_op.drop_index("ix_fulfilments_due")

    op.drop_table("fulfilments")
    with op.batch_alter_table("commissions", schema=None) as batch_op:
        batch_op.drop_index("uq_commissions_order")
        batch_op.drop_index("ix_commissions_guide")
        batch_op.drop_index("ix_commissions_due")

    op.drop_table("commissions")
    op.drop_table("delivery_slots")
    with op.batch_alter_table("guide_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_guide_visits_customer")

    op.drop_table("guide_visits")
    op.drop_table("commission_rules")
