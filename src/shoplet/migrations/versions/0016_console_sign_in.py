"""console sign-in: staff logins and passwords, invites, console sessions

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoplet.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_sessions")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "staff_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_console_sessions_merchant_id_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_console_sessions")),
    )
    op.create_table(
        "staff_invites",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shoplet.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", shoplet.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "staff_id"],
            ["staff.merchant_id", "staff.id"],
            name=op.f("fk_staff_invites_merchant_id_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "id", name=op.f("pk_staff_invites")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("failed_signins", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint("failed_signins", "failed_signins >= 0")
        batch_op.add_column(sa.Column("locked_until", shoplet.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("uq_staff_login", ["merchant_id", "login"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index("uq_staff_login")
        batch_op.drop_constraint(op.f("ck_staff_failed_signins"), type_="check")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_signins")
        batch_op.drop_column("password_hash")
        batch_op.drop_column("login")

    op.drop_table("staff_invites")
    op.drop_table("console_sessions")
    op.drop_table("platform_sessions")
