"""Platform (merchants) and merchant administration (staff, API keys)."""

from __future__ import annotations

from fastapi import APIRouter

from shoplet.auth import AsAdmin, AsPlatform, AsStaff, Db, Now, Rt, require_staff
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, scoped
from shoplet.tenancy import service, signin
from shoplet.tenancy.models import ApiKey, Merchant, MerchantStatus, Staff
from shoplet.tenancy.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    CredentialsIn,
    InviteOut,
    MerchantCreated,
    MerchantIn,
    MerchantOut,
    StaffIn,
    StaffOut,
)
from shoplet.threads import OneHop

platform = APIRouter(route_class=OneHop, prefix="/platform", tags=["platform"])
router = APIRouter(route_class=OneHop, tags=["merchant"])
admin = require_staff()


@platform.post("/merchants", response_model=MerchantCreated, status_code=201)
def create_merchant(
    body: MerchantIn,
    now: Now,
    _: AsPlatform,
    db: Db,
) -> MerchantCreated:
    """Create a merchant (tenant) and its owner's API key, shown once."""
    with db.unit_of_work() as s:
        merchant, _key, token = service.create_merchant(s, name=body.name, timezone=body.timezone, now=now)
        return MerchantCreated(merchant=MerchantOut.model_validate(merchant), api_key=token)


@platform.get("/merchants", response_model=Page[MerchantOut])
def list_merchants(
    _: AsPlatform,
    db: Db,
    page: PageQuery,
) -> Page[MerchantOut]:
    from sqlalchemy import select

    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, select(Merchant), Merchant.id, page)
        return Page(items=[MerchantOut.model_validate(r) for r in rows], next_cursor=cursor)


@platform.post("/merchants/{merchant_id}/suspend", response_model=MerchantOut)
def suspend_merchant(merchant_id: str, _: AsPlatform, db: Db) -> MerchantOut:
    """Suspend a merchant: its API keys, customer sessions and console sign-ins stop working at
    once; its data is kept. Reactivating restores them."""
    with db.unit_of_work() as s:
        merchant = service.set_merchant_status(s, merchant_id=merchant_id, status=MerchantStatus.SUSPENDED)
        return MerchantOut.model_validate(merchant)


@platform.post("/merchants/{merchant_id}/reactivate", response_model=MerchantOut)
def reactivate_merchant(merchant_id: str, _: AsPlatform, db: Db) -> MerchantOut:
    with db.unit_of_work() as s:
        merchant = service.set_merchant_status(s, merchant_id=merchant_id, status=MerchantStatus.ACTIVE)
        return MerchantOut.model_validate(merchant)


@router.get("/merchant", response_model=MerchantOut)
def current_merchant(p: AsStaff, db: Db) -> MerchantOut:
    """The merchant the credential belongs to."""
    with db.unit_of_work(write=False) as s:
        return MerchantOut.model_validate(s.get(Merchant, p.tenant))


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_api_key(
    body: ApiKeyIn,
    now: Now,
    p: AsAdmin,
    db: Db,
) -> ApiKeyCreated:
    """A new admin API key; the token is shown once."""
    with db.unit_of_work() as s:
        key, token = service.create_api_key(s, merchant_id=p.tenant, name=body.name, staff_id=None, now=now)
        return ApiKeyCreated(key=ApiKeyOut.model_validate(key), token=token)


@router.get("/api-keys", response_model=Page[ApiKeyOut])
def list_api_keys(p: AsAdmin, db: Db, page: PageQuery) -> Page[ApiKeyOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(ApiKey, p.tenant), ApiKey.id, page)
        return Page(items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(
    key_id: str,
    now: Now,
    p: AsAdmin,
    db: Db,
) -> ApiKeyOut:
    """Revoke a key: it stops working at once. Revoking twice is harmless."""
    with db.unit_of_work() as s:
        key = service.revoke_api_key(s, merchant_id=p.tenant, key_id=key_id, now=now)
        return ApiKeyOut.model_validate(key)


@router.post("/staff", response_model=StaffOut, status_code=201)
def create_staff(
    body: StaffIn,
    now: Now,
    p: AsAdmin,
    db: Db,
) -> StaffOut:
    with db.unit_of_work() as s:
        staff = service.create_staff(
            s,
            merchant_id=p.tenant,
            name=body.name,
            role=body.role,
            store_id=body.store_id,
            phone=body.phone,
            login=body.login,
            password=body.password,
            now=now,
        )
        return StaffOut.model_validate(staff)


@router.get("/staff", response_model=Page[StaffOut])
def list_staff(p: AsAdmin, db: Db, page: PageQuery) -> Page[StaffOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(Staff, p.tenant), Staff.id, page)
        return Page(items=[StaffOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/staff/{staff_id}", response_model=StaffOut)
def get_staff(staff_id: str, p: AsAdmin, db: Db) -> StaffOut:
    with db.unit_of_work(write=False) as s:
        return StaffOut.model_validate(
            get_owned(s, Staff, p.tenant, staff_id, what="Staff member", code="staff")
        )


@router.post("/staff/{staff_id}/deactivate", response_model=StaffOut)
def deactivate_staff(staff_id: str, p: AsAdmin, db: Db) -> StaffOut:
    """Deactivate a staff member; every key bound to them stops working."""
    with db.unit_of_work() as s:
        return StaffOut.model_validate(service.deactivate_staff(s, merchant_id=p.tenant, staff_id=staff_id))


@router.put("/staff/{staff_id}/credentials", response_model=StaffOut)
def set_credentials(staff_id: str, body: CredentialsIn, now: Now, p: AsAdmin, db: Db) -> StaffOut:
    """Set a staff member's console login and/or password. A new password ends their console
    sessions and lifts a lockout."""
    with db.unit_of_work() as s:
        return StaffOut.model_validate(
            signin.set_credentials(
                s, merchant_id=p.tenant, staff_id=staff_id, login=body.login, password=body.password, now=now
            )
        )


@router.post("/staff/{staff_id}/invites", response_model=InviteOut, status_code=201)
def invite_staff(staff_id: str, now: Now, p: AsAdmin, db: Db, rt: Rt) -> InviteOut:
    """A one-time link (valid 7 days) with which the staff member sets their own console password."""
    with db.unit_of_work() as s:
        invite, token = signin.create_invite(s, merchant_id=p.tenant, staff_id=staff_id, now=now)
        return InviteOut(url=f"{rt.settings.public_url}/console/invite/{token}", expires_at=invite.expires_at)


@router.post("/staff/{staff_id}/api-keys", response_model=ApiKeyCreated, status_code=201)
def create_staff_key(
    staff_id: str,
    body: ApiKeyIn,
    now: Now,
    p: AsAdmin,
    db: Db,
) -> ApiKeyCreated:
    """An API key that acts as this staff member, with their role (and store, for clerks)."""
    with db.unit_of_work() as s:
        key, token = service.create_api_key(
            s, merchant_id=p.tenant, name=body.name, staff_id=staff_id, now=now
        )
        return ApiKeyCreated(key=ApiKeyOut.model_validate(key), token=token)
