"""Pushes to the life account's followers (SPEC L2), under the weekly cap.

A push targets a segment of followers (all, tags, tiers, light members, a store's
customers, a guide's group), now or at a time, and is sent as a resumable job: followers in
id order, a thousand per transaction (five thousand on PostgreSQL), the push's ``cursor``
moving with each batch, so a push interrupted anywhere resumes where it stopped and two
runners never take one batch.

**At most 3 pushes per follower per natural week** (Monday 00:00 to Sunday 24:00 in the
merchant's time zone). The cap is a counter on the follower row for its week, raised by
one conditional UPDATE per batch (``WHERE`` the week is another or the count is below 3,
``RETURNING`` who was raised): pushes sent at the same moment queue on those rows and the
fourth finds the condition false. Nothing is read and then written; a CHECK holds the
counter to 3 as well. Followers the batch raised are handed to the host apps after commit
(one outbox event per batch); a send the host refuses gives the week's slot back.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, case, exists, func, literal_column, select, union, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shoplet import events, outbox
from shoplet.customers.models import Customer, CustomerIdentity, Follower, Member
from shoplet.db import OUTBOX_WRITTEN, Database, changed, insert_new
from shoplet.errors import InvalidInput, NotFound, Unprocessable
from shoplet.events import EventKind
from shoplet.guides.models import GuideBinding, GuideGroup, GuideGroupMember
from shoplet.inventory.models import StockLocation
from shoplet.membership.models import CURRENT, LightMembership, Tier
from shoplet.messaging.delivery import Messenger, Outgoing
from shoplet.messaging.models import (
    WEEKLY_PUSH_CAP,
    BatchStatus,
    LinkKind,
    Post,
    PostStatus,
    Push,
    PushBatch,
    PushOpen,
    PushStatus,
)
from shoplet.messaging.posts import check_link
from shoplet.orders.models import Order
from shoplet.outbox import Terminal
from shoplet.scoping import get_owned, owned, same_tenant
from shoplet.tenancy.service import zone

log = logging.getLogger(__name__)

BATCH = {"sqlite": 1000, "postgresql": 5000}
"""Followers per batch: SQLite's one writer is held for a batch, so fewer there (as settlement)."""
LEASE = timedelta(minutes=5)
SEND_TOPIC = "push.send"
"""Outbox topic: hand one batch of a push to the host apps."""

SEGMENT_KINDS = ("all", "tags", "tiers", "light_members", "store", "guide_group")


def week_of(now: datetime, tz: Any) -> date:
    """The Monday that starts ``now``'s natural week in the time zone ``tz``."""
    local = now.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


# -- segments -----------------------------------------------------------------------------


def check_segment(session: Session, merchant_id: str, segment: dict[str, Any]) -> dict[str, Any]:
    kind, values = segment.get("kind"), list(dict.fromkeys(segment.get("values") or []))
    if kind not in SEGMENT_KINDS:
        raise InvalidInput(
            "push.segment_invalid", f"A segment is one of: {', '.join(SEGMENT_KINDS)}.", parameter="segment"
        )
    if kind in ("all", "light_members"):
        return {"kind": kind, "values": []}
    if not values:
        raise InvalidInput(
            "push.segment_invalid", f"A {kind} segment names at least one.", parameter="segment"
        )
    if kind in ("store", "guide_group") and len(values) != 1:
        raise InvalidInput(
            "push.segment_invalid", f"A {kind} segment names exactly one.", parameter="segment"
        )
    if kind == "tiers":
        codes = set(session.scalars(select(Tier.code).where(owned(Tier, merchant_id)))) | {"base"}
        unknown = [v for v in values if v not in codes]
        if unknown:
            raise NotFound("push.segment_target_not_found", f"No tier {', '.join(unknown)}.")
    elif kind == "store" and session.get(StockLocation, (merchant_id, values[0])) is None:
        raise NotFound("push.segment_target_not_found", "No such store.")
    elif kind == "guide_group" and session.get(GuideGroup, (merchant_id, values[0])) is None:
        raise NotFound("push.segment_target_not_found", "No such guide group.")
    return {"kind": kind, "values": values}


