"""The FastAPI application: routers, error handlers, offline API docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from shoplet import __version__, console, problems
from shoplet.analytics import api as analytics_api
from shoplet.campaigns import api as campaigns_api
from shoplet.catalog import api as catalog_api
from shoplet.config import get_settings
from shoplet.coupons import api as coupons_api
from shoplet.customers import api as customers_api
from shoplet.errors import Conflict, InvalidInput, ShopletError, Unavailable
from shoplet.guides import api as guides_api
from shoplet.inventory import api as inventory_api
from shoplet.membership import api as membership_api
from shoplet.messaging import api as messaging_api
from shoplet.middleware import Guard
from shoplet.orders import api as orders_api
from shoplet.payments import api as payments_api
from shoplet.payments import sandbox_api
from shoplet.promotions import api as promotions_api
from shoplet.reports import api as reports_api
from shoplet.runtime import Runtime
from shoplet.schemas import known_zones
from shoplet.storefront import api as storefront_api
from shoplet.tenancy import api as tenancy_api
from shoplet.threads import OneHop
from shoplet.webhooks import api as webhooks_api
from shoplet.webhooks.catalogue import models as webhook_models

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def problem_response(error: ShopletError) -> JSONResponse:
    return JSONResponse(error.problem(), status_code=error.status, media_type=PROBLEM)


def _describe(errors: list[dict]) -> str:
    """One readable sentence from Pydantic's validation errors."""
    parts = []
    for err in errors[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header"))
        message = err.get("msg", "is invalid")
        parts.append(f"'{where}': {message}" if where else message)
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "The request is not valid: " + "; ".join(parts) + more + "."


def _allowed_methods(request: Request) -> str:
    """Every method the API answers at this path, from its OpenAPI document (each method is
    its own route, so the router's 405 alone names only one)."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = request.app.state.allow_table = [
            (compile_path(path)[0], {m.upper() for m in operations})
            for path, operations in request.app.openapi()["paths"].items()
        ]
    methods: set[str] = set()
    for pattern, verbs in table:
        if pattern.match(request.url.path):
            methods |= verbs
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShopletError)
    async def shoplet_error(_: Request, exc: ShopletError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()
        ]
        return problem_response(InvalidInput("request.invalid", _describe(errors), errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "http.not_found", 413: "request.too_large"}.get(
            exc.status_code, f"http.{exc.status_code}"
        )
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            code = "request.unreadable_body"  # FastAPI could not read the body (e.g. JSON nested too deep)
        error = ShopletError(code, str(exc.detail))
        body = error.problem() | {"status": exc.status_code, "title": str(exc.detail)}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM, headers=headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint caught a race the service checks did not: never leak database text.
        log.warning("integrity error: %s", exc.orig)
        return problem_response(
            Conflict("request.conflict", "The request conflicts with the current state; try again.")
        )

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold (a total past its integer columns): the input's doing.
        log.warning("data error: %s", exc.orig)
        return problem_response(
            InvalidInput(
                "request.value_out_of_range", "A number in the request, or a total it leads to, is too large."
            )
        )

    @app.exception_handler(OperationalError)
    async def db_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc.orig)
        return problem_response(
            Unavailable("service.database_busy", "The database is busy; try again shortly.")
        )

    # Anything else is caught by middleware.Guard, which keeps the connection open.


API = "/api/v1"
"""Where every API operation lives; the segment after it names the section (below)."""


STOREFRONT = API + "/storefront"
"""Where the customers' mini programs call: served by an application of its own (below)."""

CONSOLE = "/console"
"""The merchant console's pages: an application of their own too."""

STOREFRONT_ROUTERS = (
    storefront_api.router,
    coupons_api.storefront,
    guides_api.storefront,
    membership_api.storefront,
    messaging_api.storefront,
    campaigns_api.storefront,
)


class Audiences:
    """The front door, so that what a request pays to find its route does not grow with the API.

    FastAPI tries its routes one by one: without this a customer's checkout would pay for
    every merchant, platform and console operation listed before it, and a webhook call for
    every domain registered before webhooks (the API keeps growing). Here an API request's
    first segment after ``/api/v1/`` (``coupon-templates``, ``orders`` …; under ``storefront``
    the first two: ``storefront/orders``) picks, by one dictionary lookup, the application
    holding only the routes under it (:func:`sections`); a path under another prefix
    (``/console``) goes to that audience's application; everything else (health, the
    document, static files) to the main one."""

    def __init__(self, app: Any, *, audiences: dict[str, Any], sections: dict[str, Any]) -> None:
        self.app = app
        self.audiences = tuple(audiences.items())
        self.sections = sections
        self.api = API + "/"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path.startswith(self.api):
                target = self.sections.get(_head(path[len(self.api) :]))
                if target is not None:
                    await target(scope, receive, send)
                    return
            for prefix, target in self.audiences:
                if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("", "/"):
                    await target(scope, receive, send)
                    return
        await self.app(scope, receive, send)


NESTED = frozenset({STOREFRONT.rpartition("/")[2]})
"""First segments sectioned one level further: the customers' API (``/storefront/orders``,
``/storefront/coupons`` …) is an audience of its own and grows with every capability, so a
checkout tries only the operations under ``/storefront/orders``."""


def _head(path: str) -> str:
    """A path's section (see :func:`section_key`), for a request's path after the API prefix."""
    head, _, tail = path.partition("/")
    return f"{head}/{tail.partition('/')[0]}" if head in NESTED else head


def section_key(path: str) -> str:
    """Where a route sits: ``/coupon-templates/{template_id}`` → ``coupon-templates``,
    ``/storefront/orders/{order_id}`` → ``storefront/orders`` (:data:`NESTED`)."""
    head = _head(path.lstrip("/"))
    if not head or "{" in head or head.endswith("/"):
        raise ValueError(f"a route must start with fixed segments to be sectioned: {path}")
    return head


def _route_key(route: Any) -> str:
    return section_key(getattr(route, "path", ""))


class Section:
    """An application built at its first request: a process (or a test) that never calls a
    section does not pay for building it. It holds, of each router, only the routes under
    its segments (a storefront router's routes spread over several sections)."""

    def __init__(self, runtime: Runtime, routers: list[APIRouter], key: str) -> None:
        self.runtime = runtime
        self.routers = routers
        self.key = key
        self._app: FastAPI | None = None

    @property
    def app(self) -> FastAPI:
        if self._app is None:  # built on the event loop's thread: no other request builds it meanwhile
            app = audience_app(self.runtime, f"Shoplet API: /{self.key}")
            api = APIRouter(route_class=OneHop, prefix=API)
            for router in self.routers:
                held = [route for route in router.routes if _route_key(route) == self.key]
                api.include_router(router if len(held) == len(router.routes) else APIRouter(routes=held))
            app.include_router(api)
            self._app = app
        return self._app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def sections(runtime: Runtime, routers: list[APIRouter]) -> dict[str, Any]:
    """For each section the routers' routes use (:func:`section_key`), a :class:`Section`
    holding those routes only, from the routers that have routes under it in their order (a
    segment two domains would share gets both, the first registered first, as in the main
    application)."""
    owners: dict[str, list[APIRouter]] = {}
    for router in routers:
        for route in router.routes:
            group = owners.setdefault(_route_key(route), [])
            if router not in group:
                group.append(router)
    return {key: Section(runtime, group, key) for key, group in owners.items()}


def audience_app(runtime: Runtime, title: str) -> FastAPI:
    """An application serving one audience: the same error handlers and guard as the main one."""
    app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(Guard)
    return app


def console_app(runtime: Runtime) -> FastAPI:
    """The merchant console's pages (``/console/…``; not part of the API document)."""
    app = audience_app(runtime, "Shoplet console")
    console.install(app)
    return app


def _document_webhooks(app: FastAPI) -> None:
    """The event catalogue in the API document's ``webhooks``: what each event type's body
    is, as a receiver gets it (signed: see the webhooks section of the README)."""
    for name, model in webhook_models().items():

        def receive(body: Any) -> None:
            """Documentation only: Shoplet POSTs this body to your endpoint."""

        receive.__annotations__ = {"body": model, "return": None}
        receive.__doc__ = f"{model.__doc__} Signed with webhook-id, webhook-timestamp and webhook-signature."
        app.webhooks.post(name, summary=name, response_model=None, status_code=200)(receive)


def worker_threads(runtime: Runtime) -> Any:
    """The application's lifespan: bound the worker threads blocking endpoints run in.

    Starlette's default is 40. The endpoints' work is Python (and SQLite, in process) under one
    interpreter lock, so forty threads mostly hand that lock to one another: under sixteen
    concurrent customers a checkout cost about a sixth more CPU than alone, and a few threads
    served more orders a second than forty on both databases (README, checkout benchmark).
    Requests beyond the bound wait on the event loop, costing nothing meanwhile."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = runtime.settings.worker_threads
        yield

    return lifespan


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the application around a runtime (built from the environment when not given)."""
    runtime = runtime or Runtime(get_settings())
    known_zones()  # listed now rather than by the first requests that need it
    app = FastAPI(
        lifespan=worker_threads(runtime),
        title="Shoplet",
        version=__version__,
        summary="Commerce operating system for mini-program merchants.",
        description=(
            "Amounts are integers in fen (100 = ¥1.00). Authenticate with "
            "`Authorization: Bearer <token>`: a merchant API key (`sk.…`), a customer "
            "session (`cs.…`) or the platform key. Errors are `application/problem+json` "
            "with a stable `code`."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(Guard)
    routers = [
        module.router
        for module in (
            tenancy_api,
            inventory_api,
            catalog_api,
            customers_api,
            promotions_api,
            coupons_api,
            guides_api,
            membership_api,
            orders_api,
            payments_api,
            campaigns_api,
            reports_api,
            analytics_api,
            messaging_api,
            webhooks_api,
        )
    ]
    routers += [tenancy_api.platform, payments_api.notify, messaging_api.media]
    if runtime.sandbox is not None:
        routers += [sandbox_api.router, messaging_api.sandbox]
    routers += STOREFRONT_ROUTERS
    by_segment = sections(runtime, routers)
    # Outermost, before the guard: each audience's and section's application has its own.
    app.add_middleware(Audiences, audiences={CONSOLE: console_app(runtime)}, sections=by_segment)
    app.state.sections = by_segment
    static = resources.files("shoplet") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    api = APIRouter(route_class=OneHop, prefix=API)

    @api.get("/health", tags=["health"])
    def health() -> dict:
        """Liveness and database reachability."""
        try:
            with runtime.db.unit_of_work(write=False) as s:
                s.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise Unavailable("service.database_down", "The database cannot be reached.") from exc
        return {"status": "ok", "version": __version__, "database": runtime.db.dialect}

    for router in routers:  # the whole API in one application too: its document, and the fallback
        api.include_router(router)
    app.include_router(api)
    _document_webhooks(app)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Interactive API docs from vendored assets: nothing is loaded from the internet."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Shoplet API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
            # Swagger UI would otherwise ask an online validator for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document with every operation's problem responses (built once)."""
        if app.openapi_schema is None:
            problems.document(app, generate(), dynamic=runtime.verifiers.values())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    return app
