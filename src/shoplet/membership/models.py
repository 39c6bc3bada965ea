"""Members of a merchant (P4: paying once makes a member)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base


class Member(Base):
    """A customer enrolled in the merchant's membership, with where they joined from."""

    __tablename__ = "members"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]
        ),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32), default="base")
    host_app: Mapped[str | None] = mapped_column(String(16))
    scene: Mapped[str | None] = mapped_column(String(32))
    first_order_id: Mapped[str | None] = mapped_column(String(32))
    joined_at: Mapped[datetime] = mapped_column()
