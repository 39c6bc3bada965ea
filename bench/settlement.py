"""Light membership settlement benchmark (issue 5): kill -9 the settling process, restart,
and prove from the provider's ledger that nothing was charged twice, wrongly, or skipped.

Per backend (SQLite; PostgreSQL when SHOPLET_TEST_DATABASE_URL is set): migrate a fresh
database, write N due light memberships straight into it (random fees and enjoyed
amounts; each with a signed sandbox deduction agreement), then run ``shoplet settle`` in
a subprocess with a share of deductions failing, SIGKILL it at random moments (at least
three kills), restart it until it finishes, and run the retry rounds (1 h, 24 h and 72 h after each failure).
Then read the sandbox provider's ledger back:

- double_charges: memberships whose agreement was charged successfully more than once;
- wrong_amounts: successful charges whose amount is not min(fee, enjoyed);
- missed: memberships owing something with no successful charge that are not overdue
  after four failed attempts, or owing nothing whose period was never closed.

``per_s`` is memberships divided by the wall time of the first round (kills, restarts and
process start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from harness import fresh_postgres  # noqa: E402
from shoplet.db import Database  # noqa: E402
from shoplet.membership.models import LightMembership, LightSettlement  # noqa: E402
from shoplet.migrate import upgrade  # noqa: E402
from shoplet.payments.due_memberships import write_due_memberships  # noqa: E402
from shoplet.payments.models import SandboxAgreementCharge  # noqa: E402

BIN = Path(sys.executable).parent / "shoplet"
FAILURE_RATE = 0.1
MERCHANTS = 4
KILL_WINDOW_S = 120  # a run that writes nothing for this long (a stall) is killed all the same
MAX_RESTARTS = 12  # kill attempts per round; a round that outlasts them finishes uninterrupted


def seed(db: Database, n: int, started: datetime, rng: random.Random) -> dict[str, int]:
    """N due memberships over a few merchants; returns agreement_no -> expected charge."""
    return write_due_memberships(db, n, started, rng, merchants=MERCHANTS)


def _progress(db: Database) -> int:
    """Settlement work written so far: closed periods plus recorded charge attempts."""
    with db.unit_of_work(write=False) as s:
        return (s.scalar(select(func.count()).select_from(LightSettlement)) or 0) + (
            s.scalar(select(func.coalesce(func.sum(SandboxAgreementCharge.attempts), 0))) or 0
        )


def run_settle(
    url: str,
    at: datetime,
    workdir: Path,
    rng: random.Random,
    db: Database,
    *,
    kills_wanted: int,
    timings: Path | None = None,
) -> int:
    """Run ``shoplet settle --at`` until it completes, SIGKILLing it ``kills_wanted`` times
    in the middle of its work: each kill lands at a random moment after the run has written
    something (a closed chunk, a charge), so it falls between a close, a charge and its
    record. Returns the kills made (a run that finishes first is not killed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLET_")}
    env.update(
        SHOPLET_DATABASE_URL=url,
        SHOPLET_LOG_LEVEL="warning",
        SHOPLET_SANDBOX_PAYMENTS="true",
        SHOPLET_SANDBOX_AGREEMENT_FAILURE_RATE=str(FAILURE_RATE),
        SHOPLET_JOBS_PATH=str(workdir / "jobs.db"),
    )
    kills = 0
    for _ in range(kills_wanted + 1):  # each try is either killed (counted) or runs to the end
        extra = []
        if timings is not None:
            with timings.open("a") as log:
                log.write(f"start {time.monotonic():.6f}\n")
            extra = ["--timings", str(timings)]
        proc = subprocess.Popen(
            [str(BIN), "settle", "--at", at.isoformat(), "--quiet", *extra],
            env=env,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if kills < kills_wanted:
            before, deadline = _progress(db), time.monotonic() + KILL_WINDOW_S
            while proc.poll() is None and time.monotonic() < deadline and _progress(db) == before:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.3))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"settle failed ({proc.returncode}): {err.decode()[-2000:]}")
        return kills  # finished (before a kill could land, or after the kills wanted)
    raise AssertionError("unreachable: the last try is never killed")


def tenths(timings: Path, n: int) -> dict[str, float]:
    """Microseconds per membership in the first and the last tenth of round one, from the
    chunk lines ``shoplet settle --timings`` wrote: each chunk's time is the gap since the
    same process's previous chunk (a process's first chunk, which includes its start-up, is
    left out, as are the kills), placed by how many periods were closed before it."""
    chunks: list[tuple[int, int, float]] = []  # (closed before, closed in it, seconds)
    position = 0
    previous: tuple[float, int] | None = None
    for line in timings.read_text().splitlines():
        kind, value = line.split()[0], line.split()[-1]
        if kind == "start":
            previous = None
            continue
        at, closed = float(kind), int(value)
        if previous is None:
            position += closed  # the process's first chunk: counted, not timed
        else:
            step = closed - previous[1]
            if step > 0:
                chunks.append((position, step, at - previous[0]))
            position += step
        previous = (at, closed)

    def per_membership(chunks_in: list[tuple[int, int, float]]) -> float | None:
        closed = sum(c[1] for c in chunks_in)
        return round(sum(c[2] for c in chunks_in) / closed * 1e6, 1) if closed else None

    # (None where a tenth holds no timed chunk: --quick runs have too few chunks)
    first = per_membership([c for c in chunks if c[0] + c[1] <= n / 10])
    last = per_membership([c for c in chunks if c[0] >= n * 9 / 10])
    return {
        "first_tenth_us_per_membership": first,
        "last_tenth_us_per_membership": last,
        "last_vs_first": round(last / first, 2) if first and last else None,
    }


