"""Console sign-in: staff passwords (argon2), invite links, lockout and sessions.

A staff member signs in to the console with the shop's id, a login unique in the shop and a
password. Five failures in a row lock the login for 15 minutes (counted by a conditional
update, so parallel guesses cannot slip past the count). A session is a row whose id and
secret travel in an HttpOnly cookie (``ss.<merchant>.<id>.<secret>``; only the secret's
SHA-256 hash is stored); each session carries the CSRF token its forms must echo. The
platform operator signs in with the platform key to a session of their own.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, select, update

from shoplet.auth import hash_secret, make_token, new_secret
from shoplet.db import Database, changed, new_id
from shoplet.errors import Conflict, Forbidden, InvalidInput, NotFound, ShopletError, Unauthenticated
from shoplet.scoping import get_owned, owned
from shoplet.tenancy.models import (
    ConsoleSession,
    Merchant,
    MerchantStatus,
    PlatformSession,
    Staff,
    StaffInvite,
)

SESSION_PREFIX = "ss"
PLATFORM_PREFIX = "ps"
INVITE_PREFIX = "iv"
SESSION_HOURS = 12
INVITE_DAYS = 7
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 128
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{1,63}$")

_hasher = PasswordHasher()
# Verified against when the login does not exist, so a wrong login costs what a wrong password does.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class TooManyFailures(ShopletError):
    status = 429
    title = "Too many attempts"


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    """The password rules: 10 to 128 characters, not all the same character."""
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        raise InvalidInput(
            "staff.password_weak",
            f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters.",
        )
    if len(set(password)) < 4:
        raise InvalidInput("staff.password_weak", "A password needs at least four different characters.")


def _password_matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def set_credentials(
    session,
    *,
    merchant_id: str,
    staff_id: str,
    login: str | None,
    password: str | None,
    now: datetime,
) -> Staff:
    """Give a staff member a login and/or a new password (an admin, or the member). A new
    password ends the member's other console sessions and lifts a lockout."""
    staff = get_owned(session, Staff, merchant_id, staff_id, what="Staff member", code="staff")
    if login is not None:
        login = login.strip().lower()
        if not LOGIN.match(login):
            raise InvalidInput(
                "staff.login_invalid",
                "A login has 2 to 64 letters, digits or . _ @ + - and starts with a letter or digit.",
            )
        taken = session.scalar(
            select(Staff.id).where(owned(Staff, merchant_id), Staff.login == login, Staff.id != staff_id)
        )
        if taken is not None:
            raise Conflict("staff.login_taken", "Another staff member of this shop has that login.")
        staff.login = login
    if password is not None:
        staff.password_hash = hash_password(password)
        staff.failed_signins = 0
        staff.locked_until = None
        session.execute(
            update(ConsoleSession)
            .where(
                owned(ConsoleSession, merchant_id),
                ConsoleSession.staff_id == staff_id,
                ConsoleSession.ended_at.is_(None),
            )
            .values(ended_at=now)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return staff


def change_password(
    session, *, merchant_id: str, staff_id: str, current: str, new: str, now: datetime
) -> Staff:
    """A staff member changes their own password (the current one first). Their other
    sessions end; the one they are using is kept by the caller opening a new one."""
    staff = get_owned(session, Staff, merchant_id, staff_id, what="Staff member", code="staff")
    if not _password_matches(staff.password_hash, current):
        raise InvalidInput("staff.password_wrong", "The current password is wrong.")
    return set_credentials(
        session, merchant_id=merchant_id, staff_id=staff_id, login=None, password=new, now=now
    )


def create_invite(session, *, merchant_id: str, staff_id: str, now: datetime) -> tuple[StaffInvite, str]:
    """A one-time link token with which the member sets their password (valid 7 days)."""
    staff = get_owned(session, Staff, merchant_id, staff_id, what="Staff member", code="staff")
    if not staff.login:
        raise Conflict("staff.login_missing", "Give the staff member a login before inviting them.")
    secret = new_secret()
    invite = StaffInvite(
        merchant_id=merchant_id,
        id=new_id("inv"),
        staff_id=staff_id,
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=now + timedelta(days=INVITE_DAYS),
    )
    session.add(invite)
    session.flush()
    return invite, make_token(INVITE_PREFIX, merchant_id, invite.id, secret)


def _split(token: str, prefix: str) -> tuple[str, str, str] | None:
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != prefix:
        return None
    return parts[1], parts[2], parts[3]


def open_invite(session, *, token: str, now: datetime) -> tuple[StaffInvite, Staff]:
    """The invite a link names, if it still works."""
    parts = _split(token, INVITE_PREFIX)
    invite = session.get(StaffInvite, (parts[0], parts[1])) if parts else None
    if invite is None or parts is None or not hmac.compare_digest(invite.secret_hash, hash_secret(parts[2])):
        raise NotFound("invite.not_found", "This invite link is not valid.")
    if invite.used_at is not None:
        raise Conflict("invite.used", "This invite link was already used; sign in with your password.")
    if invite.expires_at <= now:
        raise Conflict("invite.expired", "This invite link has expired; ask your admin for a new one.")
    staff = session.get_one(Staff, (invite.merchant_id, invite.staff_id))
    return invite, staff


def accept_invite(session, *, token: str, password: str, now: datetime) -> Staff:
    """Set the password through an invite link; the link then stops working."""
    invite, staff = open_invite(session, token=token, now=now)
    check_password(password)
    used = changed(
        session.execute(
            update(StaffInvite)
            .where(
                owned(StaffInvite, invite.merchant_id),
                StaffInvite.id == invite.id,
                StaffInvite.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if not used:
        raise Conflict("invite.used", "This invite link was already used; sign in with your password.")
    return set_credentials(
        session, merchant_id=invite.merchant_id, staff_id=staff.id, login=None, password=password, now=now
    )


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: the cookie value (shown once) and what the console needs."""

    cookie: str
    session: ConsoleSession
    staff: Staff


def _failed() -> Unauthenticated:
    return Unauthenticated("signin.failed", "The shop, login or password is wrong.")


def _locked(until: datetime) -> TooManyFailures:
    return TooManyFailures(
        "signin.locked",
        f"Too many failed attempts: this login is locked until {until:%H:%M} UTC.",
    )


def sign_in(db: Database, *, merchant_id: str, login: str, password: str, now: datetime) -> SignedIn:
    """Check a password and open a session, or count the failure (in its own transaction, so
    the count survives the refusal) and refuse with ``signin.failed`` / ``signin.locked``."""
    login = login.strip().lower()
    with db.unit_of_work(write=False) as s:
        staff = (
            s.scalar(select(Staff).where(owned(Staff, merchant_id), Staff.login == login))
            if merchant_id and login
            else None
        )
    if staff is not None and staff.locked_until is not None and staff.locked_until > now:
        raise _locked(staff.locked_until)
    if staff is None or not staff.active or not _password_matches(staff.password_hash, password):
        if staff is None:
            _password_matches(None, password)  # the same work as for a real login
            raise _failed()
        with db.unit_of_work() as s:
            # A lockout that has run out starts the count again (one slip after it is not a new lockout).
            expired = Staff.locked_until.is_not(None) & (Staff.locked_until <= now)
            failures = case((expired, 1), else_=Staff.failed_signins + 1)
            s.execute(
                update(Staff)
                .where(owned(Staff, merchant_id), Staff.id == staff.id)
                .values(
                    failed_signins=failures,
                    locked_until=case(
                        (failures >= MAX_FAILURES, now + LOCKOUT), (expired, None), else_=Staff.locked_until
                    ),
                )
                .execution_options(synchronize_session=False)
            )
            locked_until = s.scalar(
                select(Staff.locked_until).where(owned(Staff, merchant_id), Staff.id == staff.id)
            )
        if locked_until is not None and locked_until > now:
            raise _locked(locked_until)
        raise _failed()
    with db.unit_of_work() as s:
        merchant = s.get_one(Merchant, merchant_id)
        if merchant.status != MerchantStatus.ACTIVE:
            raise Forbidden("merchant.suspended", "This shop is suspended by the platform operator.")
        s.execute(
            update(Staff)
            .where(owned(Staff, merchant_id), Staff.id == staff.id)
            .values(failed_signins=0, locked_until=None)
            .execution_options(synchronize_session=False)
        )
        return open_session(s, staff=staff, now=now)


def open_session(session, *, staff: Staff, now: datetime) -> SignedIn:
    """A new console session for a staff member whose password was just checked."""
    secret = new_secret()
    row = ConsoleSession(
        merchant_id=staff.merchant_id,
        id=new_id("css"),
        staff_id=staff.id,
        secret_hash=hash_secret(secret),
        csrf=new_secret(),
        created_at=now,
        expires_at=now + timedelta(hours=SESSION_HOURS),
    )
    session.add(row)
    session.flush()
    return SignedIn(
        cookie=make_token(SESSION_PREFIX, staff.merchant_id, row.id, secret), session=row, staff=staff
    )


def _live(row: ConsoleSession | PlatformSession, secret: str, now: datetime) -> bool:
    """Not ended, not expired, and the cookie's secret is the one whose hash the row keeps."""
    return (
        row.ended_at is None
        and row.expires_at > now
        and hmac.compare_digest(row.secret_hash, hash_secret(secret))
    )


def session_of(session, *, cookie: str, now: datetime) -> tuple[ConsoleSession, Staff, Merchant] | None:
    """The live session a cookie names, with its staff member and shop; None when the cookie is
    not a session's, or the session ended, expired, or its member was deactivated."""
    parts = _split(cookie, SESSION_PREFIX)
    if parts is None:
        return None
    row = session.get(ConsoleSession, (parts[0], parts[1]))
    if row is None or not _live(row, parts[2], now):
        return None
    staff = session.get_one(Staff, (row.merchant_id, row.staff_id))
    merchant = session.get_one(Merchant, row.merchant_id)
    if not staff.active or merchant.status != MerchantStatus.ACTIVE:
        return None
    return row, staff, merchant


def end_session(session, *, merchant_id: str, session_id: str, now: datetime) -> None:
    """Sign out: the session stops working at once."""
    session.execute(
        update(ConsoleSession)
        .where(owned(ConsoleSession, merchant_id), ConsoleSession.id == session_id)
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


def platform_sign_in(
    session, *, key: str, platform_key: str | None, now: datetime
) -> tuple[PlatformSession, str]:
    """The platform operator signs in with the platform key."""
    if not platform_key or not hmac.compare_digest(key.encode(), platform_key.encode()):
        raise Unauthenticated("signin.failed", "The platform key is wrong.")
    secret = new_secret()
    row = PlatformSession(
        id=new_id("pss"),
        secret_hash=hash_secret(secret),
        csrf=new_secret(),
        created_at=now,
        expires_at=now + timedelta(hours=SESSION_HOURS),
    )
    session.add(row)
    session.flush()
    return row, make_token(PLATFORM_PREFIX, "platform", row.id, secret)


def platform_session_of(session, *, cookie: str, now: datetime) -> PlatformSession | None:
    parts = _split(cookie, PLATFORM_PREFIX)
    if parts is None:
        return None
    row = session.get(PlatformSession, parts[1])
    return row if row is not None and _live(row, parts[2], now) else None


def end_platform_session(session, *, session_id: str, now: datetime) -> None:
    session.execute(
        update(PlatformSession)
        .where(PlatformSession.id == session_id)
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
