"""``KeyedSession.get`` (every unit of work's ``get``) answers as ``Session.get`` does, with a
statement built once per model when the identity map does not hold the row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from shoplet.customers.models import Customer
from shoplet.db import KeyedSession, _key_statement, new_id
from shoplet.membership.models import LoyaltySettings
from shoplet.tenancy.models import Merchant
from tests.helpers import counting

NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)


@pytest.fixture
def merchant(database) -> str:
    with database.unit_of_work() as s:
        merchant = Merchant(id=new_id("mer"), name="Keyed", timezone="UTC", created_at=NOW)
        s.add(merchant)
        s.add(Customer(merchant_id=merchant.id, id="cus_keyed1", name="Ann", tags=[], created_at=NOW))
    return merchant.id


def test_units_of_work_use_it(database):
    with database.unit_of_work(write=False) as s:
        assert isinstance(s, KeyedSession)


def test_a_row_not_held_is_read_by_the_prebuilt_statement_once(database, merchant):
    with database.unit_of_work(write=False) as s, counting(database.engine) as statements:
        first = s.get(Customer, (merchant, "cus_keyed1"))
        again = s.get(Customer, (merchant, "cus_keyed1"))  # the identity map has it now
        assert first is again and first.name == "Ann"
        assert s.get(Customer, (merchant, "cus_nobody")) is None
    selects = [x for x in statements if x.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2  # Ann once, nobody once; the second get ran nothing
    assert _key_statement(Customer, False) is _key_statement(Customer, False)


def test_a_single_column_key_and_a_dict_key(database, merchant):
    with database.unit_of_work(write=False) as s:
        assert s.get(Merchant, merchant).name == "Keyed"
        assert s.get(Customer, {"merchant_id": merchant, "id": "cus_keyed1"}).name == "Ann"
        assert s.get(LoyaltySettings, merchant) is None


def test_populate_existing_reads_the_row_again(database, merchant):
    with database.unit_of_work() as s:
        held = s.get(Customer, (merchant, "cus_keyed1"))
        s.execute(
            update(Customer)
            .where(Customer.merchant_id == merchant, Customer.id == "cus_keyed1")
            .values(name="Bea")
            .execution_options(synchronize_session=False)
        )
        assert s.get(Customer, (merchant, "cus_keyed1")).name == "Ann"  # as held
        assert s.get(Customer, (merchant, "cus_keyed1"), populate_existing=True) is held
        assert held.name == "Bea"


def test_for_update_locks_and_pending_objects_are_found(database, merchant):
    assert _key_statement(Customer, True)._for_update_arg is not None
    assert _key_statement(Customer, False)._for_update_arg is None
    with database.unit_of_work() as s:
        locked = s.get(Customer, (merchant, "cus_keyed1"), with_for_update=True)
        assert locked.name in ("Ann", "Bea")
        pending = Customer(merchant_id=merchant, id="cus_keyed2", name="Cy", tags=[], created_at=NOW)
        s.add(pending)
        assert s.get(Customer, (merchant, "cus_keyed2")) is pending  # flushed first, as get does


def test_answers_match_plain_sqlalchemy(database, merchant):
    """The same gets through SQLAlchemy's own Session give the same rows."""
    with database.unit_of_work(write=False) as keyed, Session(database.engine) as plain:
        for model, key in [
            (Customer, (merchant, "cus_keyed1")),
            (Customer, (merchant, "cus_missing")),
            (Merchant, merchant),
            (Merchant, "mer_missing"),
        ]:
            a, b = keyed.get(model, key), plain.get(model, key)
            assert (a is None) == (b is None)
            if a is not None:
                assert a.__table__.c.keys() == b.__table__.c.keys()
                assert [getattr(a, c) for c in a.__table__.c.keys()] == [
                    getattr(b, c) for c in b.__table__.c.keys()
                ]
