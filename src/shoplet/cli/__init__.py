"""``shoplet`` — serve, demo, migrate, worker."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import time
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    help="Shoplet: a commerce operating system for mini-program merchants.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


def _settings(**overrides):
    """The settings from the environment; an invalid one is one line naming it, exit 2."""
    from pydantic import ValidationError

    from shoplet.config import get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SHOPLET_" + str(first["loc"][0]).upper() if first.get("loc") else "a SHOPLET_ setting"
        typer.echo(f"shoplet: {name} is invalid: {first['msg']} (got {first.get('input')!r})", err=True)
        raise typer.Exit(2) from None
    return settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def _require_migrated(url: str) -> None:
    """Refuse to serve a database whose schema is behind: one line saying what to do."""
    from sqlalchemy.exc import SQLAlchemyError

    from shoplet.migrate import pending

    try:
        missing = pending(url)
    except SQLAlchemyError as exc:
        typer.echo(
            f"shoplet: cannot reach the database ({url.split('@')[-1]}): {exc.__class__.__name__}", err=True
        )
        raise typer.Exit(1) from None
    if missing:
        typer.echo(
            f"shoplet: the database is not migrated ({len(missing)} migration(s) pending); "
            "run `shoplet migrate` first.",
            err=True,
        )
        raise typer.Exit(1)


def _warn_sandbox(settings) -> None:
    if settings.sandbox_payments:
        err = Console(stderr=True)
        err.print(
            "[bold red]WARNING: the sandbox is ON[/bold red] (SHOPLET_SANDBOX_PAYMENTS=true): anyone can pay "
            "orders through the unauthenticated sandbox wallet and sign in through the sandbox host apps. "
            "Never use it with real customers.",
            highlight=False,
        )


def _serve(settings, host: str, port: int, *, worker: bool) -> None:
    import uvicorn

    from shoplet import jobs
    from shoplet.app import create_app
    from shoplet.runtime import Runtime

    runtime = Runtime(settings)
    jobs.install(runtime)
    consumer = jobs.start_embedded_consumer() if worker else None
    application = create_app(runtime)
    # Everything built so far lives as long as the process: set it aside from the garbage
    # collector, whose full collections would otherwise walk it again and again under load.
    gc.collect()
    gc.freeze()
    try:
        uvicorn.run(application, host=host, port=port, log_level=settings.log_level)
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
        runtime.db.dispose()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    worker: bool = typer.Option(True, help="Run the job consumer in this process too."),
) -> None:
    """Serve the API (and, by default, the job consumer in the same process)."""
    settings = _settings()
    if settings.public_url == "http://127.0.0.1:8000" and "SHOPLET_PUBLIC_URL" not in os.environ:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    _require_migrated(settings.database_url)
    _warn_sandbox(settings)
    _serve(settings, host, port, worker=worker)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from shoplet.migrate import pending, upgrade

    settings = _settings()
    where = settings.database_url.split("@")[-1]
    steps = pending(settings.database_url)
    upgrade(settings.database_url)
    for revision, what in steps:
        console.print(f"  applied {revision}: {what}", highlight=False)
    state = f"{len(steps)} migration(s) applied" if steps else "nothing to apply"
    console.print(f"[green]Database is up to date[/green] ({where}): {state}.", highlight=False)


@app.command()
def demo(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000)) -> None:
    """Migrate, load the demo coffee chain, print credentials, and serve."""
    from shoplet import demo as demo_data
    from shoplet.db import Database, utcnow
    from shoplet.migrate import upgrade

    settings = _settings()
    platform_key = settings.platform_key or "pk_demo_" + secrets.token_urlsafe(16)
    settings = settings.model_copy(
        update={"platform_key": platform_key, "sandbox_payments": True, "public_url": f"http://{host}:{port}"}
    )
    upgrade(settings.database_url)
    db = Database(settings.database_url, settings.database_pool_size)
    with db.unit_of_work() as session:
        fresh = demo_data.existing(session) is None
    if fresh:  # a month of simulated customers, so the figures are never empty
        _demo_history(settings, db, days=DEMO_DAYS, customers=DEMO_CUSTOMERS)
    with db.unit_of_work() as session:
        creds = demo_data.load(session, now=utcnow(), session_days=settings.customer_session_days)
    db.dispose()
    base = f"http://{host}:{port}"
    state = "created" if creds.created else "already loaded; fresh credentials issued"
    rows = [
        ("Merchant id", creds.merchant_id),
        ("Admin API key", creds.admin_key),
        ("Clerk API key", f"{creds.clerk_key}   (clerk of store {creds.clerk_store})"),
        ("Guide API key", f"{creds.guide_key}   (Guide Qian's workbench: /api/v1/workbench/...)"),
        ("Customer session", f"{creds.customer_token}   (customer {creds.customer_id}, via Alipay)"),
        ("Coupon code", f"{creds.public_code}   (public: any customer can claim ¥15 off ¥99 with it)"),
        ("Batch code", f"{creds.batch_code}   (one of 50 unique codes, each redeemed once)"),
        ("Platform key", f"{platform_key}   (platform console: {base}/console/platform)"),
        ("Console", f"{base}/console/signin?shop={creds.merchant_id}"),
        *[
            (f"  {role} sign-in", f"login {login}  password {password}")
            for role, login, password in creds.console_logins
        ],
        ("Health", f"{base}/api/v1/health"),
        ("API docs", f"{base}/docs"),
        ("OpenAPI", f"{base}/openapi.json"),
    ]
    console.print(f"[bold]{demo_data.DEMO_NAME}[/bold] — {state}")
    for label, value in rows:  # plain lines: credentials must never be cut to fit a table
        console.print(f"  {label + ':':<18} {value}", soft_wrap=True, highlight=False)
    console.print(
        "Use a key as [bold]Authorization: Bearer <key>[/bold]. Keys are shown once. "
        "Paste these into a shell for the README's walkthrough:",
        highlight=False,
    )
    console.print(
        f"export BASE={base} ADMIN={creds.admin_key} CLERK={creds.clerk_key} GUIDE={creds.guide_key} "
        f"CUSTOMER={creds.customer_token} PLATFORM={platform_key} STORE={creds.clerk_store}",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        "[bold yellow]The sandbox is on[/bold yellow] (demo only): payments, the wallet at "
        f"{base}/api/v1/sandbox and host-app sign-in are simulated.",
        highlight=False,
    )
    _serve(settings, host, port, worker=True)


DEMO_DAYS = 30
DEMO_CUSTOMERS = 400


def _progress(label: str, total: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    return bar, bar.add_task(label, total=total)


def _demo_history(settings, db, *, days: int, customers: int, seed: int = 1) -> None:
    """Create the demo merchant ``days`` ago and play its customers up to now."""
    from datetime import timedelta

    from shoplet import demo as demo_data
    from shoplet import simulator
    from shoplet.db import utcnow

    end = utcnow()
    with db.unit_of_work() as session:
        merchant_id = demo_data.create(session, now=end - timedelta(days=days)).id
    rt = simulator.runtime_for(settings, db)
    bar, task = _progress(f"Simulating {days} days of {customers} customers", days)
    with bar:
        simulator.simulate(
            rt,
            merchant_id,
            days=days,
            customers=customers,
            seed=seed,
            end=end,
            progress=lambda n: bar.advance(task, n),
        )


def _merchant_or_demo(db, merchant: str | None, command: str) -> str:
    from shoplet import demo as demo_data
    from shoplet.tenancy.models import Merchant

    with db.unit_of_work(write=False) as session:
        if merchant:
            if session.get(Merchant, merchant) is None:
                typer.echo(f"shoplet {command}: no merchant {merchant}", err=True)
                raise typer.Exit(2)
            return merchant
        found = demo_data.existing(session)
    if found is None:
        typer.echo(f"shoplet {command}: give --merchant (there is no demo merchant)", err=True)
        raise typer.Exit(2)
    return found.id


@app.command()
def simulate(
    days: int = typer.Option(30, min=1, max=366, help="Days of history, ending now."),
    customers: int = typer.Option(5000, min=1, max=1_000_000, help="Customers who arrive over the period."),
    seed: int = typer.Option(1, help="The same seed plays the same history."),
    merchant: str = typer.Option(None, help="Merchant id (default: the demo merchant, created if missing)."),
) -> None:
    """Fill a shop with simulated customer traffic through the real services (see
    shoplet.simulator for what customers do and the knobs), then bring the rollups up to date."""
    import json
    import time

    from shoplet import demo as demo_data
    from shoplet import simulator
    from shoplet.db import Database

    settings = _settings()
    _require_migrated(settings.database_url)
    db = Database(settings.database_url, settings.database_pool_size)
    with db.unit_of_work(write=False) as session:
        missing_demo = merchant is None and demo_data.existing(session) is None
    started = time.perf_counter()
    if missing_demo:
        _demo_history(settings, db, days=days, customers=customers, seed=seed)
        typer.echo(json.dumps({"merchant_id": _merchant_or_demo(db, None, "simulate"), "days": days}))
        return
    merchant_id = _merchant_or_demo(db, merchant, "simulate")
    rt = simulator.runtime_for(settings, db)
    bar, task = _progress(f"Simulating {days} days of {customers} customers", days)
    with bar:
        report = simulator.simulate(
            rt,
            merchant_id,
            days=days,
            customers=customers,
            seed=seed,
            progress=lambda n: bar.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    summary = {
        "merchant_id": merchant_id,
        "days": report.days,
        "customers": report.customers,
        "customer_days": report.customer_days,
        "orders": report.orders,
        "paid": report.paid,
        "refunds": report.refunds,
        "events": report.events,
        "events_per_s": round(report.events_per_s, 1),
        "seconds": round(elapsed, 1),
        "refused": report.refused,
    }
    typer.echo(json.dumps(summary))


@app.command()
def price(source: str = typer.Argument("-", help="A JSON cart file, or - for standard input.")) -> None:
    """Price a cart (contracts/pricing.md) without a server; prints the result as JSON.

    Invalid input exits 2 with one line on standard error.
    """
    import json
    import sys
    from datetime import UTC, datetime

    from shoplet.pricing import InvalidCart
    from shoplet.pricing import price as price_cart

    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as exc:
        typer.echo(f"shoplet price: cannot read {source}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        cart = json.loads(text)
    except json.JSONDecodeError as exc:
        typer.echo(
            f"shoplet price: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", err=True
        )
        raise typer.Exit(2) from None
    try:
        result = price_cart(cart, now=datetime.now(UTC))
    except InvalidCart as exc:
        typer.echo(f"shoplet price: invalid cart: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@app.command()
def settle(
    at: str = typer.Option(None, help="Settle as of this ISO time (default: now)."),
    chunk: int = typer.Option(None, help="Memberships per transaction (default: SHOPLET_SETTLEMENT_CHUNK)."),
    workers: int = typer.Option(
        None, min=1, max=16, help="Threads settling side by side (default: SHOPLET_SETTLEMENT_WORKERS)."
    ),
    quiet: bool = typer.Option(False, help="No progress bar; print the summary only."),
    timings: Path = typer.Option(
        None, help="Append a line per chunk to this file: the monotonic time and periods closed so far."
    ),
) -> None:
    """Settle light memberships whose period has ended: charge min(fee, enjoyed) once each.

    Safe to stop at any moment (even kill -9) and to run again: nothing is charged twice
    and nothing is skipped.
    """
    import json
    from datetime import datetime

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from shoplet.membership import settlement
    from shoplet.runtime import Runtime

    settings = _settings()
    rt = Runtime(settings)
    if rt.agreements is None:
        typer.echo("shoplet settle: no deduction-agreement provider is configured", err=True)
        raise typer.Exit(2)
    try:
        now = datetime.fromisoformat(at) if at else rt.clock()
    except ValueError:
        typer.echo(f"shoplet settle: --at is not an ISO time: {at}", err=True)
        raise typer.Exit(2) from None
    if now.tzinfo is None:
        typer.echo("shoplet settle: --at needs a time zone (e.g. +08:00 or Z)", err=True)
        raise typer.Exit(2)
    from shoplet.schemas import in_sane_range

    if not in_sane_range(now):
        typer.echo("shoplet settle: --at must be between the years 2000 and 2100", err=True)
        raise typer.Exit(2)
    total = settlement.due_count(rt.db, now=now)
    columns = (
        TextColumn("[bold]settling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=quiet) as bar:
        task = bar.add_task("settle", total=total or None, detail="")

        log = timings.open("a", buffering=1) if timings else None

        def on_chunk(p: settlement.Progress) -> None:
            if log is not None:
                log.write(f"{time.monotonic():.6f} {p.closed}\n")
            bar.update(
                task,
                completed=min(p.charged + p.closed_free + p.failed, total),
                detail=f"charged {p.charged} · nothing owed {p.closed_free} · failed {p.failed} · "
                f"overdue {p.overdue}",
            )

        gc.collect()  # what is built now lives as long as the run (see _serve)
        gc.freeze()
        done = settlement.settle(
            rt.db,
            rt.agreements,
            now=now,
            chunk=chunk or settings.settlement_chunk,
            on_chunk=on_chunk,
            workers=workers or settings.settlement_workers or (2 if rt.db.dialect == "postgresql" else 1),
        )
    rt.db.dispose()
    typer.echo(
        json.dumps(
            {
                "closed": done.closed,
                "charged": done.charged,
                "nothing_owed": done.closed_free,
                "failed_attempts": done.failed,
                "overdue": done.overdue,
            }
        )
    )


keys = typer.Typer(
    help="API keys of a merchant, for an operator with access to the database.", no_args_is_help=True
)
app.add_typer(keys, name="keys")


@keys.command("create")
def create_key(
    merchant: str = typer.Option(..., help="The merchant's id (mer_…)."),
    role: str = typer.Option("admin", help="admin: a key with every right of the merchant."),
    staff: str = typer.Option(None, help="Instead: a key that acts as this staff member (stf_…)."),
    name: str = typer.Option("command-line key", help="What the key is for."),
) -> None:
    """Issue an API key for an existing merchant (e.g. when every admin key was lost); the
    token is printed once."""
    from shoplet.db import Database, utcnow
    from shoplet.errors import ShopletError
    from shoplet.tenancy import service as tenancy
    from shoplet.tenancy.models import Merchant

    if role != "admin" and staff is None:
        typer.echo("shoplet keys create: --role admin, or --staff for a staff member's key", err=True)
        raise typer.Exit(2)
    settings = _settings()
    _require_migrated(settings.database_url)
    db = Database(settings.database_url, settings.database_pool_size)
    try:
        with db.unit_of_work() as session:
            if session.get(Merchant, merchant) is None:
                typer.echo(f"shoplet keys create: no merchant {merchant}", err=True)
                raise typer.Exit(2)
            key, token = tenancy.create_api_key(
                session, merchant_id=merchant, name=name, staff_id=staff, now=utcnow()
            )
    except ShopletError as exc:
        typer.echo(f"shoplet keys create: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    typer.echo(f"{key.id} {token}")


@app.command()
def worker(workers: int = typer.Option(2, help="Worker threads.")) -> None:
    """Run the job consumer alone (sweeps, notifications, retries)."""
    from shoplet import jobs
    from shoplet.runtime import Runtime

    jobs.install(Runtime(_settings()))
    consumer = jobs.huey.create_consumer(workers=workers, worker_type="thread", periodic=True)
    gc.collect()  # what is built now lives as long as the process (see _serve)
    gc.freeze()
    consumer.run()


# The commands kept in modules of their own register on ``app`` when imported.
from shoplet.cli import figures as _figures  # noqa: E402, F401


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app()


if __name__ == "__main__":
    main()