def _segment_condition(merchant_id: str, segment: dict[str, Any]) -> Any:
    """A condition on ``Follower`` (None: every follower). Tags are matched in Python."""
    kind, values = segment["kind"], segment["values"]
    who = Follower.customer_id
    if kind == "tiers":
        return exists().where(
            same_tenant(Member, Follower), Member.customer_id == who, Member.tier.in_(values)
        )
    if kind == "light_members":
        return exists().where(
            same_tenant(LightMembership, Follower),
            LightMembership.customer_id == who,
            literal_column(f"light_memberships.{CURRENT}"),
        )
    if kind == "store":
        customers = union(
            select(GuideBinding.customer_id).where(
                owned(GuideBinding, merchant_id), GuideBinding.store_id == values[0]
            ),
            select(Order.customer_id).where(
                owned(Order, merchant_id), Order.location_id == values[0], Order.paid_at.is_not(None)
            ),
        )
        return who.in_(customers)
    if kind == "guide_group":
        return exists().where(
            same_tenant(GuideGroupMember, Follower),
            GuideGroupMember.customer_id == who,
            GuideGroupMember.group_id == values[0],
        )
    return None


def _candidates(merchant_id: str, segment: dict[str, Any]) -> Any:
    """Followers of the segment with the user id of the host app they follow in (or None)."""
    identity = (
        select(CustomerIdentity.host_user_id)
        .where(
            same_tenant(CustomerIdentity, Follower),
            CustomerIdentity.customer_id == Follower.customer_id,
            CustomerIdentity.host_app == Follower.host_app,
        )
        .limit(1)
        .scalar_subquery()
    )
    columns = [Follower.customer_id, Follower.host_app, identity.label("host_user_id")]
    query = select(*columns).where(owned(Follower, merchant_id), Follower.unfollowed_at.is_(None))
    if segment["kind"] == "tags":
        query = query.add_columns(Customer.tags).join(
            Customer, same_tenant(Customer, Follower) & (Customer.id == Follower.customer_id)
        )
    condition = _segment_condition(merchant_id, segment)
    return query if condition is None else query.where(condition)


def _tagged(rows: Any, segment: dict[str, Any]) -> list[Any]:
    if segment["kind"] != "tags":
        return list(rows)
    wanted = set(segment["values"])
    return [r for r in rows if wanted.intersection(r.tags or ())]


def audience(session: Session, merchant_id: str, segment: dict[str, Any]) -> int:
    """How many followers the segment has now."""
    if segment["kind"] == "tags":
        return sum(
            len(_tagged(session.execute(q).all(), segment)) for q in [_candidates(merchant_id, segment)]
        )
    return session.scalar(select(func.count()).select_from(_candidates(merchant_id, segment).subquery())) or 0


# -- creating -----------------------------------------------------------------------------


def create_push(
    session: Session,
    *,
    merchant_id: str,
    title: str | None,
    body: str | None,
    post_id: str | None,
    link_kind: str,
    link_target: str | None,
    segment: dict[str, Any],
    send_at: datetime | None,
    created_by: str | None,
    push_id: str,
    now: datetime,
) -> Push:
    """A push of a message, or of a published post, to a segment: now, or at ``send_at``."""
    segment = check_segment(session, merchant_id, segment)
    if post_id is not None:
        post = get_owned(session, Post, merchant_id, post_id, what="Post")
        if post.status != PostStatus.PUBLISHED:
            raise Unprocessable("push.post_unpublished", "Publish the post before pushing it.")
        title, body = title or post.title, body or post.body[:200]
        link_kind, link_target = "page", f"/pages/life/post?id={post.id}"
    if not title or not body:
        raise InvalidInput(
            "push.content_missing", "A push has a title and a body, or a post.", parameter="title"
        )
    link_target = check_link(session, merchant_id, link_kind, link_target)
    if send_at is not None and send_at < now - timedelta(minutes=1):
        raise InvalidInput(
            "push.send_at_past", "A scheduled push is sent in the future.", parameter="send_at"
        )
    if audience(session, merchant_id, segment) == 0:
        raise Unprocessable("push.segment_empty", "No follower is in this segment: nothing would be sent.")
    push = Push(
        merchant_id=merchant_id,
        id=push_id,
        title=title,
        body=body,
        post_id=post_id,
        link_kind=link_kind,
        link_target=link_target,
        segment=segment,
        status=PushStatus.SCHEDULED,
        send_at=max(send_at or now, now),
        created_by=created_by,
        created_at=now,
    )
    session.add(push)
    session.flush()
    session.info[OUTBOX_WRITTEN] = True  # wake the job runner: an immediate push starts now
    return push


