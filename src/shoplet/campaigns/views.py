"""What the storefront and the console show of the campaigns: groups with their members by
masked name (read in batches), and each campaign's figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shoplet.campaigns import service
from shoplet.campaigns.flash import items_of
from shoplet.campaigns.models import (
    BuyingGroup,
    CampaignQuota,
    FlashSale,
    GroupSeat,
    GroupStatus,
    PlanSubscription,
    SeatStatus,
)
from shoplet.customers.models import Customer
from shoplet.db import by_key
from shoplet.errors import NotFound
from shoplet.scoping import owned, scoped


def groups_view(
    session: Session, merchant_id: str, rows: list[BuyingGroup], now: datetime
) -> list[dict[str, Any]]:
    """Groups as a customer sees them: seats left, time left, members by masked name (the
    seats and the members' names of every group read in one statement each)."""
    ids = [g.id for g in rows]
    seats: dict[str, list[GroupSeat]] = {i: [] for i in ids}
    if ids:
        for seat in session.scalars(
            scoped(GroupSeat, merchant_id)
            .where(GroupSeat.group_id.in_(ids), GroupSeat.status.in_((SeatStatus.HELD, SeatStatus.PAID)))
            .order_by(GroupSeat.created_at, GroupSeat.id)
        ):
            seats[seat.group_id].append(seat)
    members = {seat.customer_id for group_seats in seats.values() for seat in group_seats}
    names = (
        {c.id: c.name for c in session.scalars(scoped(Customer, merchant_id).where(Customer.id.in_(members)))}
        if members
        else {}
    )
    out = []
    for group in rows:
        left = 0
        if group.status == GroupStatus.OPEN and group.expires_at is not None:
            left = max(0, int((group.expires_at - now).total_seconds()))
        forming = group.status in (GroupStatus.PENDING, GroupStatus.OPEN)
        out.append(
            {
                "id": group.id,
                "campaign_id": group.campaign_id,
                "status": group.status,
                "size": group.size,
                "seats_taken": group.taken,
                "seats_paid": group.paid,
                "seats_left": group.size - group.taken if forming else 0,
                "virtual_seats": group.virtual,
                "opened_at": group.opened_at,
                "expires_at": group.expires_at,
                "seconds_left": left,
                "members": [
                    {
                        "name": service.masked(names.get(seat.customer_id)),
                        "leader": seat.leader,
                        "paid": seat.status == SeatStatus.PAID,
                    }
                    for seat in seats[group.id]
                ],
            }
        )
    return out


def group_view(session: Session, group: BuyingGroup, now: datetime) -> dict[str, Any]:
    return groups_view(session, group.merchant_id, [group], now)[0]


def get_group(session: Session, merchant_id: str, group_id: str) -> BuyingGroup:
    group = by_key(session, BuyingGroup, (merchant_id, group_id))
    if group is None:
        raise NotFound("group.not_found", "No such group.")
    return group


def group_figures(session: Session, merchant_id: str, campaign_id: str) -> dict[str, Any]:
    """Groups opened, succeeded, failed and the conversion; units sold and paid orders."""
    rows = dict(
        session.execute(
            select(BuyingGroup.status, func.count())
            .where(owned(BuyingGroup, merchant_id), BuyingGroup.campaign_id == campaign_id)
            .group_by(BuyingGroup.status)
        ).all()
    )
    opened = sum(rows.get(s, 0) for s in ("open", "succeeded", "failed"))
    succeeded, failed = rows.get("succeeded", 0), rows.get("failed", 0)
    paid_seats = session.scalar(
        select(func.count()).where(
            owned(GroupSeat, merchant_id),
            GroupSeat.campaign_id == campaign_id,
            GroupSeat.status == SeatStatus.PAID,
        )
    )
    return {
        "groups_opened": opened,
        "groups_open": rows.get("open", 0),
        "groups_succeeded": succeeded,
        "groups_failed": failed,
        "conversion": round(succeeded / opened, 4) if opened else None,
        "paid_seats": int(paid_seats or 0),
    }


def flash_figures(session: Session, merchant_id: str, sale: FlashSale) -> dict[str, Any]:
    """Per item: stock, sold, paid units and sell-out time (seconds after the sale began)."""
    items = items_of(session, merchant_id, [sale.id])[sale.id]
    buyers = dict(
        session.execute(
            select(CampaignQuota.campaign_id, func.count())
            .where(
                owned(CampaignQuota, merchant_id),
                CampaignQuota.campaign_id.in_([i.id for i in items]),
                CampaignQuota.taken > 0,
            )
            .group_by(CampaignQuota.campaign_id)
        ).all()
    )
    return {
        "items": [
            {
                "item_id": i.id,
                "sku_id": i.sku_id,
                "stock": i.stock,
                "sold": i.sold,
                "buyers": int(buyers.get(i.id, 0)),
                "sold_out_at": i.sold_out_at,
                "sell_out_seconds": int((i.sold_out_at - sale.starts_at).total_seconds())
                if i.sold_out_at
                else None,
            }
            for i in items
        ],
        "sold": sum(i.sold for i in items),
        "stock": sum(i.stock for i in items),
    }


def plan_figures(session: Session, merchant_id: str, plan_id: str) -> dict[str, Any]:
    rows = dict(
        session.execute(
            select(PlanSubscription.status, func.count())
            .where(owned(PlanSubscription, merchant_id), PlanSubscription.plan_id == plan_id)
            .group_by(PlanSubscription.status)
        ).all()
    )
    delivered = session.scalar(
        select(func.coalesce(func.sum(PlanSubscription.delivered), 0)).where(
            owned(PlanSubscription, merchant_id), PlanSubscription.plan_id == plan_id
        )
    )
    return {
        "subscriptions_active": rows.get("active", 0) + rows.get("paused", 0),
        "subscriptions_paused": rows.get("paused", 0),
        "subscriptions_completed": rows.get("completed", 0),
        "subscriptions_cancelled": rows.get("cancelled", 0),
        "deliveries_made": int(delivered or 0),
    }
