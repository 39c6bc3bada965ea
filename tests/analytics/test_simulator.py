"""The simulator: the same seed plays the same history; another seed another one; and what
it makes is what the real services make (money and stock add up)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shoplet import simulator
from shoplet.analytics import figures
from shoplet.analytics.embedded import RollupSource
from shoplet.config import Settings
from shoplet.db import Database, utcnow
from shoplet.demo import create
from shoplet.inventory.models import StockLevel
from shoplet.migrate import upgrade
from shoplet.orders.models import Order
from shoplet.scoping import owned


def _play(tmp_path, name: str, seed: int) -> tuple[list, simulator.Report]:
    url = f"sqlite:///{tmp_path / name}"
    upgrade(url)
    db = Database(url)
    end = utcnow()
    with db.unit_of_work() as s:
        merchant_id = create(s, now=end - timedelta(days=8)).id
    rt = simulator.runtime_for(Settings(database_url=url, sandbox_payments=True), db)
    report = simulator.simulate(rt, merchant_id, days=8, customers=60, seed=seed, end=end)
    with db.unit_of_work(write=False) as s:
        source = RollupSource(s, merchant_id)
        since, until = (end - timedelta(days=9)).date(), (end + timedelta(days=2)).date()
        shown = [
            figures.active(source, since, until, "day"),
            figures.retention(source, since, until, [1, 2, 7], until),
            figures.funnel(source, since, until, [str(k) for k in figures.DEFAULT_FUNNEL]),
            figures.repeat_purchase(source, since, until),
            figures.sales(source, since, until, "all"),
            [
                (r.host_app, r.scene, r.customers)
                for r in figures.new_customers(source, since, until).by_source
            ],
            figures.light_memberships(source, since, until).model_copy(update={"by_plan": []}),
        ]
        negative = s.scalar(
            select(func.count())
            .select_from(StockLevel)
            .where(owned(StockLevel, merchant_id), StockLevel.on_hand < StockLevel.reserved)
        )
        overpaid = s.scalar(
            select(func.count())
            .select_from(Order)
            .where(owned(Order, merchant_id), Order.refunded_amount > Order.paid_amount)
        )
    assert negative == 0 and overpaid == 0
    db.dispose()
    return shown, report


def test_the_same_seed_plays_the_same_history(tmp_path):
    first, report = _play(tmp_path, "a.db", seed=11)
    second, again = _play(tmp_path, "b.db", seed=11)
    other, _ = _play(tmp_path, "c.db", seed=12)
    assert report.paid > 0 and report.customer_days > 40
    assert (report.events, report.orders, report.paid) == (again.events, again.orders, again.paid)
    assert first == second
    assert other != first
