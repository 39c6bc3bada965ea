"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:24:20.383632
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_categories")),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index("uq_categories_code", ["merchant_id", "code"], unique=True)

    op.create_table(
        "customers",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index("uq_customers_phone", ["merchant_id", "phone"], unique=True)

    op.create_table(
        "idempotency_records",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "scope", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "merchants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
    )
    op.create_table(
        "outbox_events",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_events_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "payment_notifications",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("notify_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "merchant_id", "provider", "notify_id", name=op.f("pk_payment_notifications")
        ),
    )
    op.create_table(
        "sandbox_refunds",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("trade_no", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "out_refund_no", name=op.f("pk_sandbox_refunds")),
    )
    op.create_table(
        "sandbox_trades",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("trade_no", sa.String(length=64), nullable=False),
        sa.Column("out_trade_no", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("notify_url", sa.String(length=500), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name=op.f("ck_sandbox_trades_refunds")
        ),
        sa.PrimaryKeyConstraint("merchant_id", "trade_no", name=op.f("pk_sandbox_trades")),
    )
    with op.batch_alter_table("sandbox_trades", schema=None) as batch_op:
        batch_op.create_index("uq_sandbox_trades_out_trade_no", ["merchant_id", "out_trade_no"], unique=True)
        batch_op.create_index("uq_sandbox_trades_trade_no", ["trade_no"], unique=True)

    op.create_table(
        "staff",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role <> 'clerk' OR store_id IS NOT NULL", name=op.f("ck_staff_clerk_has_store")),
        sa.CheckConstraint("role IN ('admin','operator','clerk','guide')", name=op.f("ck_staff_role")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_staff")),
    )
    op.create_table(
        "stock_locations",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('store','warehouse')", name=op.f("ck_stock_locations_kind")),
        sa.CheckConstraint("operation IN ('direct','franchise')", name=op.f("ck_stock_locations_operation")),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_stock_locations")),
    )
    with op.batch_alter_table("stock_locations", schema=None) as batch_op:
        batch_op.create_index("uq_stock_locations_code", ["merchant_id", "code"], unique=True)

    op.create_table(
        "stock_movements",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("sku_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("on_hand_delta", sa.Integer(), nullable=False),
        sa.Column("reserved_delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_stock_movements")),
    )
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stock_movements_level", ["merchant_id", "location_id", "sku_id"], unique=False
        )

    op.create_table(
        "api_keys",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "staff_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_api_keys_merchant_id_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "customer_identities",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("host_app", sa.String(length=16), nullable=False),
        sa.Column("host_user_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_customer_identities_merchant_id_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "host_app", "host_user_id", name=op.f("pk_customer_identities")
        ),
    )
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.create_index("ix_customer_identities_customer", ["merchant_id", "customer_id"], unique=False)

    op.create_table(
        "customer_sessions",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("host_app", sa.String(length=16), nullable=False),
        sa.Column("scene", sa.String(length=32), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_customer_sessions_merchant_id_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_customer_sessions")),
    )
    op.create_table(
        "members",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("host_app", sa.String(length=16), nullable=True),
        sa.Column("scene", sa.String(length=32), nullable=True),
        sa.Column("first_order_id", sa.String(length=32), nullable=True),
        sa.Column("joined_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_members_merchant_id_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "customer_id", name=op.f("pk_members")),
    )
    op.create_table(
        "orders",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.Integer(), nullable=False),
        sa.Column("discount", sa.Integer(), nullable=False),
        sa.Column("delivery_fee", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("paid_amount", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("host_app", sa.String(length=16), nullable=True),
        sa.Column("scene", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("pricing", sa.JSON(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_payment','paid','fulfilled','cancelled')", name=op.f("ck_orders_status")
        ),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= paid_amount", name=op.f("ck_orders_refunds")
        ),
        sa.CheckConstraint("total >= 0 AND subtotal >= 0 AND discount >= 0", name=op.f("ck_orders_amounts")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.id"],
            name=op.f("fk_orders_merchant_id_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "location_id"],
            ["stock_locations.merchant_id", "stock_locations.id"],
            name=op.f("fk_orders_merchant_id_location_id_stock_locations"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_customer", ["merchant_id", "customer_id"], unique=False)
        batch_op.create_index("ix_orders_status_expiry", ["status", "expires_at"], unique=False)

    op.create_table(
        "products",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category_id", sa.String(length=32), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active','archived')", name=op.f("ck_products_status")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "category_id"],
            ["categories.merchant_id", "categories.id"],
            name=op.f("fk_products_merchant_id_category_id_categories"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_products")),
    )
    op.create_table(
        "order_lines",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=400), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("subtotal", sa.Integer(), nullable=False),
        sa.Column("discount", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("refunded_quantity", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity")),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= total", name=op.f("ck_order_lines_refunded_amount")
        ),
        sa.CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name=op.f("ck_order_lines_refunded_quantity"),
        ),
        sa.CheckConstraint("total >= 0 AND discount >= 0", name=op.f("ck_order_lines_amounts")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"],
            ["orders.merchant_id", "orders.id"],
            name=op.f("fk_order_lines_merchant_id_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_order_lines")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index("ix_order_lines_order", ["merchant_id", "order_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_trade_no", sa.String(length=64), nullable=True),
        sa.Column("pay_params", sa.JSON(), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending','paid','closed')", name=op.f("ck_payments_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"],
            ["orders.merchant_id", "orders.id"],
            name=op.f("fk_payments_merchant_id_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_order", ["merchant_id", "order_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("delivery_fee", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("restock", sa.Boolean(), nullable=False),
        sa.Column("provider_refund_no", sa.String(length=64), nullable=True),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending','succeeded','failed')", name=op.f("ck_refunds_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"],
            ["orders.merchant_id", "orders.id"],
            name=op.f("fk_refunds_merchant_id_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_refunds")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_order", ["merchant_id", "order_id"], unique=False)

    op.create_table(
        "skus",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("list_price", sa.Integer(), nullable=False),
        sa.Column("member_price", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("list_price >= 0", name=op.f("ck_skus_list_price")),
        sa.CheckConstraint("member_price IS NULL OR member_price >= 0", name=op.f("ck_skus_member_price")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name=op.f("fk_skus_merchant_id_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_skus")),
    )
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.create_index("ix_skus_product", ["merchant_id", "product_id"], unique=False)
        batch_op.create_index("uq_skus_code", ["merchant_id", "code"], unique=True)

    op.create_table(
        "cart_items",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("sku_id", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_items_quantity")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "sku_id"],
            ["skus.merchant_id", "skus.id"],
            name=op.f("fk_cart_items_merchant_id_sku_id_skus"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "customer_id", "sku_id", name=op.f("pk_cart_items")),
    )
    op.create_table(
        "refund_lines",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("refund_id", sa.String(length=32), nullable=False),
        sa.Column("order_line_id", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 0 AND amount >= 0", name=op.f("ck_refund_lines_amounts")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "refund_id"],
            ["refunds.merchant_id", "refunds.id"],
            name=op.f("fk_refund_lines_merchant_id_refund_id_refunds"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "refund_id", "order_line_id", name=op.f("pk_refund_lines")),
    )
    op.create_table(
        "stock_levels",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=False),
        sa.Column("sku_id", sa.String(length=32), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_stock_levels_on_hand_not_negative")),
        sa.CheckConstraint("reserved <= on_hand", name=op.f("ck_stock_levels_reserved_within_on_hand")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_stock_levels_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "location_id"],
            ["stock_locations.merchant_id", "stock_locations.id"],
            name=op.f("fk_stock_levels_merchant_id_location_id_stock_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "sku_id"],
            ["skus.merchant_id", "skus.id"],
            name=op.f("fk_stock_levels_merchant_id_sku_id_skus"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "location_id", "sku_id", name=op.f("pk_stock_levels")),
    )


def downgrade() -> None:
    op.drop_table("stock_levels")
    op.drop_table("refund_lines")
    op.drop_table("cart_items")
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index("uq_skus_code")
        batch_op.drop_index("ix_skus_product")

    op.drop_table("skus")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_order")

    op.drop_table("refunds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_order")

    op.drop_table("payments")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_order")

    op.drop_table("order_lines")
    op.drop_table("products")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_expiry")
        batch_op.drop_index("ix_orders_customer")

    op.drop_table("orders")
    op.drop_table("members")
    op.drop_table("customer_sessions")
    with op.batch_alter_table("customer_identities", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_identities_customer")

    op.drop_table("customer_identities")
    op.drop_table("api_keys")
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_movements_level")

    op.drop_table("stock_movements")
    with op.batch_alter_table("stock_locations", schema=None) as batch_op:
        batch_op.drop_index("uq_stock_locations_code")

    op.drop_table("stock_locations")
    op.drop_table("staff")
    with op.batch_alter_table("sandbox_trades", schema=None) as batch_op:
        batch_op.drop_index("uq_sandbox_trades_trade_no")
        batch_op.drop_index("uq_sandbox_trades_out_trade_no")

    op.drop_table("sandbox_trades")
    op.drop_table("sandbox_refunds")
    op.drop_table("payment_notifications")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_events_due")

    op.drop_table("outbox_events")
    op.drop_table("merchants")
    op.drop_table("idempotency_records")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("uq_customers_phone")

    op.drop_table("customers")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index("uq_categories_code")

    op.drop_table("categories")
