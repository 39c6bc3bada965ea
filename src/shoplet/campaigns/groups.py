"""Group buying (拼团, SPEC S3): campaigns, groups and seats.

A leader opens a group by buying (the group is ``pending`` until the leader pays, then
``open`` with its time limit running); others join an open group by buying. Every seat is
taken when the order is created and held until it is paid or its order is cancelled:

- the campaign's units, ``UPDATE … SET sold = sold + q WHERE sold + q <= stock``;
- the customer's units, an upsert whose WHERE is the per-customer limit;
- the group's seat, ``UPDATE … SET taken = taken + 1 WHERE status = 'open' AND taken < size``
  — the last seat is never sold twice — and the seat row, unique per member while held or
  paid (a customer joins a group once).

When the last seat is paid the group succeeds and its orders go on to fulfilment (they
wait until then). At the time limit (:func:`close_due`) unpaid seats' orders are cancelled,
then the group completes with virtual seats where the campaign allows, or fails: its
status moves once (a conditional UPDATE), and in that same transaction every paid
member's order is refunded in full — each by its own refund, so exactly once per member.
Money arriving for a seat no longer held finds its order cancelled and is refunded by the
payments domain; a member who refunds before success frees the seat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shoplet import outbox
from shoplet.campaigns import service
from shoplet.campaigns.models import (
    BuyingGroup,
    CampaignKind,
    GroupCampaign,
    GroupSeat,
    GroupStatus,
    SeatStatus,
)
from shoplet.db import Database, by_key, changed, insert_new, new_id
from shoplet.errors import Conflict, NotFound
from shoplet.events import EventKind, Fact, record_many
from shoplet.orders import checkout, routing
from shoplet.orders import fulfilment as fulfilments
from shoplet.orders import service as orders
from shoplet.orders.checkout import Placed
from shoplet.orders.models import Order, OrderStatus
from shoplet.orders.pricing import Campaign, CartPricer
from shoplet.orders.schemas import OrderOut
from shoplet.payments.refunds import request_refund
from shoplet.payments.service import REFUND_TOPIC
from shoplet.scoping import get_owned, owned, scoped, transition

log = logging.getLogger(__name__)

# --- campaigns ---------------------------------------------------------------------------


def create_campaign(
    session: Session, *, merchant_id: str, fields: dict[str, Any], now: datetime
) -> GroupCampaign:
    service.sellable_sku(session, merchant_id, fields["sku_id"])
    service.check_window(fields["starts_at"], fields["ends_at"])
    campaign = GroupCampaign(
        merchant_id=merchant_id,
        id=new_id("gbc"),
        sold=0,
        status="active",
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, merchant_id: str, campaign_id: str) -> GroupCampaign:
    return get_owned(
        session, GroupCampaign, merchant_id, campaign_id, what="Group-buy campaign", code="group_campaign"
    )


def running(campaign: GroupCampaign, now: datetime) -> None:
    """Refuse a buy outside the campaign's window or while it is paused or stopped."""
    if campaign.status != "active" or now < campaign.starts_at:
        raise service.not_running("group-buy campaign")
    if now >= campaign.ends_at:
        raise Conflict("campaign.over", "This group-buy campaign is over.")


# --- buying ------------------------------------------------------------------------------

_TAKE_STOCK = (
    update(GroupCampaign)
    .where(
        owned(GroupCampaign, bindparam("m")),
        GroupCampaign.id == bindparam("key"),
        GroupCampaign.status == service.ACTIVE,
        GroupCampaign.sold + bindparam("q") <= GroupCampaign.stock,
    )
    .values(sold=GroupCampaign.sold + bindparam("q"))
)
_GIVE_STOCK = (
    update(GroupCampaign)
    .where(
        owned(GroupCampaign, bindparam("m")),
        GroupCampaign.id == bindparam("key"),
        GroupCampaign.sold >= bindparam("q"),
    )
    .values(sold=GroupCampaign.sold - bindparam("q"))
)
_TAKE_SEAT = (
    update(BuyingGroup)
    .where(
        owned(BuyingGroup, bindparam("m")),
        BuyingGroup.id == bindparam("key"),
        BuyingGroup.status == GroupStatus.OPEN,
        BuyingGroup.taken < BuyingGroup.size,
        BuyingGroup.expires_at > bindparam("now"),
    )
    .values(taken=BuyingGroup.taken + 1)
)


