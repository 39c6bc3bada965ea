"""The console's to-do counters: what is waiting for someone in the shop right now."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoplet.db import number
from shoplet.inventory.models import StockLevel
from shoplet.membership.models import LightSettlement, SettlementStatus
from shoplet.orders.models import Fulfilment, FulfilmentMode, FulfilmentStatus
from shoplet.payments.models import Refund, RefundStatus
from shoplet.scoping import owned

LOW_STOCK = 5
"""A SKU at a location is low when fewer than this many units are free to sell."""


@dataclass(frozen=True)
class ToDo:
    pickups_waiting: int  # paid pickups ready at the counter
    refunds_to_review: int  # refunds the provider has not completed (pending) or refused (failed)
    low_stock: int  # SKU-location pairs with fewer than LOW_STOCK units free
    failed_deductions: int  # light-membership settlements retrying or overdue


def counts(session: Session, *, merchant_id: str, store_id: str | None = None) -> ToDo:
    """The counters for the whole shop, or one store (a clerk's)."""
    pickups = select(func.count()).where(
        owned(Fulfilment, merchant_id),
        Fulfilment.mode == FulfilmentMode.PICKUP,
        Fulfilment.status == FulfilmentStatus.READY,
    )
    low = select(func.count()).where(
        owned(StockLevel, merchant_id), StockLevel.on_hand - StockLevel.reserved < LOW_STOCK
    )
    if store_id is not None:
        pickups = pickups.where(Fulfilment.location_id == store_id)
        low = low.where(StockLevel.location_id == store_id)
    return ToDo(
        pickups_waiting=number(session, pickups),
        refunds_to_review=number(
            session,
            select(func.count()).where(
                owned(Refund, merchant_id), Refund.status.in_((RefundStatus.PENDING, RefundStatus.FAILED))
            ),
        ),
        low_stock=number(session, low),
        failed_deductions=number(
            session,
            select(func.count()).where(
                owned(LightSettlement, merchant_id),
                LightSettlement.status.in_((SettlementStatus.RETRYING, SettlementStatus.OVERDUE)),
            ),
        ),
    )
