"""customer birthdays and birthday coupon rules

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birthday", sa.String(length=5), nullable=True))
        batch_op.create_index("ix_customers_birthday", ["merchant_id", "birthday"], unique=False)
    with op.batch_alter_table("coupon_event_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_coupon_event_rules_event"), type_="check")
        batch_op.create_check_constraint(
            "event", "event IN ('joined','first_order','order_at_least','birthday')"
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_event_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_coupon_event_rules_event"), type_="check")
        batch_op.create_check_constraint("event", "event IN ('joined','first_order','order_at_least')")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_birthday")
        batch_op.drop_column("birthday")