def due(db: Database, at: datetime) -> int:
    """Memberships whose period has ended by ``at`` and is not yet closed. Renewed ones (a new,
    future period) are not due: counting them kept an earlier version restarting for nothing."""
    with db.unit_of_work(write=False) as s:
        return s.scalar(
            select(func.count())
            .select_from(LightMembership)
            .where(LightMembership.status == "active", LightMembership.period_end <= at)
        )


def verify(db: Database, expected: dict[str, int]) -> dict[str, int]:
    with db.unit_of_work(write=False) as s:
        succeeded: dict[str, list[int]] = {}
        for agreement, amount in s.execute(
            select(SandboxAgreementCharge.agreement_no, SandboxAgreementCharge.amount).where(
                SandboxAgreementCharge.status == "succeeded"
            )
        ):
            succeeded.setdefault(agreement, []).append(amount)
        failed = dict(
            s.execute(
                select(SandboxAgreementCharge.agreement_no, SandboxAgreementCharge.attempts).where(
                    SandboxAgreementCharge.status == "failed"
                )
            ).all()
        )
        status = dict(s.execute(select(LightMembership.agreement_no, LightMembership.status)).all())
        closed = set(
            s.scalars(
                select(LightMembership.agreement_no)
                .join(
                    LightSettlement,
                    (LightSettlement.merchant_id == LightMembership.merchant_id)
                    & (LightSettlement.membership_id == LightMembership.id),
                )
                .where(LightSettlement.status == "closed")
            )
        )
        settlements = s.scalar(select(func.count()).select_from(LightSettlement))
    double = sum(1 for amounts in succeeded.values() if len(amounts) > 1)
    wrong = sum(
        1 for agreement, amounts in succeeded.items() if any(a != expected.get(agreement) for a in amounts)
    )
    missed = 0
    for agreement, owed in expected.items():
        if owed > 0:
            if agreement in succeeded:
                continue
            if not (status.get(agreement) == "overdue" and failed.get(agreement, 0) >= 4):
                missed += 1
        elif agreement not in closed or agreement in succeeded:
            missed += 1
    overdue = sum(1 for v in status.values() if v == "overdue")
    return {
        "charged": sum(len(v) for v in succeeded.values()),
        "double_charges": double,
        "wrong_amounts": wrong,
        "missed": missed,
        "overdue": overdue,
        "settlements": settlements,
    }


def bench(backend: str, url: str, n: int, workdir: Path, rng: random.Random) -> dict:
    if backend == "postgresql":
        fresh_postgres(url)
    upgrade(url)
    db = Database(url)
    started = datetime.now(UTC).replace(microsecond=0)
    t = time.monotonic()
    expected = seed(db, n, started, rng)
    with db.engine.begin() as conn:  # a loaded database has statistics (autovacuum may be off here)
        conn.execute(text("ANALYZE"))
    seeded_s = time.monotonic() - t
    # Round one: everything is due; kill it at least three times while it works.
    t = time.monotonic()
    kills = 0
    timings = workdir / "round-one-timings.txt"
    for _ in range(MAX_RESTARTS):
        if kills >= 3 or not due(db, started):
            break  # three kills landed, or it finished first (tiny runs): the kills made still count
        kills += run_settle(url, started, workdir, rng, db, kills_wanted=3 - kills, timings=timings)
    run_settle(url, started, workdir, rng, db, kills_wanted=0, timings=timings)
    if due(db, started):
        raise RuntimeError("memberships are still due after an uninterrupted settlement run")
    first_round = time.monotonic() - t
    # The retry schedule: 1 h, 24 h and 72 h after each failure (one kill in each round, if it lasts).
    for hours in (1, 25, 97):
        kills += run_settle(
            url, started + timedelta(hours=hours, seconds=1), workdir, rng, db, kills_wanted=1
        )
        run_settle(url, started + timedelta(hours=hours, seconds=1), workdir, rng, db, kills_wanted=0)
    outcome = verify(db, expected)
    db.dispose()
    return {
        "backend": backend,
        "memberships": n,
        "kills": kills,
        **outcome,
        "per_s": round(n / first_round, 1),
        **tenths(timings, n),
        "seed_s": round(seeded_s, 1),
        "first_round_s": round(first_round, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10,000 memberships per backend (about a minute)."
    )
    parser.add_argument("--memberships", type=int, help="Override the number of memberships.")
    args = parser.parse_args()
    rng = random.Random(5)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        backends = [
            (
                "sqlite",
                f"sqlite:///{workdir / 'settle.db'}",
                args.memberships or (10_000 if args.quick else 100_000),
            )
        ]
        pg = os.environ.get("SHOPLET_TEST_DATABASE_URL")
        if pg:
            backends.append(("postgresql", pg, args.memberships or (10_000 if args.quick else 1_000_000)))
        for backend, url, n in backends:
            result = bench(backend, url, n, workdir, rng)
            print(f"{backend}: {result}", file=sys.stderr)
            results.append(result)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
