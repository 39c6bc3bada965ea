"""Console benchmark (issue 14): each console page against the API call it wraps, on one
real ``shoplet serve`` on loopback.

The demo shop is loaded into a fresh SQLite database with simulated history (quick: 14
days of 300 customers; full: 30 days of 2,000), a server is started, the owner, a clerk and
a guide sign in to the console (cookies) and API keys are issued for the same roles. Then
for each pair, requests alternate page / API call (``--quick``: 30 of each; full: 100) and
the medians are compared:

- ``home``: ``GET /console/home`` (cards for today and yesterday, the 30-day trend, funnel,
  retention, GMV by store and host app, to-do counters) against
  ``GET /api/v1/analytics/dashboard`` (all its figures over the same 30 days);
- ``coupons``: ``GET /console/coupons`` (templates with their figures) against
  ``GET /api/v1/coupon-templates`` (one page of 50);
- ``clerk_lookup``: ``POST /console/clerk/lookup`` against
  ``GET /api/v1/coupons/by-code/{code}``;
- ``workbench``: ``GET /console/workbench`` (sales, customers, reminders, groups, quotas)
  against the five ``/api/v1/workbench/*`` calls that return the same (one after another).

``ratio`` = page median / API median (target ≤ 2). Verified afterwards from the database:
the looked-up coupon is still available (a lookup changes nothing). Final line: JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Server  # noqa: E402
from shoplet import demo, simulator  # noqa: E402
from shoplet.config import Settings  # noqa: E402
from shoplet.coupons.codes import normalise  # noqa: E402
from shoplet.coupons.models import Coupon  # noqa: E402
from shoplet.db import Database  # noqa: E402
from shoplet.migrate import upgrade  # noqa: E402
from shoplet.scoping import owned  # noqa: E402


def load_shop(url: str, days: int, customers: int):
    upgrade(url)
    db = Database(url)
    end = datetime.now(UTC)
    with db.unit_of_work() as s:
        merchant_id = demo.create(s, now=end - timedelta(days=days)).id
    rt = simulator.runtime_for(Settings(database_url=url, sandbox_payments=True), db)
    simulator.simulate(rt, merchant_id, days=days, customers=customers, seed=1, end=end)
    with db.unit_of_work() as s:
        creds = demo.load(s, now=datetime.now(UTC))
    return db, merchant_id, creds


def sign_in(base: str, merchant_id: str, role: str) -> tuple[httpx.Client, str]:
    login, password = next((lg, pw) for r, lg, pw in demo.CONSOLE_LOGINS if r == role)
    client = httpx.Client(base_url=base, timeout=30)
    response = client.post(
        "/console/signin", data={"shop": merchant_id, "login": login, "password": password}
    )
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return client, csrf.group(1) if csrf else ""


def claimed_code(base: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    for template in httpx.get(f"{base}/api/v1/storefront/coupon-centre", headers=headers).json():
        r = httpx.post(
            f"{base}/api/v1/storefront/coupons", json={"template_id": template["id"]}, headers=headers
        )
        if r.status_code == 201:
            return r.json()["code"]
    raise RuntimeError("no coupon could be claimed")


WORKBENCH = [
    "/api/v1/workbench/sales",
    "/api/v1/workbench/customers?limit=50",
    "/api/v1/workbench/reminders?limit=50",
    "/api/v1/workbench/groups",
    "/api/v1/workbench/coupon-quotas",
]


def all_of(client: httpx.Client, paths: list[str]) -> httpx.Response:
    """The API calls a page stands for, one after another; the last response (all must be 200)."""
    response = None
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    assert response is not None
    return response


def pair(n: int, page, api) -> dict:
    """Alternate the two calls n times (after 3 warm-ups each); medians in ms."""
    for _ in range(3):
        page()
        api()
    pages, apis = [], []
    for _ in range(n):
        for work, into in ((page, pages), (api, apis)):
            t = time.perf_counter()
            response = work()
            into.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (response.status_code, response.text[:300])
    page_ms, api_ms = statistics.median(pages), statistics.median(apis)
    return {"page_ms": round(page_ms, 2), "api_ms": round(api_ms, 2), "ratio": round(page_ms / api_ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    days, customers, n = (14, 300, 30) if args.quick else (30, 2000, 100)
    workdir = Path(tempfile.mkdtemp(prefix="shoplet-bench-console-"))
    url = f"sqlite:///{workdir / 'shoplet.db'}"
    started = time.perf_counter()
    db, merchant_id, creds = load_shop(url, days, customers)
    print(f"demo shop with {days} days of {customers} customers in {time.perf_counter() - started:.0f} s")
    server = Server(url, workdir)
    try:
        base = server.base
        owner, owner_csrf = sign_in(base, merchant_id, "admin")
        guide, _ = sign_in(base, merchant_id, "guide")
        admin_api = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {creds.admin_key}"}, timeout=30
        )
        guide_api = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {creds.guide_key}"}, timeout=30
        )
        code = claimed_code(base, creds.customer_token)
        results = {
            "home": pair(
                n, lambda: owner.get("/console/home"), lambda: admin_api.get("/api/v1/analytics/dashboard")
            ),
            "coupons": pair(
                n,
                lambda: owner.get("/console/coupons"),
                lambda: admin_api.get("/api/v1/coupon-templates?limit=50"),
            ),
            "clerk_lookup": pair(
                n,
                lambda: owner.post(
                    "/console/clerk/lookup",
                    data={"code": code, "csrf": owner_csrf, "store_id": creds.clerk_store},
                ),
                lambda: admin_api.get(f"/api/v1/coupons/by-code/{code}"),
            ),
            "workbench": pair(
                n, lambda: guide.get("/console/workbench"), lambda: all_of(guide_api, WORKBENCH)
            ),
        }
    finally:
        server.stop()
    with db.unit_of_work(write=False) as s:
        coupon = s.query(Coupon).filter(owned(Coupon, merchant_id), Coupon.code == normalise(code)).one()
        assert coupon.status == "available", "a lookup must not verify the coupon"
    db.dispose()
    for name, r in results.items():
        print(f"{name:13} page {r['page_ms']:8.2f} ms   api {r['api_ms']:8.2f} ms   ratio {r['ratio']:.2f}")
    worst = max(r["ratio"] for r in results.values())
    print(json.dumps({"results": results, "max_ratio": worst, "target": 2.0, "met": worst <= 2.0}))


if __name__ == "__main__":
    main()
