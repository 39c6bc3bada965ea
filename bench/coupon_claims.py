"""Coupon claim benchmark (issue 4): a real server on loopback, a flash claim on one template.

Per backend (SQLite; PostgreSQL when SHOPLET_TEST_DATABASE_URL is set; each behind the
Redis gate when SHOPLET_TEST_REDIS_URL is set): migrate, start
``shoplet serve``, create a merchant, a template with limited stock and a per-customer
limit, and sign in many customers. Many threads claim — more attempts than stock, some
customers past their limit — in turns with the baseline, the same server's /api/v1/health
rate with the same client (a quarter of each at a time: ``harness.paired``); then the
database is read back for oversell and limit violations.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import func, select

from harness import PLATFORM_KEY, Server, fresh_postgres, gated_backends, paired
from shoplet.coupons.models import Coupon, CouponTemplate
from shoplet.db import Database
from shoplet.migrate import upgrade


def run_backend(name: str, url: str, args, redis_url: str | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    if name.startswith("postgresql"):
        fresh_postgres(url)
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    upgrade(url)
    server = Server(url, work, redis_url)
    try:
        base = server.base
        with httpx.Client(base_url=base, timeout=60) as http:
            merchant = http.post(
                "/api/v1/platform/merchants",
                json={"name": "Flash"},
                headers={"Authorization": f"Bearer {PLATFORM_KEY}"},
            ).json()
            admin = {"Authorization": f"Bearer {merchant['api_key']}"}
            template = http.post(
                "/api/v1/coupon-templates",
                headers=admin,
                json={
                    "name": "Flash ¥10",
                    "kind": "cash",
                    "off": 1000,
                    "validity": "relative",
                    "valid_days": 7,
                    "total_stock": args.stock,
                    "per_customer_limit": args.limit,
                },
            ).json()
            tokens = [
                http.post(
                    "/api/v1/storefront/sessions",
                    json={
                        "merchant_id": merchant["merchant"]["id"],
                        "host_app": "alipay",
                        "auth_code": f"sandbox:fan-{i}",
                    },
                ).json()["token"]
                for i in range(args.customers)
            ]

        def claim(http, i):
            token = tokens[i % len(tokens)]
            return http.post(
                "/api/v1/storefront/coupons",
                json={"template_id": template["id"]},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code

        measured = paired(server, args.threads, args.attempts, args.attempts, claim)
        statuses = measured.results
    finally:
        server.stop()
    db = Database(url)
    with db.unit_of_work(write=False) as s:
        merchant_id = merchant["merchant"]["id"]
        issued = s.scalar(
            select(func.count())
            .select_from(Coupon)
            .where(Coupon.merchant_id == merchant_id, Coupon.template_id == template["id"])
        )
        per_customer = s.execute(
            select(func.count())
            .select_from(Coupon)
            .where(Coupon.merchant_id == merchant_id, Coupon.template_id == template["id"])
            .group_by(Coupon.customer_id)
        ).all()
        counter = s.get(CouponTemplate, (merchant_id, template["id"])).issued_count
    db.dispose()
    return {
        "backend": name,
        "attempts": args.attempts,
        "stock": args.stock,
        "issued": issued,
        "oversold": max(0, issued - args.stock) + abs(counter - issued),
        "limit_violations": sum(1 for (n,) in per_customer if n > args.limit),
        "claims_per_s": round(args.attempts / measured.work_s, 1),
        "baseline_rps": round(measured.baseline_rps, 1),
        "ratio": round(args.attempts / measured.work_s / measured.baseline_rps, 3),
        # the server process's CPU per claim attempt and per health request (steadier than
        # rates on a shared machine; PostgreSQL's and Redis's own not counted)
        "server_cpu_ms_per_claim": round(measured.work_cpu / args.attempts * 1000, 3),
        "server_cpu_ms_per_health": round(measured.health_cpu / args.attempts * 1000, 3),
        "statuses": {str(k): statuses.count(k) for k in sorted(set(statuses))},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.threads = 16
    args.limit = 2
    if args.quick:
        args.attempts, args.stock, args.customers = 800, 300, 200
    else:
        args.attempts, args.stock, args.customers = 8000, 3000, 2000

    backends = gated_backends("claims")
    results = [run_backend(name, url, args, redis_url) for name, url, redis_url in backends]
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
