"""points, growth and light-membership enjoyed as 64-bit integers

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Balances and running totals that grow with every order a customer pays.
COLUMNS = {
    "members": ["growth", "points_balance"],
    "member_tier_changes": ["growth"],
    "growth_entries": ["delta"],
    "points_lots": ["amount", "remaining"],
    "points_entries": ["delta", "balance_after"],
    "light_memberships": ["enjoyed"],
    "light_settlements": ["enjoyed"],
}


def _retype(old: type, new: type) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old(), type_=new(), existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer, sa.BigInteger)


def downgrade() -> None:
    _retype(sa.BigInteger, sa.Integer)
