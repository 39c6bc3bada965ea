"""light memberships and settlements due: partial indexes over the rows still due

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")
TO_CHARGE = sa.text("status IN ('pending','retrying')")


def upgrade() -> None:
    op.drop_index("ix_light_memberships_due", table_name="light_memberships")
    op.create_index(
        "ix_light_memberships_due",
        "light_memberships",
        ["period_end", "id"],
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.drop_index("ix_light_settlements_due", table_name="light_settlements")
    op.create_index(
        "ix_light_settlements_due",
        "light_settlements",
        ["next_attempt_at", "id"],
        sqlite_where=TO_CHARGE,
        postgresql_where=TO_CHARGE,
    )


def downgrade() -> None:
    op.drop_index("ix_light_settlements_due", table_name="light_settlements")
    op.create_index("ix_light_settlements_due", "light_settlements", ["status", "next_attempt_at"])
    op.drop_index("ix_light_memberships_due", table_name="light_memberships")
    op.create_index("ix_light_memberships_due", "light_memberships", ["status", "period_end"])
