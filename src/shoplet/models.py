"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from shoplet.analytics.models import CustomerDay, DailyMetric, FirstSeen, PeriodActive, RetentionCell
from shoplet.catalog.models import Category, Product, Sku
from shoplet.coupons.models import (
    Coupon,
    CouponClaimCount,
    CouponCode,
    CouponEventGrant,
    CouponEventRule,
    CouponIssueJob,
    CouponPackGrant,
    CouponTemplate,
    PointsMallItem,
)
from shoplet.customers.models import Customer, CustomerIdentity, CustomerSession, Follower
from shoplet.db import Base
from shoplet.events import Event, EventQueue
from shoplet.guides.models import (
    Commission,
    CommissionRule,
    GuideBinding,
    GuideBindingChange,
    GuideCouponQuota,
    GuidePolicy,
    GuideVisit,
)
from shoplet.idempotency import IdempotencyRecord
from shoplet.inventory.models import StockLevel, StockLocation, StockMovement, StockTransfer
from shoplet.membership.models import (
    GrowthEntry,
    LightBenefit,
    LightMembership,
    LightPlan,
    LightSettlement,
    LoyaltySettings,
    Member,
    PointsEntry,
    PointsLot,
    Tier,
    TierChange,
)
from shoplet.orders.models import CartItem, DeliverySlot, Fulfilment, Order, OrderLine
from shoplet.outbox import OutboxEvent
from shoplet.payments.models import (
    InstallationSecret,
    Payment,
    PaymentNotification,
    Refund,
    RefundLine,
    SandboxAgreement,
    SandboxAgreementCharge,
    SandboxRefund,
    SandboxTrade,
)
from shoplet.promotions.models import Promotion
from shoplet.tenancy.models import ApiKey, ConsoleSession, Merchant, PlatformSession, Staff, StaffInvite

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "ConsoleSession",
    "PlatformSession",
    "StaffInvite",
    "CartItem",
    "Commission",
    "CommissionRule",
    "DeliverySlot",
    "Fulfilment",
    "GuideVisit",
    "Coupon",
    "CouponClaimCount",
    "CouponCode",
    "CouponEventGrant",
    "CouponEventRule",
    "CouponIssueJob",
    "CouponPackGrant",
    "PointsMallItem",
    "GrowthEntry",
    "LightBenefit",
    "LightMembership",
    "LightPlan",
    "LightSettlement",
    "LoyaltySettings",
    "PointsEntry",
    "PointsLot",
    "SandboxAgreement",
    "SandboxAgreementCharge",
    "Tier",
    "TierChange",
    "CouponTemplate",
    "Category",
    "CustomerDay",
    "DailyMetric",
    "Event",
    "EventQueue",
    "FirstSeen",
    "PeriodActive",
    "RetentionCell",
    "Customer",
    "CustomerIdentity",
    "CustomerSession",
    "Follower",
    "GuideBinding",
    "GuideBindingChange",
    "GuideCouponQuota",
    "GuidePolicy",
    "IdempotencyRecord",
    "InstallationSecret",
    "Member",
    "Merchant",
    "Order",
    "OrderLine",
    "OutboxEvent",
    "Payment",
    "PaymentNotification",
    "Product",
    "Promotion",
    "Refund",
    "RefundLine",
    "SandboxRefund",
    "SandboxTrade",
    "Sku",
    "Staff",
    "StockLevel",
    "StockLocation",
    "StockMovement",
    "StockTransfer",
    "metadata",
]
