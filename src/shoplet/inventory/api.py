"""Stores and warehouses (stock locations) and their stock."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.auth import AsAdmin, AsClerk, AsStaff, Db, Now, Principal
from shoplet.errors import NotFound
from shoplet.inventory import service
from shoplet.inventory.models import StockLevel, StockLocation, StockTransfer
from shoplet.inventory.schemas import (
    StockAdjustment,
    StockCount,
    StockOut,
    StoreIn,
    StoreOut,
    StorePatch,
    TransferIn,
    TransferOut,
)
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.scoping import get_owned, scoped
from shoplet.tenancy.models import Role
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["stores"])


def stock_out(level: StockLevel) -> StockOut:
    return StockOut(
        location_id=level.location_id,
        sku_id=level.sku_id,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.on_hand - level.reserved,
    )


def own_location(s, p: Principal, store_id: str) -> StockLocation:
    """The location, if this principal may touch it: a clerk only reaches their own store."""
    if p.role == Role.CLERK and p.store_id != store_id:
        raise NotFound("store.not_found", "No such store.")
    return get_owned(s, StockLocation, p.tenant, store_id, what="Store", code="store")


@router.post("/stores", response_model=StoreOut, status_code=201)
def create_store(
    body: StoreIn,
    p: AsAdmin,
    db: Db,
    now: Now,
) -> StoreOut:
    """A store (direct or franchise) or a warehouse: both hold stock."""
    with db.unit_of_work() as s:
        return StoreOut.model_validate(
            service.create_location(s, merchant_id=p.tenant, now=now, **body.model_dump())
        )


@router.get("/stores", response_model=Page[StoreOut])
def list_stores(
    p: AsStaff,
    db: Db,
    page: PageQuery,
    kind: str | None = Query(None, pattern="^(store|warehouse)$"),
) -> Page[StoreOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(StockLocation, p.tenant)
        if kind:
            stmt = stmt.where(StockLocation.kind == kind)
        rows, cursor = paginate(s, stmt, StockLocation.id, page)
        return Page(items=[StoreOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/stores/{store_id}", response_model=StoreOut)
def get_store(store_id: str, p: AsStaff, db: Db) -> StoreOut:
    with db.unit_of_work(write=False) as s:
        return StoreOut.model_validate(
            get_owned(s, StockLocation, p.tenant, store_id, what="Store", code="store")
        )


@router.patch("/stores/{store_id}", response_model=StoreOut)
def update_store(store_id: str, body: StorePatch, p: AsAdmin, db: Db) -> StoreOut:
    with db.unit_of_work() as s:
        location = service.update_location(
            s, merchant_id=p.tenant, location_id=store_id, changes=body.model_dump(exclude_unset=True)
        )
        return StoreOut.model_validate(location)


@router.get("/stores/{store_id}/stock", response_model=list[StockOut])
def store_stock(store_id: str, p: AsStaff, db: Db) -> list[StockOut]:
    """Stock of every SKU held at this location."""
    with db.unit_of_work(write=False) as s:
        own_location(s, p, store_id)
        return [stock_out(level) for level in service.levels_at(s, p.tenant, store_id)]


@router.put("/stores/{store_id}/stock/{sku_id}", response_model=StockOut)
def count_stock(
    store_id: str,
    sku_id: str,
    body: StockCount,
    p: AsClerk,
    db: Db,
    now: Now,
) -> StockOut:
    """Record a stock-take: the counted on-hand quantity (the difference is logged)."""
    with db.unit_of_work() as s:
        own_location(s, p, store_id)
        return stock_out(
            service.set_on_hand(
                s,
                merchant_id=p.tenant,
                location_id=store_id,
                sku_id=sku_id,
                on_hand=body.on_hand,
                reason=body.reason,
                now=now,
            )
        )


@router.post("/stores/{store_id}/stock/{sku_id}/adjustments", response_model=StockOut)
def adjust_stock(
    store_id: str,
    sku_id: str,
    body: StockAdjustment,
    p: AsClerk,
    db: Db,
    now: Now,
) -> StockOut:
    """Receive or remove units, with a reason."""
    with db.unit_of_work() as s:
        own_location(s, p, store_id)
        return stock_out(
            service.adjust(
                s,
                merchant_id=p.tenant,
                location_id=store_id,
                sku_id=sku_id,
                delta=body.delta,
                reason=body.reason,
                now=now,
            )
        )


@router.post("/stock-transfers", response_model=TransferOut, status_code=201)
def create_transfer(
    body: TransferIn,
    p: AsClerk,
    db: Db,
    now: Now,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> TransferOut:
    """Move stock between two locations (two-sided, all lines or none). A clerk can send
    only from their own store."""
    items: dict[str, int] = {}
    for line in body.lines:
        items[line.sku_id] = items.get(line.sku_id, 0) + line.quantity

    def work(s: Session) -> tuple[int, dict]:
        own_location(s, p, body.from_location_id)
        record = service.transfer(
            s,
            merchant_id=p.tenant,
            from_location_id=body.from_location_id,
            to_location_id=body.to_location_id,
            items=items,
            reason=body.reason,
            by=p.scope,
            now=now,
        )
        return 201, {"transfer_id": record.id}

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation="stock-transfer",
        payload=body.model_dump(),
        work=work,
    )
    with db.unit_of_work(write=False) as s:
        return TransferOut.model_validate(
            get_owned(
                s,
                StockTransfer,
                p.tenant,
                stored["transfer_id"],
                what="Stock transfer",
                code="stock_transfer",
            )
        )


@router.get("/stock-transfers", response_model=Page[TransferOut])
def list_transfers(p: AsStaff, db: Db, page: PageQuery) -> Page[TransferOut]:
    with db.unit_of_work(write=False) as s:
        rows, cursor = paginate(s, scoped(StockTransfer, p.tenant), StockTransfer.id, page)
        return Page(items=[TransferOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/stock-transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, p: AsStaff, db: Db) -> TransferOut:
    with db.unit_of_work(write=False) as s:
        return TransferOut.model_validate(
            get_owned(s, StockTransfer, p.tenant, transfer_id, what="Stock transfer", code="stock_transfer")
        )