def cancel(session: Session, push: Push) -> bool:
    """Cancel a push not yet started (a started one finishes the batch it has)."""
    return bool(
        changed(
            session.execute(
                update(Push)
                .where(owned(Push, push.merchant_id), Push.id == push.id, Push.status == PushStatus.SCHEDULED)
                .values(status=PushStatus.CANCELLED)
            )
        )
    )


# -- running ------------------------------------------------------------------------------

_TAKE = (
    update(Push)
    .where(
        owned(Push, bindparam("m")),
        Push.id == bindparam("key"),
        Push.status == PushStatus.SENDING,
        Push.batches == bindparam("seq"),
    )
    .values(batches=Push.batches + 1, lease_until=bindparam("lease"))
    .returning(Push.cursor)
    .execution_options(synchronize_session=False)
)
_RAISE: dict[str, Any] = {}


def _raise_statement(dialect: str) -> Any:
    """Raise the week's counter of the followers ``ids`` still below the cap, returning who
    was raised (built once per dialect: on PostgreSQL the ids travel as one array)."""
    statement = _RAISE.get(dialect)
    if statement is None:
        if dialect == "postgresql":  # UPDATE … FROM unnest(:ids): a probe of the key per id
            keys = func.unnest(bindparam("ids", type_=ARRAY(String))).table_valued("v").render_derived()
            chosen = Follower.customer_id == keys.c.v
        else:
            chosen = Follower.customer_id.in_(bindparam("ids", expanding=True))
        statement = _RAISE[dialect] = (
            update(Follower)
            .where(
                owned(Follower, bindparam("m")),
                chosen,
                Follower.unfollowed_at.is_(None),
                (Follower.push_week.is_(None))
                | (Follower.push_week != bindparam("week"))
                | (Follower.pushes_this_week < WEEKLY_PUSH_CAP),
            )
            .values(
                pushes_this_week=case(
                    (Follower.push_week == bindparam("week"), Follower.pushes_this_week + 1), else_=1
                ),
                push_week=bindparam("week"),
            )
            .returning(Follower.customer_id)
            .execution_options(synchronize_session=False)
        )
    return statement


_GIVE_BACK = (
    update(Follower)
    .where(
        owned(Follower, bindparam("m")),
        Follower.customer_id.in_(bindparam("ids", expanding=True)),
        Follower.push_week == bindparam("week"),
        Follower.pushes_this_week > 0,
    )
    .values(pushes_this_week=Follower.pushes_this_week - 1)
    .execution_options(synchronize_session=False)
)


def due(session: Session, *, now: datetime, limit: int = 20) -> list[tuple[str, str]]:
    """Pushes to start (scheduled and due) or resume (sending, their runner's lease run out)."""
    return [
        (r.merchant_id, r.id)
        for r in session.execute(
            select(Push.merchant_id, Push.id)
            .where(
                ((Push.status == PushStatus.SCHEDULED) & (Push.send_at <= now))
                | ((Push.status == PushStatus.SENDING) & (Push.lease_until < now))
            )
            .order_by(Push.send_at)
            .limit(limit)
        )
    ]


def start(db: Database, *, merchant_id: str, push_id: str, now: datetime) -> bool:
    """Take a due push to send (or to resume); False when another runner has it."""
    with db.unit_of_work() as session:
        return bool(
            changed(
                session.execute(
                    update(Push)
                    .where(
                        owned(Push, merchant_id),
                        Push.id == push_id,
                        ((Push.status == PushStatus.SCHEDULED) & (Push.send_at <= now))
                        | ((Push.status == PushStatus.SENDING) & (Push.lease_until < now)),
                    )
                    .values(status=PushStatus.SENDING, started_at=func.coalesce(Push.started_at, now),
                            lease_until=now + LEASE)
                )
            )
        )  # fmt: skip


