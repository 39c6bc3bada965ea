"""Sign-ins at the same moment: one host user, or two host users with the same phone, racing
in real threads each end with one customer (no duplicate, no error)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import func, select

from shoplet.customers.models import Customer, CustomerIdentity
from shoplet.customers.service import resolve_customer
from shoplet.db import new_id
from shoplet.tenancy.models import Merchant

NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)


def _merchant(database) -> str:
    with database.unit_of_work() as s:
        merchant = Merchant(id=new_id("mer"), name="Race", timezone="UTC", created_at=NOW)
        s.add(merchant)
    return merchant.id


def _race(database, merchant_id: str, users: list[tuple[str, str | None]]) -> list[str]:
    barrier, seen, errors = threading.Barrier(len(users)), [], []

    def sign_in(host_user_id: str, phone: str | None) -> None:
        barrier.wait()
        try:
            with database.unit_of_work() as s:
                customer = resolve_customer(
                    s,
                    merchant_id=merchant_id,
                    host_app="alipay",
                    host_user_id=host_user_id,
                    phone=phone,
                    now=NOW,
                )
                seen.append(customer.id)
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=sign_in, args=user) for user in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return seen


def _count(database, model, merchant_id: str) -> int:
    with database.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(model).where(model.merchant_id == merchant_id))


def test_one_host_user_signing_in_six_times_at_once_is_one_customer(database):
    merchant_id = _merchant(database)
    seen = _race(database, merchant_id, [("user-1", None)] * 6)
    assert len(seen) == 6 and len(set(seen)) == 1
    assert _count(database, Customer, merchant_id) == 1
    assert _count(database, CustomerIdentity, merchant_id) == 1


def test_two_host_users_with_one_phone_at_once_are_one_customer(database):
    merchant_id = _merchant(database)
    seen = _race(database, merchant_id, [("user-a", "13800000001"), ("user-b", "13800000001")])
    assert len(set(seen)) == 1
    assert _count(database, Customer, merchant_id) == 1
    assert _count(database, CustomerIdentity, merchant_id) == 2  # both host users, linked to it


def test_a_returning_user_gets_the_same_customer(database):
    merchant_id = _merchant(database)
    first = _race(database, merchant_id, [("user-x", None)])
    again = _race(database, merchant_id, [("user-x", None)])
    assert first == again