@dataclass(frozen=True)
class Buy:
    """A customer's group buy: open a group (``group_id`` None) or join one."""

    campaign_id: str
    group_id: str | None
    quantity: int
    location_id: str
    fulfilment: routing.Request | None = None
    coupon_ids: list[str] | None = None


def buy(
    db: Database,
    *,
    merchant_id: str,
    customer_id: str,
    scope: str,
    request: Buy,
    pricer: CartPricer,
    host_app: str | None,
    scene: str | None,
    now: datetime,
    idempotency_key: str | None,
    payload: dict[str, Any],
) -> OrderOut:
    """Open a group (the leader's order) or join one; returns the order to pay."""
    with db.unit_of_work(write=False) as s:
        campaign = get_campaign(s, merchant_id, request.campaign_id)
        s.expunge(campaign)
    opening = request.group_id is None
    group_id = request.group_id or new_id("grp")

    def check(s: Session) -> None:
        running(campaign, now)
        if request.quantity > campaign.per_customer_limit:
            raise Conflict(
                "group.over_limit",
                f"At most {campaign.per_customer_limit} per customer in this group-buy.",
            )
        if campaign.sold + request.quantity > campaign.stock:
            raise Conflict("group.sold_out", "This group-buy is sold out.")
        if not opening:
            group = _joinable(s, merchant_id, campaign.id, group_id, now)
            seat = s.scalar(
                scoped(GroupSeat, merchant_id).where(
                    GroupSeat.group_id == group.id,
                    GroupSeat.customer_id == customer_id,
                    GroupSeat.status.in_((SeatStatus.HELD, SeatStatus.PAID)),
                )
            )
            if seat is not None:
                raise Conflict("group.already_member", "You are already in this group.")

    def take(s: Session, placed: Placed) -> None:
        order = placed.order
        q = request.quantity
        if not changed(s.execute(_TAKE_STOCK, {"m": merchant_id, "key": campaign.id, "q": q})):
            raise Conflict("group.sold_out", "This group-buy is sold out.")
        if not service.take_quota(
            s,
            merchant_id=merchant_id,
            campaign_id=campaign.id,
            customer_id=customer_id,
            quantity=q,
            limit=campaign.per_customer_limit,
        ):
            raise Conflict(
                "group.over_limit", f"At most {campaign.per_customer_limit} per customer in this group-buy."
            )
        if opening:
            opened = insert_new(
                s,
                BuyingGroup,
                [
                    {
                        "merchant_id": merchant_id,
                        "id": group_id,
                        "campaign_id": campaign.id,
                        "leader_id": customer_id,
                        "size": campaign.group_size,
                        "taken": 1,
                        "paid": 0,
                        "virtual": 0,
                        "status": GroupStatus.PENDING.value,
                        "created_at": now,
                        "opened_at": None,
                        "expires_at": None,
                        "closed_at": None,
                    }
                ],
            )
            if not opened:
                raise Conflict(
                    "group.already_leading",
                    "You already lead an unfinished group in this campaign; share it instead.",
                )
        elif not changed(s.execute(_TAKE_SEAT, {"m": merchant_id, "key": group_id, "now": now})):
            group = by_key(s, BuyingGroup, (merchant_id, group_id))
            if group is not None and group.status == GroupStatus.OPEN and group.taken >= group.size:
                raise Conflict("group.full", "This group is full.")
            raise Conflict("group.closed", "This group is no longer taking members.")
        seated = insert_new(
            s,
            GroupSeat,
            [
                {
                    "merchant_id": merchant_id,
                    "id": new_id("seat"),
                    "group_id": group_id,
                    "campaign_id": campaign.id,
                    "customer_id": customer_id,
                    "order_id": order.id,
                    "quantity": q,
                    "leader": opening,
                    "status": SeatStatus.HELD.value,
                    "created_at": now,
                    "paid_at": None,
                }
            ],
        )
        if not seated:
            raise Conflict("group.already_member", "You are already in this group.")

    return checkout.place_order(
        db,
        merchant_id=merchant_id,
        customer_id=customer_id,
        scope=scope,
        operation=f"group:{campaign.id}:{request.group_id or 'open'}",
        payload=payload,
        idempotency_key=idempotency_key,
        location_id=request.location_id,
        items=[(campaign.sku_id, request.quantity)],
        campaign=Campaign(
            kind=CampaignKind.GROUP,
            ref=group_id,
            price_kind="group_price",
            rule_id=campaign.id,
            sku_id=campaign.sku_id,
            price=campaign.price,
            coupons=campaign.coupons,
        ),
        pricer=pricer,
        host_app=host_app,
        scene=scene,
        timeout=timedelta(minutes=campaign.pay_minutes),
        now=now,
        coupon_ids=request.coupon_ids if campaign.coupons else [],
        fulfilment=request.fulfilment,
        check=check,
        take=take,
    )


