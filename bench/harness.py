"""What the benchmarks share: a fresh PostgreSQL schema, a real ``shoplet serve`` on a free
loopback port, one HTTP client per thread, and a thread pool that measures a rate."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shoplet.db import Database  # noqa: E402

PLATFORM_KEY = "bench-platform-key"
BIN = Path(sys.executable).parent / "shoplet"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.dispose()


def gated_backends(name: str) -> list[tuple[str, str, str | None]]:
    """(backend, database URL, Redis URL of the gate or None) for a benchmark of a gated path:
    SQLite; PostgreSQL with SHOPLET_TEST_DATABASE_URL; each again behind the Redis gate (in
    database 14 of SHOPLET_TEST_REDIS_URL's server) when that is set."""

    def sqlite_url() -> str:
        return f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/{name}.db"

    backends: list[tuple[str, str, str | None]] = [("sqlite", sqlite_url(), None)]
    pg, rd = os.environ.get("SHOPLET_TEST_DATABASE_URL"), os.environ.get("SHOPLET_TEST_REDIS_URL")
    if pg:
        backends.append(("postgresql", pg, None))
    if rd:  # the Redis gate in front of each database
        gate_redis = rd.rsplit("/", 1)[0] + "/14"
        backends.append(("sqlite+redis_gate", sqlite_url(), gate_redis))
        if pg:
            backends.append(("postgresql+redis_gate", pg, gate_redis))
    return backends


class Server:
    """``shoplet serve`` in a subprocess, with only the settings given here."""

    def __init__(self, url: str, workdir: Path, redis_url: str | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLET_")}
        env.update(
            SHOPLET_DATABASE_URL=url,
            SHOPLET_PLATFORM_KEY=PLATFORM_KEY,
            SHOPLET_LOG_LEVEL="warning",
            SHOPLET_SANDBOX_PAYMENTS="true",
            SHOPLET_PUBLIC_URL=self.base,  # the sandbox wallet's notifications come back here
            SHOPLET_JOBS_PATH=str(workdir / "jobs.db"),
        )
        if redis_url:
            env["SHOPLET_REDIS_URL"] = redis_url
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--port", str(self.port)],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (all its threads; Linux ``/proc``).
        Per request, it is a cost the noise of a shared machine hardly moves."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


_local = threading.local()


def client(base: str) -> httpx.Client:
    """This thread's client (keep-alive connections are per thread)."""
    if getattr(_local, "client", None) is None:
        _local.client = httpx.Client(base_url=base, timeout=60)
    return _local.client


def rate(base: str, threads: int, total: int, request) -> tuple[float, list]:
    """Run ``request(client, i)`` for i in range(total) on ``threads`` threads: (per second, results).

    Every thread makes its client and opens its connection before the clock starts: a client
    costs this process about 20 ms of CPU (its TLS context), which in a short phase (a quick
    run's health baseline is about a second) would lower the rate measured by a quarter and
    flatter every ratio to it."""
    ready = threading.Barrier(threads)

    def warm(_):
        client(base).get("/api/v1/health")
        ready.wait(timeout=60)  # one warm-up on each thread of the pool

    def one(i):
        return request(client(base), i)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(warm, range(threads)))
        started = time.perf_counter()
        results = list(pool.map(one, range(total)))
        elapsed = time.perf_counter() - started
    return total / elapsed, results


ROUNDS = 4


class Paired:
    """A measured phase and the health baseline it is compared with, taken in turns (see
    :func:`paired`): rates over each side's own time, the server's CPU per request of each."""

    def __init__(self) -> None:
        self.health_s = self.work_s = 0.0
        self.health_cpu = self.work_cpu = 0.0
        self.health_requests = 0
        self.results: list = []

    @property
    def baseline_rps(self) -> float:
        return self.health_requests / self.health_s


def paired(server: Server, threads: int, health: int, work: int, request, rounds: int = ROUNDS) -> Paired:
    """``health`` requests to /api/v1/health and ``request(client, i)`` for i in range(work),
    on ``threads`` threads, in ``rounds`` turns: a slice of the baseline, then the next slice
    of the work, and so on. The machine's speed swings within minutes on a shared host (the
    same code's ratio moved twofold between runs when the baseline was one phase and the
    work another); in turns, each side sees the same minutes. The work's slices keep their
    order (``i`` ascending), so a phase whose requests change as it goes (stock running out)
    is the same phase, cut in four."""
    out = Paired()
    ready = threading.Barrier(threads)

    def warm(_):
        client(server.base).get("/api/v1/health")
        ready.wait(timeout=60)

    def health_one(_):
        return client(server.base).get("/api/v1/health").status_code

    def work_one(i):
        return request(client(server.base), i)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(warm, range(threads)))
        for k in range(rounds):
            h_from, h_to = health * k // rounds, health * (k + 1) // rounds
            cpu, started = server.cpu_seconds(), time.perf_counter()
            list(pool.map(health_one, range(h_from, h_to)))
            out.health_s += time.perf_counter() - started
            out.health_cpu += server.cpu_seconds() - cpu
            out.health_requests += h_to - h_from
            w_from, w_to = work * k // rounds, work * (k + 1) // rounds
            cpu, started = server.cpu_seconds(), time.perf_counter()
            out.results.extend(pool.map(work_one, range(w_from, w_to)))
            out.work_s += time.perf_counter() - started
            out.work_cpu += server.cpu_seconds() - cpu
    return out
