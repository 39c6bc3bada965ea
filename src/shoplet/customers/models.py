"""Customers, the host-app identities they are reachable through, and their sessions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base, TenantMixin, utcnow

HOST_APPS = (
    "alipay",
    "taobao",
    "tmall",
    "weibo",
    "amap",
    "eleme",
    "dingtalk",
    "wechat",
    "h5",
    "pos",
)


class Customer(TenantMixin, Base):
    """One person per merchant, whichever host apps they come through."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("uq_customers_phone", "merchant_id", "phone", unique=True),
        Index("ix_customers_birthday", "merchant_id", "birthday"),
    )

    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    birthday: Mapped[str | None] = mapped_column(String(5))  # "MM-DD": birthday coupons, no year kept
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerIdentity(Base):
    """A host app's user id linked to a customer (Alipay uid, Taobao nick, H5 visitor...)."""

    __tablename__ = "customer_identities"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        Index("ix_customer_identities_customer", "merchant_id", "customer_id"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host_app: Mapped[str] = mapped_column(String(16), primary_key=True)
    host_user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerSession(TenantMixin, Base):
    """A signed-in customer in one host app; the token's secret is stored hashed."""

    __tablename__ = "customer_sessions"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
    )

    customer_id: Mapped[str] = mapped_column(String(32))
    host_app: Mapped[str] = mapped_column(String(16))
    scene: Mapped[str | None] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class Follower(Base):
    """A customer following the merchant's life account (生活号); unfollowing keeps the row
    (``unfollowed_at``) so a later follow is a return, not a new follower."""

    __tablename__ = "followers"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        # The weekly push cap (SPEC L2) as the database's own rule too.
        CheckConstraint("pushes_this_week >= 0 AND pushes_this_week <= 3", name="pushes_this_week"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host_app: Mapped[str] = mapped_column(String(16))
    followed_at: Mapped[datetime] = mapped_column()
    unfollowed_at: Mapped[datetime | None] = mapped_column()
    # Pushes that reached this follower in the natural week starting ``push_week`` (a Monday
    # in the merchant's time zone): a conditional counter, raised only while below the cap.
    push_week: Mapped[date | None] = mapped_column(Date)
    pushes_this_week: Mapped[int] = mapped_column(default=0, server_default="0")


class Member(Base):
    """A customer enrolled in the merchant's membership, with where they joined from.

    The membership domain writes it (tiers, growth, points); it lives beside the customer
    because every view of a customer shows it."""

    __tablename__ = "members"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id", "customer_id"], ["customers.merchant_id", "customers.id"]),
        CheckConstraint("points_balance >= 0", name="points_balance"),
        CheckConstraint("growth >= 0", name="growth"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32), default="base")
    host_app: Mapped[str | None] = mapped_column(String(16))
    scene: Mapped[str | None] = mapped_column(String(32))
    first_order_id: Mapped[str | None] = mapped_column(String(32))
    joined_at: Mapped[datetime] = mapped_column()
    # 64-bit: growth and points accumulate over every order a customer ever pays.
    growth: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
