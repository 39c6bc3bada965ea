"""Settlement's statement plans stay on keys however stale the statistics are (PostgreSQL).

Statistics are taken while every membership is still running (nothing settling, nothing
due charged; most of them due next month, with their last period's settlement and charge
on record) and autovacuum is kept off those tables, as after a bulk load; then settlement
runs in chunks. Every statement it sends about memberships, settlements or the sandbox's
agreements and charges is explained (``EXPLAIN``, on a second cursor of the same
transaction, so nothing runs twice) as it goes. No plan may read one of those tables other
than by index lookups, and the last chunk's plans must be the first chunk's: a plan that
walks the rows earlier chunks settled would grow with every chunk (it once did, through a
status index, 150-190 ms per statement at the end of a million; and the sandbox's lookup of
known charges hash-joined over its whole book).
"""

from __future__ import annotations

import json
import os
import random
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from shoplet.db import bulk_insert
from shoplet.membership import settlement
from shoplet.membership.models import LightMembership, LightSettlement
from shoplet.payments.due_memberships import write_due_memberships
from shoplet.payments.models import SandboxAgreementCharge

pytestmark = pytest.mark.skipif(
    not os.environ.get("SHOPLET_TEST_DATABASE_URL"), reason="SHOPLET_TEST_DATABASE_URL is not set"
)

WATCHED = ("light_memberships", "light_settlements", "sandbox_agreement_charges", "sandbox_agreements")
N, CHUNK, LATER = 500, 50, 20_000  # due now, per chunk, due next month (the table's bulk)


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _shape(plan: dict) -> tuple:
    """What a plan does to the watched tables: each scan's kind, table and index, in order."""
    return tuple(
        (node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
        for node in _nodes(plan)
        if node.get("Relation Name") in WATCHED
    )


@pytest.fixture
def stale(runtime):
    db = runtime.db
    if db.dialect != "postgresql":
        pytest.skip("statement plans are PostgreSQL's")
    now = runtime.clock()
    tag = f"{now.microsecond}"
    write_due_memberships(
        db, LATER, now + timedelta(days=30), random.Random(4), merchants=2, prefix=f"l{tag}"
    )
    write_due_memberships(db, N, now, random.Random(5), merchants=2, prefix=f"p{tag}")
    with db.unit_of_work() as s:  # the later ones' last period, settled: the settlements' history
        later = s.execute(
            select(
                LightMembership.merchant_id,
                LightMembership.id,
                LightMembership.customer_id,
                LightMembership.fee,
                LightMembership.enjoyed,
                LightMembership.period_no,
            ).where(LightMembership.id.like(f"lms_l{tag}%"))
        ).all()
        history = [
            dict(row, period_no=0)
            for row in settlement._settlement_rows(later, "period_end", now - timedelta(days=1), "closed")
        ]
        bulk_insert(s.connection(), LightSettlement.__table__, history)
        bulk_insert(
            s.connection(),
            SandboxAgreementCharge.__table__,
            [
                {
                    "merchant_id": row["merchant_id"],
                    "out_request_no": row["id"],
                    "agreement_no": f"sba_{row['membership_id'].removeprefix('lms_')}",
                    "amount": row["amount"],
                    "status": "succeeded",
                    "attempts": 1,
                    "charged_at": now - timedelta(days=1),
                    "updated_at": now - timedelta(days=1),
                }
                for row in history
            ],
        )
    with db.engine.begin() as conn:
        for table in WATCHED:
            conn.execute(text(f"ANALYZE {table}"))
            conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    yield db, now
    with db.engine.begin() as conn:
        for table in WATCHED:
            conn.execute(text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))


def test_settlement_plans_stay_on_keys_chunk_after_chunk(stale, runtime):
    db, now = stale
    chunks: list[list[tuple[str, tuple]]] = [[]]

    def explain(conn, cursor, statement, parameters, context, executemany):
        if executemany or not any(table in statement for table in WATCHED):
            return
        if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT")):
            return
        with conn.connection.dbapi_connection.cursor() as second:
            second.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = second.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        chunks[-1].append((" ".join(statement.split())[:90], _shape(plan[0]["Plan"])))

    event.listen(db.engine, "after_cursor_execute", explain)
    try:
        progress = settlement.settle(
            db,
            runtime.sandbox,
            now=now + timedelta(seconds=1),
            chunk=CHUNK,
            on_chunk=lambda _: chunks.append([]),
        )
    finally:
        event.remove(db.engine, "after_cursor_execute", explain)

    assert progress.closed >= N
    with db.unit_of_work(write=False) as s:  # everything settled: nothing is left due
        assert (
            s.scalar(select(func.count()).where(settlement.RUNNING, LightMembership.period_end <= now)) == 0
        )
        assert s.scalar(select(func.count()).select_from(LightSettlement).where(settlement.TO_CHARGE)) == 0
    worked = [c for c in chunks if c]
    assert len(worked) >= N // CHUNK
    for chunk in worked:
        for statement, shape in chunk:
            scans = [node for node in shape if node[0] in ("Seq Scan", "Bitmap Heap Scan")]
            assert not scans, f"{statement}: {shape}"
    first, last = worked[0], worked[N // CHUNK - 1]
    assert [shape for _, shape in first] == [shape for _, shape in last]
