"""``shoplet figures``: a merchant's figures on the terminal, as the console's home shows them."""

from __future__ import annotations

import typer

from shoplet.cli import _merchant_or_demo, _require_migrated, _settings, app, console


@app.command()
def figures(
    merchant: str = typer.Option(None, help="Merchant id (default: the demo merchant)."),
    since: str = typer.Option(None, help="First local day, YYYY-MM-DD (default: 30 days ago)."),
    until: str = typer.Option(None, help="Day after the last, YYYY-MM-DD (default: tomorrow)."),
) -> None:
    """Print the main figures of a merchant as tables (from ClickHouse when configured,
    otherwise from the rollups, brought up to date first)."""
    from rich.table import Table

    from shoplet.analytics import rollups, service
    from shoplet.errors import ShopletError
    from shoplet.runtime import Runtime

    settings = _settings()
    _require_migrated(settings.database_url)
    rt = Runtime(settings)
    merchant_id = _merchant_or_demo(rt.db, merchant, "figures")
    rollups.run(rt.db)
    if rt.warehouse is not None:
        rt.warehouse.export(rt.db)
    try:
        with rt.db.unit_of_work(write=False) as s:
            r = service.day_range(since, until, tz=service.check_zone(s, merchant_id, None), now=rt.clock())
            out = service.dashboard(
                s, service.source_for(s, merchant_id, rt.warehouse), merchant_id, r, list(service.DASHBOARD)
            )
    except ShopletError as error:
        typer.echo(f"shoplet figures: {error.detail}", err=True)
        raise typer.Exit(2) from None
    console.print(f"[bold]Figures {out.since} – {out.until}[/bold] (until exclusive; engine: {out.engine})")

    def table(title: str, columns: list[str], rows: list[list]) -> None:
        t = Table(title=title, title_justify="left")
        for c in columns:
            t.add_column(c, justify="right" if c not in columns[:1] else "left")
        for row in rows:
            t.add_row(*["–" if v is None else str(v) for v in row])
        console.print(t)

    def yuan(fen: int) -> str:
        return f"¥{fen / 100:,.2f}"

    assert out.mau and out.dau and out.retention and out.funnel and out.sales_by_store
    table(
        "Monthly active customers", ["month", "customers"], [[p.period, p.customers] for p in out.mau.points]
    )
    last = out.dau.points[-7:]
    table(
        "Daily active customers (last 7 days)", ["day", "customers"], [[p.period, p.customers] for p in last]
    )
    if out.new_customers:
        top = out.new_customers.by_source[:10]
        table(
            f"New customers: {out.new_customers.total} (top sources)",
            ["host app", "scene", "customers"],
            [[x.host_app, x.scene, x.customers] for x in top],
        )
    cohorts = [c for c in out.retention.cohorts if c.customers][-10:]
    table(
        "Retention (last 10 cohorts)",
        ["first day", "customers", *[f"D+{k}" for k in out.retention.offsets]],
        [[c.day, c.customers, *[None if x is None else f"{x:.0%}" for x in c.rates]] for c in cohorts],
    )
    table(
        "Funnel (journeys: a customer's day, steps in order)",
        ["step", "journeys", "conversion", "dropped"],
        [
            [f.step, f.journeys, None if f.conversion is None else f"{f.conversion:.1%}", f.dropped]
            for f in out.funnel.steps
        ],
    )
    sales = out.sales_by_store
    table(
        "Sales by store",
        ["store", "GMV", "orders", "avg order", "refunds", "net"],
        [
            [
                r.name or r.key,
                yuan(r.gmv),
                r.orders,
                yuan(r.average_order_value),
                yuan(r.refunds),
                yuan(r.net),
            ]
            for r in [*sales.rows, sales.total.model_copy(update={"name": "All"})]
        ],
    )
    if out.coupons:
        table(
            "Coupon use rate",
            ["coupon", "claimed", "used", "expired", "use rate"],
            [
                [
                    c.name or c.template_id,
                    c.claimed,
                    c.used,
                    c.expired,
                    None if c.use_rate is None else f"{c.use_rate:.1%}",
                ]
                for c in out.coupons
            ],
        )
    if out.repeat_purchase:
        rp = out.repeat_purchase
        console.print(
            f"Repeat purchase: {rp.repeat_buyers} of {rp.buyers} buyers"
            + (f" ({rp.rate:.1%})" if rp.rate is not None else "")
        )
    if out.light_memberships:
        lm = out.light_memberships
        console.print(
            f"Light memberships: {lm.joined} joined; settled {lm.settled_charged} charged, {lm.settled_free} free, "
            f"{lm.overdue} overdue; fees {yuan(lm.fees_charged)} against {yuan(lm.enjoyed)} enjoyed"
        )
    if out.guides:
        table(
            "Guides",
            ["guide", "GMV", "orders", "commission", "bound"],
            [[g.name or g.guide_id, yuan(g.gmv), g.orders, yuan(g.commission), g.bound] for g in out.guides],
        )
