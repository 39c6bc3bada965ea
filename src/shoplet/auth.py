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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from shoplet.db import Database
from shoplet.errors import Forbidden, Unauthenticated

API_KEY_PREFIX = "sk"
SESSION_PREFIX = "cs"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def make_token(prefix: str, merchant_id: str, object_id: str, secret: str) -> str:
    return f"{prefix}.{merchant_id}.{object_id}.{secret}"


class PrincipalKind(StrEnum):
    """Who a credential names: the platform operator, a merchant's staff, or a customer."""

    PLATFORM = "platform"
    STAFF = "staff"
    CUSTOMER = "customer"


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``merchant_id`` is the tenant every query is scoped to."""

    kind: PrincipalKind
    merchant_id: str | None = None
    role: str | None = None  # staff: admin | operator | clerk | guide
    staff_id: str | None = None
    api_key_id: str | None = None
    store_id: str | None = None
    customer_id: str | None = None
    session_id: str | None = None
    host_app: str | None = None
    scene: str | None = None
    # when the credential itself expires (customer sessions): a remembered one is refused after
    expires_at: datetime | None = None

    @property
    def scope(self) -> str:
        """A stable name of this caller, for idempotency records."""
        if self.kind == PrincipalKind.CUSTOMER:
            return f"customer:{self.customer_id}"
        if self.kind == PrincipalKind.STAFF:
            return f"key:{self.api_key_id}"
        return "platform"

    @property
    def tenant(self) -> str:
        assert self.merchant_id is not None
        return self.merchant_id

    @property
    def customer(self) -> str:
        """The calling customer's id (routes behind ``require_customer``)."""
        assert self.customer_id is not None
        return self.customer_id

    @property
    def staff(self) -> str:
        """The calling staff member's id (routes behind a role that is always a person)."""
        assert self.staff_id is not None
        return self.staff_id

    @property
    def host(self) -> str:
        """The host app a customer signed in through."""
        assert self.host_app is not None
        return self.host_app


async def get_db(request: Request) -> Database:
    return request.app.state.runtime.db


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("auth.missing", "Send a credential as 'Authorization: Bearer <token>'.")
    return token.strip()


def invalid_credential() -> Unauthenticated:
    return Unauthenticated("auth.invalid", "The credential is not valid, expired or revoked.")


# Declared so that OpenAPI documents the scheme and /docs offers "Authorize"; the token
# itself is parsed below, so a missing one gets Shoplet's own problem+json 401.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A merchant API key (sk.…), a customer session (cs.…) or the platform key.",
)


# (database, merchant id, object id, secret, now) -> the caller, or raises invalid_credential()
Verifier = Callable[[Database, str, str, str, datetime], Principal]


