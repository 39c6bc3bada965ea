"""order end states (refunded, closed) and installation secrets

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = "status IN ('pending_payment','paid','fulfilled','refunded','closed','cancelled')"
OLD = "status IN ('pending_payment','paid','fulfilled','cancelled')"


def upgrade() -> None:
    op.create_table(
        "installation_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_installation_secrets")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint("status", NEW)
    # Orders whose every unit was refunded end: closed when their pickup expired uncollected.
    op.execute(
        sa.text(
            "UPDATE orders SET status = CASE WHEN EXISTS (SELECT 1 FROM fulfilments f WHERE "
            "f.merchant_id = orders.merchant_id AND f.order_id = orders.id AND f.status = 'expired') "
            "AND NOT EXISTS (SELECT 1 FROM fulfilments f WHERE f.merchant_id = orders.merchant_id AND "
            "f.order_id = orders.id AND f.status IN ('done','pending','ready')) THEN 'closed' ELSE 'refunded' END "
            "WHERE status IN ('paid','fulfilled') AND NOT EXISTS (SELECT 1 FROM order_lines l WHERE "
            "l.merchant_id = orders.merchant_id AND l.order_id = orders.id AND l.refunded_quantity < l.quantity)"
        )
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE orders SET status = CASE WHEN fulfilled_at IS NULL THEN 'paid' ELSE 'fulfilled' END "
            "WHERE status IN ('refunded','closed')"
        )
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint("status", OLD)
    op.drop_table("installation_secrets")
