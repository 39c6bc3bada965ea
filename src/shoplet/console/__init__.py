"""The merchant console and the clerk's screen: server-rendered pages at ``/console``.

``install(app)`` mounts the pages and their error handling on the FastAPI app. Each page
module holds one area's routes; ``web`` what they share.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from shoplet.console import (
    campaigns,
    catalogue,
    clerk,
    coupon_jobs,
    coupons,
    home,
    membership,
    messaging,
    orders,
    platform,
    promotions,
    signin,
    staff,
    stores,
    webhooks,
    workbench,
)
from shoplet.console.web import PageError, SignInRequired, anonymous, redirect, render, staff_viewer


def install(app: FastAPI) -> None:
    # A module with specific paths comes before one whose pattern would take them
    # (coupon_jobs' /coupons/{id}/codes before coupons' /coupons/{id}/{action}).
    for module in (
        signin,
        home,
        catalogue,
        clerk,
        coupon_jobs,
        coupons,
        promotions,
        campaigns,
        membership,
        messaging,
        orders,
        staff,
        stores,
        workbench,
        webhooks,
        platform,
    ):
        app.include_router(module.router, include_in_schema=False)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return redirect(exc.target, request)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        viewer = staff_viewer(request) or anonymous(request)
        return render(request, viewer, "error.html", status=exc.status, message=exc.message)
