"""Merchant API keys (``sk.<merchant>.<key id>.<secret>``) into a staff principal."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import update

from shoplet.auth import Principal, PrincipalKind, hash_secret, invalid_credential
from shoplet.db import Database
from shoplet.scoping import owned
from shoplet.tenancy.models import ApiKey, Merchant, MerchantStatus, Staff


def verify_api_key(db: Database, merchant_id: str, key_id: str, secret: str, now: datetime) -> Principal:
    """An active merchant's live key; a key bound to a staff member carries their role and
    store (unbound keys act as admin). Secrets compare in constant time."""
    with db.unit_of_work(write=False) as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None or merchant.status != MerchantStatus.ACTIVE:
            raise invalid_credential()
        key = session.get(ApiKey, (merchant_id, key_id))
        if (
            key is None
            or key.revoked_at is not None
            or not hmac.compare_digest(key.secret_hash, hash_secret(secret))
        ):
            raise invalid_credential()
        role, store_id = "admin", None
        if key.staff_id:
            staff = session.get(Staff, (merchant_id, key.staff_id))
            if staff is None or not staff.active:
                raise invalid_credential()
            role, store_id = staff.role, staff.store_id
        stale = key.last_used_at is None or now - key.last_used_at > timedelta(minutes=10)
        principal = Principal(
            kind=PrincipalKind.STAFF,
            merchant_id=merchant_id,
            role=role,
            staff_id=key.staff_id,
            api_key_id=key.id,
            store_id=store_id,
        )
    if stale:
        # Throttled so that authentication is not a write on every request.
        with db.unit_of_work() as session:
            session.execute(
                update(ApiKey).where(owned(ApiKey, merchant_id), ApiKey.id == key_id).values(last_used_at=now)
            )
    return principal
