"""Staff (admin): who may sign in, with which role and store; passwords set by the admin or
through a one-time invite link; deactivation. And every staff member's own account page,
where they change their password (the same calls as ``/staff`` and its credentials)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shoplet.console.forms import stores_of
from shoplet.console.web import (
    SESSION_COOKIE,
    PageError,
    SignInRequired,
    Viewer,
    check_csrf,
    cookie_options,
    render,
    require,
    staff_viewer,
)
from shoplet.errors import ShopletError
from shoplet.scoping import owned
from shoplet.tenancy import service as tenancy
from shoplet.tenancy import signin
from shoplet.tenancy.models import Staff
from shoplet.tenancy.schemas import StaffIn
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/console")


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: Any) -> Response:
    rt = request.app.state.runtime
    with rt.db.unit_of_work(write=False) as s:
        people = list(
            s.scalars(select(Staff).where(owned(Staff, viewer.tenant)).order_by(Staff.created_at, Staff.id))
        )
        stores = {x.id: x.name for x in stores_of(s, viewer.tenant)}
    extra.setdefault("form", {})
    extra.setdefault("errors", {})
    return render(request, viewer, "staff.html", status=status, people=people, stores=stores, **extra)


@router.get("/staff")
def staff_list(request: Request) -> Response:
    return _page(request, require(request, "staff"))


@router.post("/staff")
async def staff_create(request: Request) -> Response:
    viewer = require(request, "staff")
    form = await check_csrf(request, viewer)
    fields = {
        "name": form.get("name", "").strip(),
        "role": form.get("role", ""),
        "store_id": form.get("store_id") or None,
        "login": form.get("login", "").strip() or None,
        "password": form.get("password") or None,
    }
    try:
        body = StaffIn.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e.get("loc") else "form": str(e.get("msg")) for e in exc.errors()}
        return _page(request, viewer, status=422, form=form, errors=errors)
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            now = rt.clock()
            staff = tenancy.create_staff(
                s,
                merchant_id=viewer.tenant,
                name=body.name,
                role=body.role,
                store_id=body.store_id,
                phone=None,
                login=body.login,
                password=body.password,
                now=now,
            )
            invite = None
            if body.login and not body.password:
                _row, token = signin.create_invite(s, merchant_id=viewer.tenant, staff_id=staff.id, now=now)
                invite = f"{rt.settings.public_url}/console/invite/{token}"
    except ShopletError as error:
        return _page(request, viewer, status=error.status, form=form, errors={"form": error.detail})
    return _page(request, viewer, status=201, created=staff.name, invite=invite)


@router.post("/staff/{staff_id}/{action}")
async def staff_action(request: Request, staff_id: str, action: str) -> Response:
    """invite (a new one-time link), password (set it), deactivate."""
    viewer = require(request, "staff")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    invite = None
    try:
        with rt.db.unit_of_work() as s:
            now = rt.clock()
            if action == "invite":
                _row, token = signin.create_invite(s, merchant_id=viewer.tenant, staff_id=staff_id, now=now)
                invite = f"{rt.settings.public_url}/console/invite/{token}"
            elif action == "password":
                signin.set_credentials(
                    s,
                    merchant_id=viewer.tenant,
                    staff_id=staff_id,
                    login=None,
                    password=form.get("password", ""),
                    now=now,
                )
            elif action == "deactivate":
                tenancy.deactivate_staff(s, merchant_id=viewer.tenant, staff_id=staff_id)
            else:
                raise PageError(404, "Page not found")
    except ShopletError as error:
        if error.status == 404:
            raise PageError(404, error.detail) from None
        return _page(request, viewer, status=error.status, errors={"form": error.detail})
    return _page(request, viewer, invite=invite, done=action)


@router.get("/account")
def account(request: Request) -> Response:
    viewer = staff_viewer(request)
    if viewer is None:
        raise SignInRequired("/console/signin?next=/console/account")
    return render(request, viewer, "account.html")


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    viewer = staff_viewer(request)
    if viewer is None:
        raise SignInRequired("/console/signin?next=/console/account")
    form = await check_csrf(request, viewer)
    rt = request.app.state.runtime
    try:
        with rt.db.unit_of_work() as s:
            staff = signin.change_password(
                s,
                merchant_id=viewer.tenant,
                staff_id=str(viewer.staff_id),
                current=form.get("current", ""),
                new=form.get("new", ""),
                now=rt.clock(),
            )
            opened = signin.open_session(s, staff=staff, now=rt.clock())
    except ShopletError as error:
        return render(request, viewer, "account.html", status=error.status, error=error.detail)
    viewer.csrf = opened.session.csrf
    response = render(request, viewer, "account.html", changed=True)
    response.set_cookie(
        SESSION_COOKIE, opened.cookie, max_age=signin.SESSION_HOURS * 3600, **cookie_options(request)
    )
    return response
