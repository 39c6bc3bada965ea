"""The platform operator's page: sign in with the platform key; list and create merchants
(each with its owner's admin login and a one-time invite link to set the password)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.web import (
    PLATFORM_COOKIE,
    PageError,
    anonymous,
    attempt,
    check_csrf,
    cookie_options,
    platform_viewer,
    redirect,
    render,
    require_platform,
)
from shoplet.errors import ShopletError
from shoplet.tenancy import service as tenancy
from shoplet.tenancy import signin
from shoplet.tenancy.models import Merchant, MerchantStatus, Role
from shoplet.tenancy.schemas import MerchantIn
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console/platform")


@router.get("/signin")
def platform_signin_form(request: Request) -> Response:
    if platform_viewer(request) is not None:
        return RedirectResponse("/console/platform", status_code=303)
    return render(request, anonymous(request), "platform_signin.html")


@router.post("/signin")
async def platform_signin(request: Request) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            _row, cookie = signin.platform_sign_in(
                s, key=form.get("key", ""), platform_key=rt.settings.platform_key, now=rt.clock()
            )
    except ShopletError as error:
        return render(
            request, anonymous(request), "platform_signin.html", status=error.status, error=error.detail
        )
    response = RedirectResponse("/console/platform", status_code=303)
    response.set_cookie(
        PLATFORM_COOKIE, cookie, max_age=signin.SESSION_HOURS * 3600, **cookie_options(request)
    )
    return response


@router.post("/signout")
async def platform_signout(request: Request) -> Response:
    viewer = platform_viewer(request)
    if viewer is not None:
        await check_csrf(request, viewer)
        rt = request.app.state.runtime
        with rt.db.unit_of_work() as s:
            signin.end_platform_session(s, session_id=str(viewer.session_id), now=rt.clock())
    response = redirect("/console/platform/signin", request)
    response.delete_cookie(PLATFORM_COOKIE, path="/")
    return response


def _page(request: Request, viewer, status: int = 200, **extra) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        merchants = list(s.scalars(select(Merchant).order_by(Merchant.created_at.desc()).limit(500)))
    return render(request, viewer, "platform.html", status=status, merchants=merchants, **extra)


@router.get("")
def platform_home(request: Request) -> Response:
    return _page(request, require_platform(request), form={}, errors={})


@router.post("/merchants")
async def platform_create(request: Request) -> Response:
    viewer = require_platform(request)
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    errors: dict[str, str] = {}
    try:
        body = MerchantIn.model_validate(
            {
                "name": form.get("name", "").strip(),
                "timezone": form.get("timezone", "").strip() or "Asia/Shanghai",
            }
        )
    except ValidationError as exc:
        for err in exc.errors():
            errors[str(err["loc"][0]) if err.get("loc") else "form"] = str(err.get("msg"))
        return _page(request, viewer, status=422, form=form, errors=errors)
    owner_login = form.get("owner_login", "").strip() or "owner"
    try:
        with rt.db.unit_of_work() as s:
            now = rt.clock()
            merchant, _key, token = tenancy.create_merchant(
                s, name=body.name, timezone=body.timezone, now=now
            )
            owner = tenancy.create_staff(
                s,
                merchant_id=merchant.id,
                name=form.get("owner_name", "").strip() or "Owner",
                role=Role.ADMIN,
                store_id=None,
                phone=None,
                login=owner_login,
                now=now,
            )
            _invite, invite_token = signin.create_invite(
                s, merchant_id=merchant.id, staff_id=owner.id, now=now
            )
            created = {
                "merchant": merchant,
                "api_key": token,
                "owner_login": owner.login,
                "invite_url": f"{rt.settings.public_url}/console/invite/{invite_token}",
            }
    except ShopletError as error:
        return _page(request, viewer, status=error.status, form=form, errors={"form": error.detail})
    return _page(request, viewer, status=201, form={}, errors={}, created=created)


@router.post("/merchants/{merchant_id}/{action}")
async def platform_merchant_status(request: Request, merchant_id: str, action: str) -> Response:
    """Suspend a merchant (nothing of it works until reactivated) or reactivate it."""
    viewer = require_platform(request)
    await check_csrf(request, viewer)
    status = {"suspend": MerchantStatus.SUSPENDED, "reactivate": MerchantStatus.ACTIVE}.get(action)
    if status is None:
        raise PageError(404, "Page not found")
    refused = attempt(
        request, lambda s, now: tenancy.set_merchant_status(s, merchant_id=merchant_id, status=status)
    )
    if refused is not None:
        raise PageError(refused.status, refused.detail)
    return redirect("/console/platform", request)
