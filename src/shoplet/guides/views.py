"""A guide's customers as the workbench shows them (batched for a page)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shoplet.customers.models import Customer
from shoplet.guides import groups
from shoplet.guides.models import GuideBinding
from shoplet.guides.schemas import MyCustomerOut
from shoplet.scoping import scoped


def masked(phone: str | None) -> str | None:
    """Guides see enough of a phone number to recognise it, not to export it."""
    if not phone or len(phone) < 7:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def my_customers_out(s: Session, merchant_id: str, rows: list[Customer]) -> list[MyCustomerOut]:
    """The customers bound to a guide, with their tags and the guide's groups (phones masked)."""
    their_groups = groups.groups_by_customer(s, merchant_id=merchant_id, customer_ids=[c.id for c in rows])
    bindings = {
        b.customer_id: b
        for b in s.scalars(
            scoped(GuideBinding, merchant_id).where(GuideBinding.customer_id.in_([c.id for c in rows]))
        )
    }
    return [
        MyCustomerOut(
            id=customer.id,
            name=customer.name,
            phone=masked(customer.phone),
            tags=customer.tags,
            groups=their_groups[customer.id],
            bound_at=bindings[customer.id].bound_at,
            protected_until=bindings[customer.id].protected_until,
        )
        for customer in rows
    ]
