"""fulfilment delivery paid

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _share(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split, as checkout does it (ties: earlier part)."""
    whole = sum(weights)
    if not total or not whole:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _backfill() -> None:
    """Each part of an order that paid delivery gets its share of the fee, by its own fee."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT o.merchant_id, o.id, o.delivery_fee, f.id, f.fee FROM orders o JOIN fulfilments f "
            "ON f.merchant_id = o.merchant_id AND f.order_id = o.id WHERE o.delivery_fee > 0 "
            "ORDER BY o.merchant_id, o.id, f.created_at, f.id"
        )
    ).all()
    parts: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    for merchant_id, order_id, paid, fulfilment_id, fee in rows:
        parts.setdefault((merchant_id, order_id), []).append((paid, fulfilment_id, fee))
    update = sa.text("UPDATE fulfilments SET delivery_paid = :paid WHERE merchant_id = :m AND id = :f")
    for (merchant_id, _), found in parts.items():
        for (_, fulfilment_id, _), share in zip(
            found, _share(found[0][0], [fee for _, _, fee in found]), strict=True
        ):
            if share:
                bind.execute(update, {"paid": share, "m": merchant_id, "f": fulfilment_id})


def upgrade() -> None:
    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_paid", sa.Integer(), nullable=False, server_default="0"))
    _backfill()
    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.create_check_constraint("delivery_paid", "delivery_paid >= 0 AND delivery_paid <= fee")


def downgrade() -> None:
    with op.batch_alter_table("fulfilments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_fulfilments_delivery_paid"), type_="check")
        batch_op.drop_column("delivery_paid")
