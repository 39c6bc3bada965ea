"""Customer sessions (``cs.<merchant>.<session id>.<secret>``) into a customer principal."""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlalchemy import bindparam, select

from shoplet import pipelined
from shoplet.auth import Principal, PrincipalKind, hash_secret, invalid_credential
from shoplet.customers.models import CustomerSession
from shoplet.db import Database
from shoplet.scoping import owned
from shoplet.tenancy.models import Merchant, MerchantStatus

# Customers call on every tap of the mini program: one prebuilt query, session and merchant together.
_SESSION_QUERY = (
    select(
        CustomerSession.customer_id,
        CustomerSession.host_app,
        CustomerSession.scene,
        CustomerSession.secret_hash,
        CustomerSession.expires_at,
        CustomerSession.revoked_at,
    )
    .join(Merchant, owned(CustomerSession, Merchant.id))
    .where(
        owned(CustomerSession, bindparam("m")),
        CustomerSession.id == bindparam("s"),
        Merchant.status == MerchantStatus.ACTIVE,
    )
)


def verify_session(db: Database, merchant_id: str, session_id: str, secret: str, now: datetime) -> Principal:
    """A live, unrevoked session of an active merchant's customer, in one host app."""
    with db.read_once() as connection:
        found = pipelined.execute(connection, _SESSION_QUERY, {"m": merchant_id, "s": session_id})
    row = found[0] if found else None
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or not hmac.compare_digest(row.secret_hash, hash_secret(secret))
    ):
        raise invalid_credential()
    return Principal(
        kind=PrincipalKind.CUSTOMER,
        merchant_id=merchant_id,
        customer_id=row.customer_id,
        session_id=session_id,
        host_app=row.host_app,
        scene=row.scene,
        expires_at=row.expires_at,
    )
