"""Merchants, staff and API keys."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from shoplet import references
from shoplet.auth import API_KEY_PREFIX, hash_secret, make_token, new_secret, remembered
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput, NotFound
from shoplet.schemas import zone_named
from shoplet.scoping import get_owned, owned, same_tenant
from shoplet.tenancy import signin
from shoplet.tenancy.models import ApiKey, Merchant, MerchantStatus, Role, Staff


def create_merchant(
    session: Session, *, name: str, timezone: str, now: datetime
) -> tuple[Merchant, ApiKey, str]:
    """A new tenant with its first admin API key; the token is returned once, never stored."""
    merchant = Merchant(id=new_id("mer"), name=name, timezone=timezone, created_at=now)
    session.add(merchant)
    session.flush()
    key, token = create_api_key(session, merchant_id=merchant.id, name="Owner key", staff_id=None, now=now)
    return merchant, key, token


def set_merchant_status(session: Session, *, merchant_id: str, status: MerchantStatus) -> Merchant:
    """Suspend a merchant (every key, customer session and console session of it stops
    working at once; nothing is deleted) or reactivate it."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("merchant.not_found", "No such merchant.")
    merchant.status = status
    session.flush()
    # Its customers' sessions verified here a moment ago are forgotten once this commits (a
    # request verifying before the commit would see the old status and remember it again).
    event.listen(session, "after_commit", lambda _s: remembered.forget_merchant(merchant_id), once=True)
    return merchant


def create_api_key(
    session: Session, *, merchant_id: str, name: str, staff_id: str | None, now: datetime
) -> tuple[ApiKey, str]:
    if staff_id is not None:
        get_owned(session, Staff, merchant_id, staff_id, what="Staff member", code="staff")
    secret = new_secret()
    key = ApiKey(
        merchant_id=merchant_id,
        id=new_id("key"),
        name=name,
        staff_id=staff_id,
        secret_hash=hash_secret(secret),
        hint=secret[-4:],
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key, make_token(API_KEY_PREFIX, merchant_id, key.id, secret)


def _working_admin_keys(session: Session, merchant_id: str) -> list[str]:
    """Ids of the merchant's keys that act as an admin now: unbound, or bound to an active admin."""
    return list(
        session.scalars(
            select(ApiKey.id)
            .outerjoin(Staff, (same_tenant(Staff, ApiKey)) & (Staff.id == ApiKey.staff_id))
            .where(
                owned(ApiKey, merchant_id),
                ApiKey.revoked_at.is_(None),
                ApiKey.staff_id.is_(None) | ((Staff.role == Role.ADMIN) & Staff.active.is_(True)),
            )
        )
    )


def _lock_merchant(session: Session, merchant_id: str) -> None:
    """Serialise changes to who may administer a merchant (two revocations at once cannot
    each leave the other as the last admin key). SQLite writers are serialised already."""
    session.execute(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())


def revoke_api_key(session: Session, *, merchant_id: str, key_id: str, now: datetime) -> ApiKey:
    """Revoke a key; the merchant's last working admin key cannot be revoked (nobody could
    administer the shop any more)."""
    _lock_merchant(session, merchant_id)
    key = get_owned(session, ApiKey, merchant_id, key_id, what="API key", code="api_key")
    if key.revoked_at is None:
        if _working_admin_keys(session, merchant_id) == [key.id]:
            raise Conflict(
                "api_key.last_admin",
                "This is the shop's last working admin key: create another admin key before revoking it.",
            )
        key.revoked_at = now
    return key


def create_staff(
    session: Session,
    *,
    merchant_id: str,
    name: str,
    role: str,
    store_id: str | None,
    phone: str | None,
    now: datetime,
    login: str | None = None,
    password: str | None = None,
) -> Staff:
    """A new staff member; with a login and a password they can sign in to the console at once
    (or the admin sends an invite link for them to set the password themselves)."""
    if role == "clerk" and not store_id:
        raise InvalidInput("staff.clerk_needs_store", "A clerk must be bound to a store.")
    if store_id is not None:
        references.require(
            session, "store", merchant_id, [store_id], code="store.not_found", what="store", not_found=True
        )
    staff = Staff(
        merchant_id=merchant_id,
        id=new_id("stf"),
        name=name,
        role=role,
        store_id=store_id,
        phone=phone,
        created_at=now,
    )
    session.add(staff)
    session.flush()
    if login is not None or password is not None:
        signin.set_credentials(
            session, merchant_id=merchant_id, staff_id=staff.id, login=login, password=password, now=now
        )
    return staff


def deactivate_staff(session: Session, *, merchant_id: str, staff_id: str) -> Staff:
    """Deactivating a staff member disables every key bound to them at once."""
    _lock_merchant(session, merchant_id)
    staff = get_owned(session, Staff, merchant_id, staff_id, what="Staff member", code="staff")
    if staff.active and staff.role == Role.ADMIN:
        remaining = set(_working_admin_keys(session, merchant_id)) - set(
            session.scalars(select(ApiKey.id).where(owned(ApiKey, merchant_id), ApiKey.staff_id == staff_id))
        )
        if not remaining:
            raise Conflict(
                "staff.last_admin",
                "This is the shop's last admin: make someone else an admin (or "
                "create an admin key) before deactivating them.",
            )
    staff.active = False
    return staff


def list_merchants(session: Session) -> list[Merchant]:
    return list(session.scalars(select(Merchant).order_by(Merchant.id)))


def zone(session: Session, merchant_id: str) -> ZoneInfo:
    """The merchant's time zone (dates in filters, opening hours, birthdays are local to it)."""
    merchant = session.get(Merchant, merchant_id)
    return zone_named(merchant.timezone if merchant else None)
