"""Statuses and kinds are StrEnums whose values are exactly what the database allows."""

from __future__ import annotations

import re

import pytest

import shoplet.models  # noqa: F401  (every table)
from shoplet.campaigns.models import (
    CampaignKind,
    GroupStatus,
    PlanInterval,
    PlanMode,
    SeatStatus,
    SubscriptionStatus,
)
from shoplet.catalog.models import ProductStatus
from shoplet.coupons.models import CouponStatus, IssueJobStatus
from shoplet.db import Base
from shoplet.guides.models import BindingSource, CommissionStatus
from shoplet.inventory.models import LocationKind
from shoplet.lifecycle import Lifecycle
from shoplet.membership.models import LightStatus, PlanStatus, PointsKind, SettlementStatus
from shoplet.orders.models import FulfilmentMode, FulfilmentStatus, OrderStatus
from shoplet.payments.models import PaymentStatus, RefundStatus
from shoplet.tenancy.models import Role

COLUMNS = [
    ("products", "status", ProductStatus),
    ("staff", "role", Role),
    ("orders", "status", OrderStatus),
    ("fulfilments", "mode", FulfilmentMode),
    ("fulfilments", "status", FulfilmentStatus),
    ("points_entries", "kind", PointsKind),
    ("light_plans", "status", PlanStatus),
    ("light_memberships", "status", LightStatus),
    ("light_settlements", "status", SettlementStatus),
    ("stock_locations", "kind", LocationKind),
    ("guide_bindings", "source", BindingSource),
    ("commissions", "status", CommissionStatus),
    ("coupon_templates", "status", Lifecycle),
    ("promotions", "status", Lifecycle),
    ("coupons", "status", CouponStatus),
    ("coupon_issue_jobs", "status", IssueJobStatus),
    ("payments", "status", PaymentStatus),
    ("refunds", "status", RefundStatus),
    ("orders", "campaign_kind", CampaignKind),
    ("group_campaigns", "status", Lifecycle),
    ("buying_groups", "status", GroupStatus),
    ("group_seats", "status", SeatStatus),
    ("flash_sales", "status", Lifecycle),
    ("plans", "status", Lifecycle),
    ("plans", "interval", PlanInterval),
    ("plans", "mode", PlanMode),
    ("plan_subscriptions", "status", SubscriptionStatus),
]


def _allowed(table: str, column: str) -> set[str]:
    for constraint in Base.metadata.tables[table].constraints:
        text = str(getattr(constraint, "sqltext", ""))
        found = re.fullmatch(rf"{column} IN \(([^)]*)\)", text.strip())
        if found:
            return {v.strip().strip("'") for v in found.group(1).split(",")}
    raise AssertionError(f"no CHECK ({column} IN ...) on {table}")


@pytest.mark.parametrize(("table", "column", "enum"), COLUMNS, ids=[f"{t}.{c}" for t, c, _ in COLUMNS])
def test_the_enum_is_what_the_check_constraint_allows(table, column, enum) -> None:
    assert {m.value for m in enum} == _allowed(table, column)
