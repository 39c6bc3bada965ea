"""Signing in and out, invite links, the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from shoplet.console.i18n import LANGUAGES
from shoplet.console.web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    anonymous,
    check_csrf,
    cookie_options,
    redirect,
    render,
    staff_viewer,
)
from shoplet.errors import ShopletError
from shoplet.tenancy import signin
from shoplet.tenancy.models import Merchant
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")


def _safe_next(target: str | None) -> str | None:
    """Only paths inside the console (no open redirect)."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return None


@router.get("")
@router.get("/")
def console_root(request: Request) -> Response:
    viewer = staff_viewer(request)
    return RedirectResponse(viewer.home if viewer else "/console/signin", status_code=303)


@router.get("/signin")
def signin_form(request: Request, shop: str = "", next: str = "", notice: str = "") -> Response:
    viewer = staff_viewer(request)
    if viewer is not None:
        return RedirectResponse(_safe_next(next) or viewer.home, status_code=303)
    shop = shop or request.cookies.get("shoplet_shop", "")
    return render(request, anonymous(request), "signin.html", shop=shop, login="", next=next, notice=notice)


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    rt = request.app.state.runtime
    shop, login = form.get("shop", "").strip(), form.get("login", "").strip()
    try:
        signed = signin.sign_in(
            rt.db, merchant_id=shop, login=login, password=form.get("password", ""), now=rt.clock()
        )
    except ShopletError as error:
        return render(
            request,
            anonymous(request),
            "signin.html",
            status=error.status,
            shop=shop,
            login=login,
            next=form.get("next", ""),
            error=error.detail,
            code=error.code,
        )
    role = str(signed.staff.role)
    home = {"clerk": "/console/clerk", "guide": "/console/workbench"}.get(role, "/console/home")
    response = RedirectResponse(_safe_next(form.get("next")) or home, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, signed.cookie, max_age=signin.SESSION_HOURS * 3600, **cookie_options(request)
    )
    response.set_cookie("shoplet_shop", shop, max_age=365 * 86400, **cookie_options(request))
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    viewer = staff_viewer(request)
    if viewer is not None:
        await check_csrf(request, viewer)
        rt = request.app.state.runtime
        with rt.db.unit_of_work() as s:
            signin.end_session(
                s, merchant_id=viewer.tenant, session_id=str(viewer.session_id), now=rt.clock()
            )
    response = redirect("/console/signin?notice=signed_out", request)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/invite/{token}")
def invite_form(request: Request, token: str) -> Response:
    rt = request.app.state.runtime
    viewer = anonymous(request)
    try:
        with rt.db.unit_of_work(write=False) as s:
            invite, staff = signin.open_invite(s, token=token, now=rt.clock())
            merchant_name = _merchant_name(s, invite.merchant_id)
    except ShopletError as error:
        return render(request, viewer, "error.html", status=error.status, message=error.detail)
    return render(request, viewer, "invite.html", token=token, staff=staff, shop=merchant_name)


@router.post("/invite/{token}")
async def invite_submit(request: Request, token: str) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    rt = request.app.state.runtime
    viewer = anonymous(request)
    try:
        with rt.db.unit_of_work() as s:
            staff = signin.accept_invite(s, token=token, password=form.get("password", ""), now=rt.clock())
            shop = staff.merchant_id
    except ShopletError as error:
        with rt.db.unit_of_work(write=False) as s:
            try:
                invite, staff = signin.open_invite(s, token=token, now=rt.clock())
            except ShopletError:
                return render(request, viewer, "error.html", status=error.status, message=error.detail)
            name = _merchant_name(s, invite.merchant_id)
        return render(
            request,
            viewer,
            "invite.html",
            status=error.status,
            token=token,
            staff=staff,
            shop=name,
            error=error.detail,
        )
    return RedirectResponse(f"/console/signin?shop={shop}&notice=password_set", status_code=303)


def _merchant_name(session, merchant_id: str) -> str:
    merchant = session.get(Merchant, merchant_id)
    return merchant.name if merchant else ""


@router.get("/language/{lang}")
def switch_language(request: Request, lang: str, back: str = "") -> Response:
    response = RedirectResponse(_safe_next(back) or "/console/", status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, **cookie_options(request))
    return response
