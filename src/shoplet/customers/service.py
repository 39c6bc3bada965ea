"""Customers, their host-app identities, and customer sessions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, event, select, update
from sqlalchemy.orm import Session

from shoplet import events
from shoplet.auth import SESSION_PREFIX, hash_secret, make_token, new_secret, remembered
from shoplet.customers.models import Customer, CustomerIdentity, CustomerSession, Follower
from shoplet.db import insert_new, new_id
from shoplet.errors import Conflict
from shoplet.events import EventKind
from shoplet.scoping import get_owned, owned


def create_customer(
    session: Session,
    *,
    merchant_id: str,
    name: str | None,
    phone: str | None,
    tags: list[str],
    identities: list[tuple[str, str]],
    now: datetime,
    birthday: str | None = None,
) -> Customer:
    if phone and session.scalar(
        select(Customer.id).where(owned(Customer, merchant_id), Customer.phone == phone)
    ):
        raise Conflict("customer.phone_taken", "Another customer already has this phone number.")
    customer = Customer(
        merchant_id=merchant_id,
        id=new_id("cus"),
        name=name,
        phone=phone,
        tags=tags,
        birthday=birthday,
        created_at=now,
    )
    session.add(customer)
    session.flush()
    for host_app, host_user_id in identities:
        link_identity(
            session,
            merchant_id=merchant_id,
            customer_id=customer.id,
            host_app=host_app,
            host_user_id=host_user_id,
            now=now,
        )
    return customer


def link_identity(
    session: Session, *, merchant_id: str, customer_id: str, host_app: str, host_user_id: str, now: datetime
) -> CustomerIdentity:
    existing = session.get(CustomerIdentity, (merchant_id, host_app, host_user_id))
    if existing is not None:
        if existing.customer_id != customer_id:
            raise Conflict(
                "customer.identity_taken", f"This {host_app} user is already linked to another customer."
            )
        return existing
    identity = CustomerIdentity(
        merchant_id=merchant_id,
        host_app=host_app,
        host_user_id=host_user_id,
        customer_id=customer_id,
        created_at=now,
    )
    session.add(identity)
    session.flush()
    return identity


def identities_of(session: Session, merchant_id: str, customer_id: str) -> list[CustomerIdentity]:
    return identities_of_many(session, merchant_id, [customer_id])


def identities_of_many(session: Session, merchant_id: str, customer_ids: list[str]) -> list[CustomerIdentity]:
    """The host-app identities of several customers, by customer then host app."""
    return list(
        session.scalars(
            select(CustomerIdentity)
            .where(owned(CustomerIdentity, merchant_id), CustomerIdentity.customer_id.in_(customer_ids))
            .order_by(CustomerIdentity.customer_id, CustomerIdentity.host_app)
        )
    )


_BY_PHONE = select(Customer).where(owned(Customer, bindparam("m")), Customer.phone == bindparam("phone"))
_DROP_CUSTOMER = (
    delete(Customer)
    .where(owned(Customer, bindparam("m")), Customer.id == bindparam("c"))
    .execution_options(synchronize_session=False)
)
_INSERT_SESSION = cast(Table, CustomerSession.__table__).insert()


def resolve_customer(
    session: Session, *, merchant_id: str, host_app: str, host_user_id: str, phone: str | None, now: datetime
) -> Customer:
    """The customer behind a host-app user: by identity, else by phone (linking), else new.

    Written as plain rows, each ``INSERT … ON CONFLICT DO NOTHING``: a sign-in racing another
    of the same host user (or a new customer racing one with the same phone) finds the row
    the other wrote and uses it, with no savepoint to roll back to."""
    key = (merchant_id, host_app, host_user_id)
    identity = session.get(CustomerIdentity, key)
    if identity is not None:
        return get_owned(session, Customer, merchant_id, identity.customer_id, what="Customer")
    customer = session.scalar(_BY_PHONE, {"m": merchant_id, "phone": phone}) if phone else None
    created: dict[str, Any] | None = None
    if customer is None:
        created = {
            "merchant_id": merchant_id,
            "id": new_id("cus"),
            "name": None,
            "phone": phone,
            "tags": [],
            "birthday": None,
            "created_at": now,
        }
        if not insert_new(session, Customer, [created]):  # the phone was taken a moment ago
            customer = session.scalar(_BY_PHONE, {"m": merchant_id, "phone": phone})
            if customer is None:
                raise Conflict("customer.phone_taken", "Another customer already has this phone number.")
            created = None
    linked = {
        "merchant_id": merchant_id,
        "host_app": host_app,
        "host_user_id": host_user_id,
        "customer_id": created["id"] if created else cast(Customer, customer).id,
        "created_at": now,
    }
    if insert_new(session, CustomerIdentity, [linked]):
        return customer if customer is not None else Customer(**cast(dict[str, Any], created))
    # The same host user signed in at the same moment and was linked first: theirs stands.
    if created is not None:
        session.execute(_DROP_CUSTOMER, {"m": merchant_id, "c": created["id"]})
    identity = session.get_one(CustomerIdentity, key, populate_existing=True)
    return get_owned(session, Customer, merchant_id, identity.customer_id, what="Customer")


def open_session(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    host_app: str,
    scene: str | None,
    days: int,
    now: datetime,
) -> tuple[CustomerSession, str]:
    """A customer session token for one host app; the secret is returned once. The session
    row is written at once as a plain row; the record returned is its values (not held by
    ``session``)."""
    secret = new_secret()
    values = {
        "merchant_id": merchant_id,
        "id": new_id("ses"),
        "customer_id": customer_id,
        "host_app": host_app,
        "scene": scene,
        "secret_hash": hash_secret(secret),
        "created_at": now,
        "expires_at": now + timedelta(days=days),
        "revoked_at": None,
    }
    session.connection().execute(_INSERT_SESSION, values)
    record = CustomerSession(**values)
    events.record(
        session,
        merchant_id,
        EventKind.SIGN_IN,
        now,
        customer_id=customer_id,
        host_app=host_app,
        scene=scene,
        subject_id=record.id,
    )
    return record, make_token(SESSION_PREFIX, merchant_id, record.id, secret)


_REVOKE_SESSION = (
    update(CustomerSession)
    .where(
        owned(CustomerSession, bindparam("m")),
        CustomerSession.id == bindparam("s"),
        CustomerSession.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def close_session(session: Session, *, merchant_id: str, session_id: str, now: datetime) -> None:
    """Sign out: the session's token stops working. This process forgets it once the change
    commits; another server process may accept it for up to a second (``auth.Remembered``)."""
    session.execute(_REVOKE_SESSION, {"m": merchant_id, "s": session_id, "now": now})
    key = (SESSION_PREFIX, merchant_id, session_id)
    event.listen(session, "after_commit", lambda _s: remembered.forget(key), once=True)


def follow(session: Session, *, merchant_id: str, customer_id: str, host_app: str, now: datetime) -> Follower:
    """Follow the merchant's life account (idempotent: following twice changes nothing)."""
    row = session.get(Follower, (merchant_id, customer_id))
    began = row is None or row.unfollowed_at is not None
    if row is None:
        values = {
            "merchant_id": merchant_id,
            "customer_id": customer_id,
            "host_app": host_app,
            "followed_at": now,
            "unfollowed_at": None,
        }
        if insert_new(session, Follower, [values]):
            row = Follower(**values)  # as written (a plain row: the session does not hold it)
        else:  # a concurrent follow landed first: same outcome
            row = session.get_one(Follower, (merchant_id, customer_id), populate_existing=True)
    if row.unfollowed_at is not None:
        row.host_app, row.followed_at, row.unfollowed_at = host_app, now, None
        session.flush()
    if began and row.followed_at == now:
        _follow_event(session, merchant_id, customer_id, EventKind.FOLLOW, host_app, now)
    return row


def _follow_event(
    session: Session, merchant_id: str, customer_id: str, kind: EventKind, host_app: str | None, now: datetime
) -> None:
    # A customer may follow and unfollow many times: each change is its own event.
    events.record(
        session,
        merchant_id,
        kind,
        now,
        id=f"{kind}:{customer_id}:{now.isoformat()}",
        customer_id=customer_id,
        host_app=host_app,
        subject_id=customer_id,
    )


def unfollow(session: Session, *, merchant_id: str, customer_id: str, now: datetime) -> Follower | None:
    row = session.get(Follower, (merchant_id, customer_id))
    if row is not None and row.unfollowed_at is None:
        row.unfollowed_at = now
        session.flush()
        _follow_event(session, merchant_id, customer_id, EventKind.UNFOLLOW, row.host_app, now)
    return row


def is_follower(session: Session, merchant_id: str, customer_id: str) -> bool:
    row = session.get(Follower, (merchant_id, customer_id))
    return row is not None and row.unfollowed_at is None
