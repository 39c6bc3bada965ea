"""Credentials → one typed :class:`Principal`.

Tokens (``Authorization: Bearer …``):

- the platform operator's key (``SHOPLET_PLATFORM_KEY``);
- ``sk.<merchant>.<key id>.<secret>`` — an API key of a merchant, optionally bound to a
  staff member whose role it then carries (unbound keys act as admin);
- ``cs.<merchant>.<session id>.<secret>`` — a customer session in one host app.

The tenant always comes from the credential, never from the payload. Secrets are stored
as SHA-256 hashes and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select, update

from shoplet.customers.models import CustomerSession
from shoplet.db import Database
from shoplet.errors import Forbidden, Unauthenticated
from shoplet.scoping import owned
from shoplet.tenancy.models import ApiKey, Merchant, Staff

API_KEY_PREFIX = "sk"
SESSION_PREFIX = "cs"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def make_token(prefix: str, merchant_id: str, object_id: str, secret: str) -> str:
    return f"{prefix}.{merchant_id}.{object_id}.{secret}"


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``merchant_id`` is the tenant every query is scoped to."""

    kind: str  # "platform" | "staff" | "customer"
    merchant_id: str | None = None
    role: str | None = None  # staff: admin | operator | clerk | guide
    staff_id: str | None = None
    api_key_id: str | None = None
    store_id: str | None = None
    customer_id: str | None = None
    session_id: str | None = None
    host_app: str | None = None
    scene: str | None = None

    @property
    def scope(self) -> str:
        """A stable name of this caller, for idempotency records."""
        if self.kind == "customer":
            return f"customer:{self.customer_id}"
        if self.kind == "staff":
            return f"key:{self.api_key_id}"
        return "platform"

    @property
    def tenant(self) -> str:
        assert self.merchant_id is not None
        return self.merchant_id


def get_db(request: Request) -> Database:
    return request.app.state.runtime.db


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("auth.missing", "Send a credential as 'Authorization: Bearer <token>'.")
    return token.strip()


def _invalid() -> Unauthenticated:
    return Unauthenticated("auth.invalid", "The credential is not valid, expired or revoked.")


# Declared so that OpenAPI documents the scheme and /docs offers "Authorize"; the token
# itself is parsed below, so a missing one gets Shoplet's own problem+json 401.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A merchant API key (sk.…), a customer session (cs.…) or the platform key.",
)


def authenticate(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> Principal:
    """Resolve the bearer token into a principal, or raise 401."""
    token = _bearer(request)
    runtime = request.app.state.runtime
    platform_key = runtime.settings.platform_key
    if platform_key and hmac.compare_digest(token.encode(), platform_key.encode()):
        return Principal(kind="platform")
    parts = token.split(".")
    if len(parts) != 4:
        raise _invalid()
    prefix, merchant_id, object_id, secret = parts
    db: Database = runtime.db
    now = runtime.clock()
    if prefix == SESSION_PREFIX:
        return _customer(db, merchant_id, object_id, secret, now)
    with db.unit_of_work(write=False) as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None or merchant.status != "active":
            raise _invalid()
        if prefix == API_KEY_PREFIX:
            key = session.get(ApiKey, (merchant_id, object_id))
            if (
                key is None
                or key.revoked_at is not None
                or not hmac.compare_digest(key.secret_hash, hash_secret(secret))
            ):
                raise _invalid()
            role, store_id = "admin", None
            if key.staff_id:
                staff = session.get(Staff, (merchant_id, key.staff_id))
                if staff is None or not staff.active:
                    raise _invalid()
                role, store_id = staff.role, staff.store_id
            stale = key.last_used_at is None or now - key.last_used_at > timedelta(minutes=10)
            principal = Principal(
                kind="staff",
                merchant_id=merchant_id,
                role=role,
                staff_id=key.staff_id,
                api_key_id=key.id,
                store_id=store_id,
            )
        else:
            raise _invalid()
    if stale:
        # Throttled so that authentication is not a write on every request.
        with db.unit_of_work() as session:
            session.execute(
                update(ApiKey)
                .where(owned(ApiKey, merchant_id), ApiKey.id == object_id)
                .values(last_used_at=now)
            )
    return principal


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
        Merchant.status == "active",
    )
)


def _customer(db: Database, merchant_id: str, session_id: str, secret: str, now) -> Principal:
    with db.unit_of_work(write=False) as session:
        row = session.connection().execute(_SESSION_QUERY, {"m": merchant_id, "s": session_id}).first()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or not hmac.compare_digest(row.secret_hash, hash_secret(secret))
    ):
        raise _invalid()
    return Principal(
        kind="customer",
        merchant_id=merchant_id,
        customer_id=row.customer_id,
        session_id=session_id,
        host_app=row.host_app,
        scene=row.scene,
    )


def require_platform(principal: Principal = Depends(authenticate)) -> Principal:
    if principal.kind != "platform":
        raise Forbidden("auth.platform_only", "Only the platform operator can do this.")
    return principal


def require_staff(*roles: str):
    """A dependency admitting merchant staff with one of ``roles`` (admin always)."""
    allowed = set(roles) | {"admin"}

    def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        if principal.kind != "staff":
            raise Forbidden("auth.staff_only", "This needs a merchant API key.")
        if principal.role not in allowed:
            raise Forbidden(
                "auth.role",
                f"The role '{principal.role}' cannot do this; it needs {' or '.join(sorted(allowed))}.",
            )
        return principal

    return dependency


def require_customer(principal: Principal = Depends(authenticate)) -> Principal:
    if principal.kind != "customer":
        raise Forbidden("auth.customer_only", "This needs a customer session.")
    return principal


def get_runtime(request: Request):
    """The :class:`~shoplet.runtime.Runtime` serving this request."""
    return request.app.state.runtime


def get_now(request: Request):
    """The current time from the runtime's clock (tests and the simulator control it)."""
    return request.app.state.runtime.clock()
