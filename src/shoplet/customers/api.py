"""Customers (merchant side): records, host-app identities, sessions issued by a server."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from shoplet.auth import (
    AsOperator,
    AsStaff,
    Db,
    Now,
    Rt,
)
from shoplet.customers import service
from shoplet.customers.models import Customer, Follower
from shoplet.customers.schemas import (
    CustomerIn,
    CustomerOut,
    FollowOut,
    IdentityIn,
    SessionIn,
    SessionOut,
)
from shoplet.customers.views import customer_out, customers_out
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, owned, scoped
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["customers"])


@router.post("/customers", response_model=CustomerOut, status_code=201)
def create_customer(
    body: CustomerIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> CustomerOut:
    with db.unit_of_work() as s:
        customer = service.create_customer(
            s,
            merchant_id=p.tenant,
            name=body.name,
            phone=body.phone,
            tags=body.tags,
            birthday=body.birthday,
            identities=[(i.host_app, i.host_user_id) for i in body.identities],
            now=now,
        )
        return customer_out(s, customer)


@router.get("/customers", response_model=Page[CustomerOut])
def list_customers(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    phone: str | None = Query(None, max_length=32),
) -> Page[CustomerOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Customer, p.tenant)
        if phone:
            stmt = stmt.where(Customer.phone == phone)
        rows, cursor = paginate(s, stmt, Customer.id, page)
        return Page(items=customers_out(s, list(rows)), next_cursor=cursor)


def follow_out(customer_id: str, row: Follower | None) -> FollowOut:
    if row is None:
        return FollowOut(
            customer_id=customer_id, following=False, host_app=None, followed_at=None, unfollowed_at=None
        )
    return FollowOut(
        customer_id=customer_id,
        following=row.unfollowed_at is None,
        host_app=row.host_app,
        followed_at=row.followed_at,
        unfollowed_at=row.unfollowed_at,
    )


@router.get("/followers", response_model=Page[FollowOut])
def list_followers(p: AsStaff, db: Db, page: PageQuery) -> Page[FollowOut]:
    """Current followers of the merchant's life account (生活号), by customer."""
    with db.unit_of_work(write=False) as s:
        stmt = select(Follower).where(owned(Follower, p.tenant), Follower.unfollowed_at.is_(None))
        rows, cursor = paginate(s, stmt, Follower.customer_id, page)
        return Page(items=[follow_out(r.customer_id, r) for r in rows], next_cursor=cursor)


@router.get("/customers/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, p: AsStaff, db: Db) -> CustomerOut:
    with db.unit_of_work(write=False) as s:
        return customer_out(s, get_owned(s, Customer, p.tenant, customer_id, what="Customer"))


@router.post("/customers/{customer_id}/identities", response_model=CustomerOut)
def link_identity(
    customer_id: str,
    body: IdentityIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> CustomerOut:
    """Link another host app's user id to this customer (one person, many ends)."""
    with db.unit_of_work() as s:
        customer = get_owned(s, Customer, p.tenant, customer_id, what="Customer")
        service.link_identity(
            s,
            merchant_id=p.tenant,
            customer_id=customer.id,
            host_app=body.host_app,
            host_user_id=body.host_user_id,
            now=now,
        )
        return customer_out(s, customer)


@router.post("/customers/{customer_id}/sessions", response_model=SessionOut, status_code=201)
def open_session(
    customer_id: str,
    body: SessionIn,
    p: AsOperator,
    db: Db,
    now: Now,
    rt: Rt,
) -> SessionOut:
    """Issue a customer session from a trusted server (POS, H5 back end)."""
    with db.unit_of_work() as s:
        customer = get_owned(s, Customer, p.tenant, customer_id, what="Customer")
        record, token = service.open_session(
            s,
            merchant_id=p.tenant,
            customer_id=customer.id,
            host_app=body.host_app,
            scene=body.scene,
            days=rt.settings.customer_session_days,
            now=now,
        )
        return SessionOut(customer_id=customer.id, token=token, expires_at=record.expires_at)