def run(db: Database, *, merchant_id: str, push_id: str, now: datetime, clock: Any = None) -> int:
    """Send a started push batch by batch until every follower of its segment was taken;
    returns how many batches this call took."""
    taken = 0
    while True:
        at = clock() if clock else now
        try:
            more = _batch(db, merchant_id, push_id, at)
        except OperationalError as exc:  # a deadlock or a lock timeout: the batch rolled back
            log.warning("push %s batch retried: %s", push_id, exc.orig)
            continue
        if more is None:
            return taken
        taken += 1


def _batch(db: Database, merchant_id: str, push_id: str, now: datetime) -> bool | None:
    with db.unit_of_work() as session:
        push = session.get(Push, (merchant_id, push_id))
        if push is None or push.status != PushStatus.SENDING:
            return None
        seq = push.batches
        cursor = session.execute(
            _TAKE, {"m": merchant_id, "key": push_id, "seq": seq, "lease": now + LEASE}
        ).scalar()
        if cursor is None:  # another runner took this batch
            return None
        segment = push.segment
        rows = session.execute(
            _candidates(merchant_id, segment)
            .where(Follower.customer_id > cursor)
            .order_by(Follower.customer_id)
            .limit(BATCH.get(db.dialect, 1000))
        ).all()
        if not rows:
            session.execute(
                update(Push)
                .where(owned(Push, merchant_id), Push.id == push_id)
                .values(status=PushStatus.SENT, finished_at=now, batches=seq, lease_until=None)
            )
            events.record(
                session, merchant_id, EventKind.PUSH_SENT, now, subject_id=push_id, ref=push.post_id
            )
            return None
        chosen = _tagged(rows, segment)
        # (rows come in customer id order: the conditional UPDATE takes them in that order)
        reachable = {row[0]: (row[1], row[2]) for row in chosen if row[2]}
        week = week_of(now, zone(session, merchant_id))
        raised = (
            set(
                session.scalars(
                    _raise_statement(db.dialect), {"m": merchant_id, "ids": list(reachable), "week": week}
                )
            )
            if reachable
            else set()
        )
        session.execute(
            update(Push).where(owned(Push, merchant_id), Push.id == push_id).values(cursor=rows[-1][0])
        )
        recipients = [[cid, app, user] for cid, (app, user) in reachable.items() if cid in raised]
        insert_new(
            session,
            PushBatch,
            [
                {
                    "merchant_id": merchant_id,
                    "push_id": push_id,
                    "seq": seq,
                    "status": (BatchStatus.PENDING if recipients else BatchStatus.SENT).value,
                    "targeted": len(chosen),
                    "over_cap": len(reachable) - len(raised),
                    "unreachable": len(chosen) - len(reachable),
                    "queued": len(recipients),
                    "delivered": 0,
                    "failed": 0,
                    "created_at": now,
                    "sent_at": None if recipients else now,
                }
            ],
        )
        if recipients:
            outbox.emit(
                session,
                merchant_id=merchant_id,
                topic=SEND_TOPIC,
                payload={
                    "merchant_id": merchant_id,
                    "push_id": push_id,
                    "seq": seq,
                    "week": week.isoformat(),
                    "recipients": recipients,
                },
                now=now,
            )
        return True


def send_batch(
    db: Database, messengers: dict[str, Messenger], payload: dict[str, Any], *, now: datetime
) -> None:
    """Hand one batch to the host apps (the outbox calls this after the batch committed).
    Safe to run twice: the adapters keep one item per message id, and the batch's figures
    are written once (``status = 'pending'``)."""
    merchant_id, push_id, seq = payload["merchant_id"], payload["push_id"], payload["seq"]
    with db.unit_of_work(write=False) as session:
        push = session.get(Push, (merchant_id, push_id))
        if push is None:
            raise Terminal(f"push {push_id} does not exist")
        title, body, link = push.title, push.body, _link(push)
    by_app: dict[str, list[Outgoing]] = {}
    who: dict[str, str] = {}
    for customer_id, host_app, host_user_id in payload["recipients"]:
        message_id = f"{push_id}.{customer_id}"
        who[message_id] = customer_id
        by_app.setdefault(host_app, []).append(Outgoing(message_id, host_user_id, "push", title, body, link))
    failed: set[str] = set()
    for host_app, items in by_app.items():
        messenger = messengers.get(host_app)
        if messenger is None:
            failed |= {i.message_id for i in items}
            continue
        failed |= messenger.send(merchant_id, host_app, items, now=now)
    with db.unit_of_work() as session:
        written = changed(
            session.execute(
                update(PushBatch)
                .where(
                    owned(PushBatch, merchant_id),
                    PushBatch.push_id == push_id,
                    PushBatch.seq == seq,
                    PushBatch.status == BatchStatus.PENDING,
                )
                .values(
                    status=BatchStatus.SENT,
                    delivered=len(who) - len(failed),
                    failed=len(failed),
                    sent_at=now,
                )
            )
        )
        if written and failed:  # the week's slot goes back to whoever the host did not reach
            session.execute(
                _GIVE_BACK,
                {
                    "m": merchant_id,
                    "ids": sorted(who[m] for m in failed),
                    "week": date.fromisoformat(payload["week"]),
                },
            )