def _member_fact(kind: str, order: Any, group_id: str, amount: int, now: datetime) -> Fact:
    """How a group ended for one member's order (one event per order: messaged once each)."""
    return Fact(
        kind=kind,
        occurred_at=now,
        id=f"{kind}:{order.id}",
        customer_id=order.customer_id,
        host_app=order.host_app,
        store_id=order.location_id,
        subject_id=group_id,
        ref=order.id,
        amount=amount,
    )


def _joinable(
    session: Session, merchant_id: str, campaign_id: str, group_id: str, now: datetime
) -> BuyingGroup:
    group = by_key(session, BuyingGroup, (merchant_id, group_id))
    if group is None or group.campaign_id != campaign_id:
        raise NotFound("group.not_found", "No such group.")
    if group.status != GroupStatus.OPEN or (group.expires_at is not None and group.expires_at <= now):
        raise Conflict("group.closed", "This group is no longer taking members.")
    if group.taken >= group.size:
        raise Conflict("group.full", "This group is full.")
    return group


# --- what happens to the orders (order_hooks) --------------------------------------------

_SEAT_OF = select(GroupSeat).where(owned(GroupSeat, bindparam("m")), GroupSeat.order_id == bindparam("o"))
_SEAT_PAID = transition(
    GroupSeat, GroupSeat.status == SeatStatus.HELD, status="paid", paid_at=bindparam("at")
)
_SEAT_MOVE = transition(GroupSeat, GroupSeat.status == bindparam("was"), status=bindparam("to"))
_OPEN_GROUP = transition(
    BuyingGroup,
    BuyingGroup.status == GroupStatus.PENDING,
    status="open",
    paid=BuyingGroup.paid + 1,
    opened_at=bindparam("at"),
    expires_at=bindparam("until"),
)
_GROUP_PAID = transition(BuyingGroup, BuyingGroup.status == GroupStatus.OPEN, paid=BuyingGroup.paid + 1)
_SUCCEED = transition(
    BuyingGroup,
    BuyingGroup.status == GroupStatus.OPEN,
    BuyingGroup.paid + bindparam("virtual") >= BuyingGroup.size,
    status="succeeded",
    virtual=bindparam("virtual"),
    closed_at=bindparam("at"),
)


def _seat(session: Session, merchant_id: str, order_id: str) -> GroupSeat | None:
    return session.scalar(_SEAT_OF, {"m": merchant_id, "o": order_id})


def _give_back(session: Session, seat: GroupSeat) -> None:
    """The seat's units go back to the campaign and to the customer's limit."""
    m = seat.merchant_id
    session.execute(_GIVE_STOCK, {"m": m, "key": seat.campaign_id, "q": seat.quantity})
    service.give_quota(
        session,
        merchant_id=m,
        campaign_id=seat.campaign_id,
        customer_id=seat.customer_id,
        quantity=seat.quantity,
    )


