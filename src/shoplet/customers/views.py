"""Customers as staff see them: identities and membership, batched for lists."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shoplet.customers import service
from shoplet.customers.models import Customer, Member
from shoplet.customers.schemas import CustomerOut, IdentityOut, MembershipOut
from shoplet.scoping import scoped


def customers_out(s: Session, customers: list[Customer]) -> list[CustomerOut]:
    """Customers with their identities and membership: three statements for any page."""
    if not customers:
        return []
    merchant_id = customers[0].merchant_id
    ids = [c.id for c in customers]
    members = {
        m.customer_id: m for m in s.scalars(scoped(Member, merchant_id).where(Member.customer_id.in_(ids)))
    }
    identities: dict[str, list[IdentityOut]] = {}
    for identity in service.identities_of_many(s, merchant_id, ids):
        identities.setdefault(identity.customer_id, []).append(IdentityOut.model_validate(identity))
    return [
        CustomerOut(
            id=c.id,
            name=c.name,
            phone=c.phone,
            tags=c.tags,
            birthday=c.birthday,
            identities=identities.get(c.id, []),
            membership=MembershipOut.model_validate(members[c.id]) if c.id in members else None,
            created_at=c.created_at,
        )
        for c in customers
    ]


def customer_out(s: Session, customer: Customer) -> CustomerOut:
    return customers_out(s, [customer])[0]