def _link(push: Push) -> str | None:
    if push.link_kind == LinkKind.NONE or not push.link_target:
        return None
    if push.link_kind == LinkKind.PAGE:
        sep = "&" if "?" in push.link_target else "?"
        return f"{push.link_target}{sep}push={push.id}"
    page = "/pages/product" if push.link_kind == LinkKind.PRODUCT else "/pages/coupon"
    return f"{page}?id={push.link_target}&push={push.id}"


# -- reading ------------------------------------------------------------------------------


def reports(session: Session, merchant_id: str, listed: list[Push]) -> dict[str, dict[str, int]]:
    """Each push's figures (one statement for the list): targeted, delivered, skipped over the
    weekly cap, skipped as unreachable (no user id in the host app they follow in), failed,
    still being sent, opened."""
    ids = [p.id for p in listed]
    sums = {
        row[0]: [int(v) for v in row[1:]]
        for row in session.execute(
            select(
                PushBatch.push_id,
                func.coalesce(func.sum(PushBatch.targeted), 0),
                func.coalesce(func.sum(PushBatch.delivered), 0),
                func.coalesce(func.sum(PushBatch.over_cap), 0),
                func.coalesce(func.sum(PushBatch.unreachable), 0),
                func.coalesce(func.sum(PushBatch.failed), 0),
                func.coalesce(
                    func.sum(case((PushBatch.status == BatchStatus.PENDING, PushBatch.queued), else_=0)), 0
                ),
            )
            .where(owned(PushBatch, merchant_id), PushBatch.push_id.in_(ids))
            .group_by(PushBatch.push_id)
        )
    } if ids else {}  # fmt: skip
    out = {}
    for push in listed:
        targeted, delivered, over_cap, unreachable, failed, in_flight = sums.get(push.id, [0] * 6)
        out[push.id] = {
            "targeted": targeted,
            "delivered": delivered,
            "skipped_over_cap": over_cap,
            "skipped_unreachable": unreachable,
            "failed": failed,
            "in_flight": in_flight,
            "opened": push.opened,
        }
    return out


def report(session: Session, push: Push) -> dict[str, int]:
    return reports(session, push.merchant_id, [push])[push.id]


def opened(session: Session, *, merchant_id: str, push_id: str, customer_id: str, now: datetime) -> bool:
    """A follower opened the push (from its link): counted once per follower, as an event."""
    push = get_owned(session, Push, merchant_id, push_id, what="Push")
    if push.status not in (PushStatus.SENDING, PushStatus.SENT):
        raise NotFound("push.not_found", "Push not found.")
    first = insert_new(
        session,
        PushOpen,
        [{"merchant_id": merchant_id, "push_id": push_id, "customer_id": customer_id, "opened_at": now}],
    )
    if first:
        session.execute(
            update(Push)
            .where(owned(Push, merchant_id), Push.id == push_id)
            .values(opened=Push.opened + 1)
            .execution_options(synchronize_session=False)
        )
        events.record(
            session,
            merchant_id,
            EventKind.PUSH_OPENED,
            now,
            id=f"{EventKind.PUSH_OPENED}:{push_id}:{customer_id}",
            customer_id=customer_id,
            subject_id=push_id,
        )
    return bool(first)
