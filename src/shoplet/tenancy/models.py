"""Merchants (tenants), their staff and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow


class MerchantStatus(StrEnum):
    """A merchant's status. Stored as these strings."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # by the platform operator: no credential of the shop works


class Role(StrEnum):
    """A staff member's role (admin may do everything). Stored as these strings."""

    ADMIN = "admin"
    OPERATOR = "operator"
    CLERK = "clerk"
    GUIDE = "guide"


class Merchant(Base):
    """A tenant: a brand or a shop. Its id leads the key of every row it owns."""

    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Staff(TenantMixin, Base):
    """A merchant user: admin, operator (marketing), clerk (bound to a store) or guide."""

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint("role IN ('admin','operator','clerk','guide')", name="role"),
        CheckConstraint("role <> 'clerk' OR store_id IS NOT NULL", name="clerk_has_store"),
        CheckConstraint("failed_signins >= 0", name="failed_signins"),
        Index("uq_staff_login", "merchant_id", "login", unique=True),
    )

    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Console sign-in: a login unique in the shop, an argon2 hash, and the lockout counter.
    login: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_signins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column()

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


class ApiKey(TenantMixin, Base):
    """A server credential. The secret is stored as a SHA-256 hash and shown once.

    A key bound to a staff member acts with that member's role; an unbound key is an
    admin key of the merchant.
    """

    __tablename__ = "api_keys"
    __table_args__ = (ForeignKeyConstraint(["merchant_id", "staff_id"], ["staff.merchant_id", "staff.id"]),)

    name: Mapped[str] = mapped_column(String(200))
    staff_id: Mapped[str | None] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class StaffInvite(TenantMixin, Base):
    """A one-time link with which a staff member sets their own password. The secret is
    stored as a SHA-256 hash; the link works once, until it expires."""

    __tablename__ = "staff_invites"
    __table_args__ = (ForeignKeyConstraint(["merchant_id", "staff_id"], ["staff.merchant_id", "staff.id"]),)

    staff_id: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class ConsoleSession(TenantMixin, Base):
    """A staff member signed in to the console. The cookie carries the id and a secret whose
    SHA-256 hash is kept here; ``csrf`` is the token every form and HTMX request must echo."""

    __tablename__ = "console_sessions"
    __table_args__ = (ForeignKeyConstraint(["merchant_id", "staff_id"], ["staff.merchant_id", "staff.id"]),)

    staff_id: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class PlatformSession(Base):
    """The platform operator signed in to the console (with the platform key)."""

    __tablename__ = "platform_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
