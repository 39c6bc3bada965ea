"""Due light memberships written in bulk, for the settlement benchmark and the test that
holds settlement's statement plans on stale statistics: merchants with a plan, customers
with signed sandbox agreements, and memberships whose period has just ended (random fees
and enjoyed amounts, one in five renewing). Not used by the product itself."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from shoplet.customers.models import Customer
from shoplet.db import Database, bulk_insert
from shoplet.membership.models import LightMembership, LightPlan
from shoplet.payments.models import SandboxAgreement
from shoplet.tenancy.models import Merchant


def write_due_memberships(
    db: Database, n: int, started: datetime, rng: random.Random, *, merchants: int, prefix: str = "b"
) -> dict[str, int]:
    """N memberships due at ``started`` over ``merchants`` merchants; returns each agreement
    number's expected charge, min(fee, enjoyed)."""
    expected: dict[str, int] = {}
    with db.unit_of_work() as s:
        conn = s.connection()
        for m in range(merchants):
            bulk_insert(
                conn,
                Merchant.__table__,
                [
                    {
                        "id": f"mer_{prefix}bench{m}",
                        "name": f"Bench {m}",
                        "timezone": "Asia/Shanghai",
                        "status": "active",
                        "created_at": started,
                    }
                ],
            )
            bulk_insert(
                conn,
                LightPlan.__table__,
                [
                    {
                        "merchant_id": f"mer_{prefix}bench{m}",
                        "id": f"lpl_{prefix}bench{m}",
                        "name": "Pass",
                        "fee": 1990,
                        "period_days": 30,
                        "light_member_prices": True,
                        "percent_off": 10,
                        "coupon_template_ids": [],
                        "min_credit_score": 0,
                        "auto_renew_allowed": True,
                        "status": "active",
                        "created_at": started,
                    }
                ],
            )
    batch = 20_000
    for offset in range(0, n, batch):
        customers: list[dict] = []
        agreements: list[dict] = []
        memberships: list[dict] = []
        for i in range(offset, min(n, offset + batch)):
            merchant = f"mer_{prefix}bench{i % merchants}"
            customer, agreement = f"cus_{prefix}{i:09d}", f"sba_{prefix}{i:09d}"
            fee, enjoyed = rng.randint(100, 5000), rng.choice([0, rng.randint(1, 8000)])
            expected[agreement] = min(fee, enjoyed)
            customers.append(
                {
                    "merchant_id": merchant,
                    "id": customer,
                    "name": None,
                    "phone": None,
                    "tags": [],
                    "birthday": None,
                    "created_at": started,
                }
            )
            agreements.append(
                {
                    "merchant_id": merchant,
                    "agreement_no": agreement,
                    "customer_id": customer,
                    "plan_id": f"lpl_{prefix}bench{i % merchants}",
                    "signed_at": started,
                }
            )
            memberships.append(
                {
                    "merchant_id": merchant,
                    "id": f"lms_{prefix}{i:09d}",
                    "customer_id": customer,
                    "plan_id": f"lpl_{prefix}bench{i % merchants}",
                    "fee": fee,
                    "period_days": 30,
                    "period_no": 1,
                    "period_start": started - timedelta(days=30),
                    "period_end": started - timedelta(seconds=i % 3600),
                    "enjoyed": enjoyed,
                    "auto_renew": i % 5 == 0,
                    "agreement_no": agreement,
                    "credit_score": 700,
                    "status": "active",
                    "end_reason": None,
                    "joined_at": started - timedelta(days=30),
                    "ended_at": None,
                }
            )
        with db.unit_of_work() as s:
            conn = s.connection()
            bulk_insert(conn, Customer.__table__, customers)
            bulk_insert(conn, SandboxAgreement.__table__, agreements)
            bulk_insert(conn, LightMembership.__table__, memberships)
    return expected