class Hooks:
    """``order_hooks`` for orders of kind ``group``."""

    def cancelled(self, session: Session, order: Any, now: datetime) -> None:
        m = order.merchant_id
        seat = _seat(session, m, order.id)
        if seat is None:
            return
        moved = session.execute(
            _SEAT_MOVE, {"m": m, "key": seat.id, "was": "held", "to": "released"}
        ).scalar()
        if moved is None:
            return
        _give_back(session, seat)
        if seat.leader:  # the leader never paid: the group never opened
            session.execute(
                update(BuyingGroup)
                .where(
                    owned(BuyingGroup, m),
                    BuyingGroup.id == seat.group_id,
                    BuyingGroup.status == GroupStatus.PENDING,
                )
                .values(status="cancelled", taken=BuyingGroup.taken - 1, closed_at=now)
            )
        service.bump(
            session,
            BuyingGroup,
            m,
            seat.group_id,
            "taken",
            -1,
            BuyingGroup.status == GroupStatus.OPEN,
            BuyingGroup.taken > BuyingGroup.paid,
        )

    def paid(self, session: Session, order: Any, now: datetime) -> bool:
        m = order.merchant_id
        seat = _seat(session, m, order.id)
        if seat is None:
            return True
        if session.execute(_SEAT_PAID, {"m": m, "key": seat.id, "at": now}).scalar() is None:
            return False
        campaign = session.get_one(GroupCampaign, (m, seat.campaign_id))
        group = session.execute(
            _OPEN_GROUP,
            {
                "m": m,
                "key": seat.group_id,
                "at": now,
                "until": now + timedelta(minutes=campaign.time_limit_minutes),
            },
        ).scalar()
        if group is not None:
            record_many(
                session,
                m,
                [
                    Fact(
                        kind=EventKind.GROUP_OPENED,
                        occurred_at=now,
                        customer_id=order.customer_id,
                        host_app=order.host_app,
                        scene=order.scene,
                        store_id=order.location_id,
                        subject_id=group.id,
                        ref=campaign.id,
                        amount=order.total,
                    )
                ],
            )
        else:
            group = session.execute(_GROUP_PAID, {"m": m, "key": seat.group_id}).scalar()
        # Money paid after the time limit (the sweep has not closed the group yet) fills no
        # group: the sweep fails it and refunds everyone, or completes it where virtual seats
        # are allowed (S3: on timeout its orders are refunded).
        if group is not None and group.paid >= group.size:
            if group.expires_at is None or (order.paid_at or now) < group.expires_at:
                succeed(session, group=group, virtual=0, now=now)
        return False  # a group's orders are fulfilled when it succeeds

    def refunded(self, session: Session, order: Any, full: bool, now: datetime) -> None:
        if not full:
            return
        m = order.merchant_id
        seat = _seat(session, m, order.id)
        if seat is None or seat.status != SeatStatus.PAID:
            return
        group = session.get_one(BuyingGroup, (m, seat.group_id), populate_existing=True)
        if group.status == GroupStatus.FAILED:
            session.execute(_SEAT_MOVE, {"m": m, "key": seat.id, "was": "paid", "to": "refunded"})
            _give_back(session, seat)
        elif group.status == GroupStatus.OPEN:  # a member left before success: the seat is free again
            if session.execute(
                _SEAT_MOVE, {"m": m, "key": seat.id, "was": "paid", "to": "released"}
            ).scalar():
                _give_back(session, seat)
                session.execute(
                    update(BuyingGroup)
                    .where(
                        owned(BuyingGroup, m),
                        BuyingGroup.id == group.id,
                        BuyingGroup.status == GroupStatus.OPEN,
                    )
                    .values(taken=BuyingGroup.taken - 1, paid=BuyingGroup.paid - 1)
                    .execution_options(synchronize_session=False)
                )


def _paid_seats(session: Session, group: BuyingGroup) -> list[GroupSeat]:
    return list(
        session.scalars(
            scoped(GroupSeat, group.merchant_id)
            .where(GroupSeat.group_id == group.id, GroupSeat.status == SeatStatus.PAID)
            .order_by(GroupSeat.id)
        )
    )


