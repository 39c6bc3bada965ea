"""Daily rollups of the business events, kept by the rollup job (see ``rollups``).

Every row here can be rebuilt from ``events`` alone; days are the merchant's local days.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoplet.db import Base


class CustomerDay(Base):
    """A customer active on a day: how many events, the day's path (the letters of its
    events in time order, repeats collapsed: ``VVC`` → ``VC``), and its paid orders."""

    __tablename__ = "rollup_customer_days"
    __table_args__ = (Index("ix_rollup_customer_days_customer", "merchant_id", "customer_id", "day"),)

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    events: Mapped[int] = mapped_column()
    path: Mapped[str] = mapped_column(Text)
    paid_orders: Mapped[int] = mapped_column()
    paid_amount: Mapped[int] = mapped_column(BigInteger)


class DailyMetric(Base):
    """One number of one day: ``metric`` (gmv, orders, refunds, claimed, ...) for one value
    ``key`` of a dimension ``dim`` (all, store, host_app, guide, template, plan, outcome, kind).
    Keyed metric and dimension first: a figure reads one range of the key, its days only, and
    ``ix_rollup_daily_metrics_sums`` holds the value too, so the read never visits the table
    (on SQLite the primary key is a separate index: a sum over a month of stores cost a
    quarter more through it). The day index serves the rollup job's rebuild of one day."""

    __tablename__ = "rollup_daily_metrics"
    __table_args__ = (
        Index("ix_rollup_daily_metrics_day", "merchant_id", "day"),
        Index("ix_rollup_daily_metrics_sums", "merchant_id", "metric", "dim", "day", "key", "value"),
    )

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    dim: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class FirstSeen(Base):
    """The day a customer was first active, and the host app and entry scene they came by."""

    __tablename__ = "rollup_customers"
    __table_args__ = (Index("ix_rollup_customers_first_day", "merchant_id", "first_day"),)

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_day: Mapped[date] = mapped_column()
    host_app: Mapped[str | None] = mapped_column(String(16))
    scene: Mapped[str | None] = mapped_column(String(32))


class RetentionCell(Base):
    """Of the customers first seen on ``cohort_day``, how many were active ``days_after``
    days later (0: the cohort's size). 0–30 days."""

    __tablename__ = "rollup_retention"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    cohort_day: Mapped[date] = mapped_column(primary_key=True)
    days_after: Mapped[int] = mapped_column(primary_key=True)
    customers: Mapped[int] = mapped_column()


class PeriodActive(Base):
    """Distinct customers active in a calendar week (from Monday) or month."""

    __tablename__ = "rollup_period_actives"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    start: Mapped[date] = mapped_column(primary_key=True)
    customers: Mapped[int] = mapped_column()
