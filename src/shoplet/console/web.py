"""What every console page shares: templates, languages, money and dates, the signed-in
viewer, CSRF, role checks and error pages.

Pages are server-rendered (Jinja2) and call the same service functions as the API, in the
same units of work, scoped to the viewer's merchant; HTMX swaps fragments. Nothing loads
from the internet: HTMX and ECharts are vendored under ``static/console/vendor``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from shoplet.console.i18n import LANGUAGES, translate
from shoplet.errors import ShopletError
from shoplet.tenancy import signin
from shoplet.tenancy.models import Role

SESSION_COOKIE = "shoplet_console"
PLATFORM_COOKIE = "shoplet_platform"
LANG_COOKIE = "shoplet_lang"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"

# The screens each role may open (admin: all of them).
SCREENS: dict[str, set[str]] = {  # keyed by the role strings
    Role.ADMIN: {
        "home",
        "catalogue",
        "promotions",
        "campaigns",
        "coupons",
        "membership",
        "stores",
        "clerk",
        "orders",
        "staff",
        "messages",
        "webhooks",
    },
    Role.OPERATOR: {
        "home",
        "catalogue",
        "promotions",
        "campaigns",
        "coupons",
        "membership",
        "stores",
        "orders",
        "messages",
    },
    Role.CLERK: {"clerk", "orders"},
    Role.GUIDE: {"workbench"},
}
HOME_OF: dict[str, str] = {
    Role.ADMIN: "home",
    Role.OPERATOR: "home",
    Role.CLERK: "clerk",
    Role.GUIDE: "workbench",
}


class PageError(Exception):
    """A page cannot be shown to this viewer: rendered as an error page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Viewer:
    """Who is looking at a console page."""

    lang: str
    csrf: str = ""
    merchant_id: str | None = None
    merchant_name: str = ""
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    staff_id: str | None = None
    staff_name: str = ""
    role: str | None = None
    store_id: str | None = None
    session_id: str | None = None
    platform: bool = False

    @property
    def tenant(self) -> str:
        assert self.merchant_id is not None
        return self.merchant_id

    def may(self, screen: str) -> bool:
        return self.role is not None and screen in SCREENS.get(self.role, set())

    @property
    def home(self) -> str:
        return f"/console/{HOME_OF.get(str(self.role), 'home')}"


def money(fen: int | None) -> str:
    """¥12.30 from 1230 fen."""
    if fen is None:
        return "–"
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def language(request: Request) -> str:
    """The language asked for by the switch (a cookie), else the browser's Accept-Language."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "zh"


_env = Environment(
    loader=FileSystemLoader(str(resources.files("shoplet") / "console" / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["money"] = money
_env.filters["percent"] = percent


def render(request: Request, viewer: Viewer, file: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page (or, for an HTMX request of a fragment template, the fragment)."""

    def t(text: str, **values: Any) -> str:
        return translate(viewer.lang, text, **values)

    def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "–" if moment is None else moment.astimezone(viewer.zone).strftime(fmt)

    html = _env.get_template(file).render(
        request=request, viewer=viewer, t=t, local=local, path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; media-src 'self' blob:; frame-ancestors 'none'"
    )
    return response


def anonymous(request: Request) -> Viewer:
    return Viewer(lang=language(request))


def staff_viewer(request: Request) -> Viewer | None:
    """The signed-in staff member, from the session cookie (None: not signed in)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        found = signin.session_of(s, cookie=cookie, now=rt.clock())
    if found is None:
        return None
    row, staff, merchant = found
    return Viewer(
        lang=language(request),
        csrf=row.csrf,
        merchant_id=merchant.id,
        merchant_name=merchant.name,
        zone=ZoneInfo(merchant.timezone),
        staff_id=staff.id,
        staff_name=staff.name,
        role=staff.role,
        store_id=staff.store_id,
        session_id=row.id,
    )


def platform_viewer(request: Request) -> Viewer | None:
    cookie = request.cookies.get(PLATFORM_COOKIE)
    if not cookie:
        return None
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        row = signin.platform_session_of(s, cookie=cookie, now=rt.clock())
    if row is None:
        return None
    return Viewer(
        lang=language(request), csrf=row.csrf, session_id=row.id, platform=True, staff_name="Platform"
    )


class SignInRequired(Exception):
    """Not signed in: the page redirects to the sign-in form (HTMX: a full-page redirect)."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def require(request: Request, screen: str) -> Viewer:
    """The viewer, if signed in and allowed to open ``screen``."""
    viewer = staff_viewer(request)
    if viewer is None:
        raise SignInRequired(f"/console/signin?next={quote(request.url.path)}")
    if not viewer.may(screen):
        raise PageError(403, "Your role cannot open this screen.")
    return viewer


def require_platform(request: Request) -> Viewer:
    viewer = platform_viewer(request)
    if viewer is None:
        raise SignInRequired("/console/platform/signin")
    return viewer


async def check_csrf(request: Request, viewer: Viewer) -> dict[str, str]:
    """The submitted form, once its CSRF token (form field or X-CSRF-Token header) matches the
    session's; otherwise a 403 that changes nothing."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD, "")
    if not viewer.csrf or not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
        raise PageError(
            403, "This form has expired or did not come from Shoplet; reload the page and try again."
        )
    return form


def attempt(request: Request, work: Callable[[Session, datetime], Any]) -> ShopletError | None:
    """Run a change in one unit of work. A refusal comes back, for the page to show next to
    the form (nothing changed); an object that is not the viewer's shop's is a 404 page."""
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            work(s, rt.clock())
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return error
    return None


def redirect(target: str, request: Request) -> Response:
    """A redirect that HTMX follows as a full page load."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def cookie_options(request: Request) -> dict[str, Any]:
    """HttpOnly, SameSite=Lax; Secure when served over HTTPS (directly or behind a proxy)."""
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": "/"}