def succeed(session: Session, *, group: BuyingGroup, virtual: int, now: datetime) -> bool:
    """Every seat is paid (or ``virtual`` seats make up the rest): the group succeeds once and
    its orders go on to fulfilment; each member is told (``group.succeeded``)."""
    m = group.merchant_id
    done = session.execute(_SUCCEED, {"m": m, "key": group.id, "virtual": virtual, "at": now}).scalar()
    if done is None:
        return False
    facts = []
    for seat in _paid_seats(session, group):
        order = session.get_one(Order, (m, seat.order_id))
        if order.status == OrderStatus.PAID:
            fulfilments.on_paid(session, order=order, paid_at=order.paid_at or now)
        facts.append(_member_fact(EventKind.GROUP_SUCCEEDED, order, group.id, order.paid_amount, now))
    record_many(session, m, facts)
    return True


# --- the time limit ----------------------------------------------------------------------


def due_groups(session: Session, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    return [
        (row[0], row[1])
        for row in session.execute(
            select(BuyingGroup.merchant_id, BuyingGroup.id)
            .where(BuyingGroup.status == GroupStatus.OPEN, BuyingGroup.expires_at <= now)
            .order_by(BuyingGroup.expires_at)
            .limit(limit)
        )
    ]


def close(session: Session, *, merchant_id: str, group_id: str, now: datetime) -> str | None:
    """The group's time limit passed: unpaid seats' orders are cancelled, then it completes
    with virtual seats (where allowed) or fails with every paid member's order refunded in
    full, once. Returns what happened (None: it was no longer open)."""
    group = session.get_one(BuyingGroup, (merchant_id, group_id), populate_existing=True)
    if group.status != GroupStatus.OPEN:
        return None
    held = session.scalars(
        scoped(GroupSeat, merchant_id).where(
            GroupSeat.group_id == group.id, GroupSeat.status == SeatStatus.HELD
        )
    ).all()
    for seat in held:
        orders.cancel(
            session, merchant_id=merchant_id, order_id=seat.order_id, reason="group_closed", now=now
        )
    session.refresh(group)
    campaign = session.get_one(GroupCampaign, (merchant_id, group.campaign_id))
    if campaign.virtual_seats and group.paid >= 1:
        return (
            "succeeded" if succeed(session, group=group, virtual=group.size - group.paid, now=now) else None
        )
    failed = changed(
        session.execute(
            update(BuyingGroup)
            .where(
                owned(BuyingGroup, merchant_id),
                BuyingGroup.id == group.id,
                BuyingGroup.status == GroupStatus.OPEN,
            )
            .values(status="failed", closed_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if not failed:
        return None
    facts = []
    for seat in _paid_seats(session, group):
        order = session.get_one(Order, (merchant_id, seat.order_id))
        if order.status not in (OrderStatus.PAID, OrderStatus.FULFILLED):
            continue
        refund = request_refund(
            session,
            merchant_id=merchant_id,
            order_id=order.id,
            items=None,
            restock=True,
            reason="group_failed",
            now=now,
        )
        outbox.emit(
            session,
            merchant_id=merchant_id,
            topic=REFUND_TOPIC,
            payload={"merchant_id": merchant_id, "refund_id": refund.id},
            now=now,
        )
        facts.append(_member_fact(EventKind.GROUP_FAILED, order, group.id, refund.amount, now))
    record_many(session, merchant_id, facts)
    return "failed"


def close_due(db: Database, *, now: datetime, batch: int = 200) -> dict[str, int]:
    """Close every open group past its time limit, each in its own unit of work."""
    counts = {"succeeded": 0, "failed": 0}
    while True:
        with db.unit_of_work(write=False) as s:
            due = due_groups(s, now=now, limit=batch)
        for merchant_id, group_id in due:
            try:
                with db.unit_of_work() as s:
                    outcome = close(s, merchant_id=merchant_id, group_id=group_id, now=now)
            except Exception:
                log.exception("closing group %s/%s failed; the next sweep retries", merchant_id, group_id)
                continue
            if outcome:
                counts[outcome] += 1
        if len(due) < batch:
            return counts