class Remembered:
    """Credentials verified a moment ago, per process: a customer taps several times a second
    (a page's requests at once, a flash claim tapped again), and each tap would otherwise
    read its session and hop to a worker thread for it. An entry holds the secret's hash, so a
    wrong secret is never let in by it, and it is used for ``seconds`` at most; a credential
    that expires in the meantime is refused (the request's clock is checked each time).

    What this trades: suspending a merchant (which this process forgets at once, see
    :meth:`forget_merchant`) reaches another server process within ``seconds``."""

    def __init__(self, seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._entries: dict[tuple[str, str, str], tuple[float, str, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], secret_hash: str, now: datetime) -> Principal | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        fresh_until, known_hash, principal = hit
        if (
            fresh_until <= self.clock()
            or not hmac.compare_digest(known_hash, secret_hash)
            or (principal.expires_at is not None and principal.expires_at <= now)
        ):
            return None
        return principal

    def put(self, key: tuple[str, str, str], secret_hash: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= 50_000:  # a bound, not a policy: the next second refills it
                self._entries.clear()
            self._entries[key] = (self.clock() + self.seconds, secret_hash, principal)

    def forget(self, key: tuple[str, str, str]) -> None:
        """A credential signed out or revoked here: the next request with it is verified."""
        with self._lock:
            self._entries.pop(key, None)

    def forget_merchant(self, merchant_id: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[1] == merchant_id]:
                del self._entries[key]


remembered = Remembered()
"""Customer sessions verified in the last second (``cs`` tokens only: merchant keys are
revoked one by one and carry a throttled last-used write)."""

REMEMBERED_PREFIXES = frozenset({SESSION_PREFIX})


async def authenticate(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme)
) -> Principal:
    """Resolve the bearer token into a principal, or raise 401.

    The token's prefix picks the verifier (``sk`` API keys: tenancy; ``cs`` customer
    sessions: customers); the composition root hands them in as ``runtime.verifiers``, so this
    module, at the bottom of the layers, imports no domain. A verifier reads the database, so
    it runs on a worker thread; a customer session verified in the last second is answered
    here, on the event loop, without one (:class:`Remembered`)."""
    token = _bearer(request)
    runtime = request.app.state.runtime
    platform_key = runtime.settings.platform_key
    if platform_key and hmac.compare_digest(token.encode(), platform_key.encode()):
        return Principal(kind=PrincipalKind.PLATFORM)
    parts = token.split(".")
    if len(parts) != 4:
        raise invalid_credential()
    prefix, merchant_id, object_id, secret = parts
    verifier: Verifier | None = runtime.verifiers.get(prefix)
    if verifier is None:
        raise invalid_credential()
    now = runtime.clock()
    if prefix not in REMEMBERED_PREFIXES:
        return await run_in_threadpool(verifier, runtime.db, merchant_id, object_id, secret, now)
    key, secret_hash = (prefix, merchant_id, object_id), hash_secret(secret)
    principal = remembered.get(key, secret_hash, now)
    if principal is None:
        principal = await run_in_threadpool(verifier, runtime.db, merchant_id, object_id, secret, now)
        remembered.put(key, secret_hash, principal)
    return principal


async def require_platform(principal: Principal = Depends(authenticate)) -> Principal:
    if principal.kind != PrincipalKind.PLATFORM:
        raise Forbidden("auth.platform_only", "Only the platform operator can do this.")
    return principal


def require_staff(*roles: str):
    """A dependency admitting merchant staff with one of ``roles`` (admin always)."""
    allowed = set(roles) | {"admin"}

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        if principal.kind != PrincipalKind.STAFF:
            raise Forbidden("auth.staff_only", "This needs a merchant API key.")
        if principal.role not in allowed:
            raise Forbidden(
                "auth.role",
                f"The role '{principal.role}' cannot do this; it needs {' or '.join(sorted(allowed))}.",
            )
        return principal

    return dependency


async def require_customer(principal: Principal = Depends(authenticate)) -> Principal:
    if principal.kind != PrincipalKind.CUSTOMER:
        raise Forbidden("auth.customer_only", "This needs a customer session.")
    return principal


async def get_runtime(request: Request) -> Any:
    """The :class:`~shoplet.runtime.Runtime` serving this request."""
    return request.app.state.runtime


async def get_now(request: Request) -> datetime:
    """The current time from the runtime's clock (tests and the simulator control it)."""
    return request.app.state.runtime.clock()


# The dependencies every route takes, as ``Annotated`` aliases: ``db: Db``, ``now: Now``,
# ``rt: Rt``, and one per role set (``p: AsOperator``). Admin may always act.
Db = Annotated[Database, Depends(get_db)]
Now = Annotated[datetime, Depends(get_now)]
Rt = Annotated[Any, Depends(get_runtime)]  # shoplet.runtime.Runtime (composition: not importable here)
AsPlatform = Annotated[Principal, Depends(require_platform)]
AsCustomer = Annotated[Principal, Depends(require_customer)]
AsAdmin = Annotated[Principal, Depends(require_staff())]
AsOperator = Annotated[Principal, Depends(require_staff("operator"))]
AsClerk = Annotated[Principal, Depends(require_staff("clerk"))]
AsOperatorOrClerk = Annotated[Principal, Depends(require_staff("operator", "clerk"))]
AsStaff = Annotated[Principal, Depends(require_staff("operator", "clerk", "guide"))]
