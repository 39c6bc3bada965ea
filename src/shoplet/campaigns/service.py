"""What group buying, flash sales and periodic plans share: per-customer quotas taken by a
conditional upsert, the lifecycle, the SKU a campaign sells, masked names, and buying in a
campaign (priced reading only, then placed with the campaign's takes in one unit of work)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, literal_column, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shoplet import idempotency, lifecycle
from shoplet.campaigns.models import CampaignQuota
from shoplet.catalog.models import Product, ProductStatus, Sku
from shoplet.db import Database, by_key, changed
from shoplet.errors import Conflict, ShopletError, Unprocessable
from shoplet.orders import checkout, routing
from shoplet.orders.checkout import Campaign, Placed, PricedItems
from shoplet.orders.pricing import CartPricer
from shoplet.orders.schemas import OrderOut
from shoplet.orders.service import get_order
from shoplet.orders.views import order_out, shaped
from shoplet.scoping import owned


def _quota_upsert(dialect: str) -> Any:
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(CampaignQuota).values(
        merchant_id=bindparam("m"),
        campaign_id=bindparam("c"),
        customer_id=bindparam("u"),
        taken=bindparam("q"),
    )
    return statement.on_conflict_do_update(
        index_elements=["merchant_id", "campaign_id", "customer_id"],
        set_={"taken": CampaignQuota.taken + statement.excluded.taken},
        where=CampaignQuota.taken + statement.excluded.taken <= bindparam("limit"),
    ).returning(CampaignQuota.taken)


_QUOTA = {dialect: _quota_upsert(dialect) for dialect in ("sqlite", "postgresql")}
_GIVE_QUOTA = (
    update(CampaignQuota)
    .where(
        owned(CampaignQuota, bindparam("m")),
        CampaignQuota.campaign_id == bindparam("c"),
        CampaignQuota.customer_id == bindparam("u"),
        CampaignQuota.taken >= bindparam("q"),
    )
    .values(taken=CampaignQuota.taken - bindparam("q"))
)


def take_quota(
    session: Session, *, merchant_id: str, campaign_id: str, customer_id: str, quantity: int, limit: int
) -> bool:
    """Raise the customer's units in the campaign by ``quantity`` if that stays within
    ``limit``: one upsert whose WHERE is the limit (two racing buys cannot both pass)."""
    if quantity > limit:
        return False
    connection = session.connection()
    row = connection.execute(
        _QUOTA[connection.dialect.name],
        {"m": merchant_id, "c": campaign_id, "u": customer_id, "q": quantity, "limit": limit},
    ).first()
    return row is not None


def give_quota(
    session: Session, *, merchant_id: str, campaign_id: str, customer_id: str, quantity: int
) -> None:
    session.execute(_GIVE_QUOTA, {"m": merchant_id, "c": campaign_id, "u": customer_id, "q": quantity})


def quota_taken(session: Session, *, merchant_id: str, campaign_id: str, customer_id: str) -> int:
    row = by_key(session, CampaignQuota, (merchant_id, campaign_id, customer_id))
    return row.taken if row else 0


def sellable_sku(session: Session, merchant_id: str, sku_id: str) -> tuple[Sku, Product]:
    """The SKU a campaign sells, with its product; 422 when it is unknown or not on sale."""
    sku = by_key(session, Sku, (merchant_id, sku_id))
    product = by_key(session, Product, (merchant_id, sku.product_id)) if sku else None
    if sku is None or product is None:
        raise Unprocessable(
            "campaign.unknown_sku", f"There is no item '{sku_id}' in this shop.", sku_id=sku_id
        )
    if sku.status != ProductStatus.ACTIVE or product.status != ProductStatus.ACTIVE:
        raise Unprocessable("campaign.sku_unavailable", f"'{product.title}' is not on sale.", sku_id=sku_id)
    return sku, product


def check_window(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise Unprocessable("campaign.bad_window", "A campaign must end after it starts.")


def act(obj: Any, action: str, now: datetime) -> None:
    """Pause, resume or stop a campaign (a stopped one stays stopped)."""
    lifecycle.apply(obj, action, now, stopped_code="campaign.stopped")


def masked(name: str | None) -> str:
    """A member's name as other customers see it: the first character, then stars."""
    name = (name or "").strip()
    if not name:
        return "***"
    return name[0] + "**"


def bump(
    session: Session, model: Any, merchant_id: str, key: str, column: str, by: int, *conditions: Any
) -> bool:
    """``column += by`` on one row when ``conditions`` hold (the CHECKs keep it in range)."""
    attr = getattr(model, column)
    return bool(
        changed(
            session.execute(
                update(model)
                .where(owned(model, merchant_id), model.id == key, *conditions)
                .values({column: attr + by})
                .execution_options(synchronize_session=False)
            )
        )
    )


ACTIVE: Any = literal_column("'active'")


def buy(
    db: Database,
    *,
    merchant_id: str,
    customer_id: str,
    scope: str,
    operation: str,
    payload: dict[str, Any],
    idempotency_key: str | None,
    location_id: str,
    items: list[tuple[str, int]],
    campaign: Campaign,
    pricer: CartPricer,
    host_app: str | None,
    scene: str | None,
    timeout: timedelta,
    now: datetime,
    coupon_ids: list[str] | None,
    fulfilment: routing.Request | None,
    check: Callable[[Session], None],
    take: Callable[[Session, Placed], None],
    refused: Callable[[], None] | None = None,
    note: str = "",
) -> OrderOut:
    """Buy in a campaign: ``check`` refuses early reading only and the order is priced at the
    location with the campaign's price (one unit of work that writes nothing); then, under
    the Idempotency-Key, the order is placed and ``take`` takes the campaign's counters in
    the same unit of work — any refusal there rolls everything back (``refused`` runs then:
    a Redis gate's slot goes back)."""
    where: dict[str, Any] = dict(
        merchant_id=merchant_id, scope=scope, key=idempotency_key, operation=operation, payload=payload
    )
    replayed = None
    found: PricedItems | None = None
    with db.unit_of_work(write=False) as s:
        try:
            check(s)
            found = checkout.price_checkout(
                s,
                merchant_id=merchant_id,
                customer_id=customer_id,
                location_id=location_id,
                items=items,
                pricer=pricer,
                host_app=host_app,
                now=now,
                coupon_ids=coupon_ids,
                fulfilment=fulfilment,
                campaign=campaign,
            )
        except ShopletError:
            replayed = idempotency.recorded(s, **where)
            if replayed is None:
                if refused is not None:
                    refused()
                raise
    if replayed is not None:
        stored = replayed[1]
    else:
        assert found is not None
        priced = found
        answer: list[OrderOut] = []

        def work(s: Session) -> tuple[int, dict[str, Any]]:
            placed = checkout.place(
                s,
                priced,
                merchant_id=merchant_id,
                customer_id=customer_id,
                location_id=location_id,
                host_app=host_app,
                scene=scene,
                note=note,
                timeout=timeout,
                now=now,
                campaign=campaign,
            )
            take(s, placed)
            parts = sorted(placed.fulfilments, key=lambda f: f.id)
            answer[:] = [shaped(placed.order, placed.lines, parts, for_customer=True)]
            return 201, {"order_id": placed.order.id}

        try:
            _, stored = idempotency.run(db, work=work, **where)
        except ShopletError:
            if refused is not None:
                refused()
            raise
        if answer and answer[0].id == stored["order_id"]:
            return answer[0]
    with db.unit_of_work(write=False) as s:
        return order_out(
            s, get_order(s, merchant_id, stored["order_id"], customer_id=customer_id), for_customer=True
        )


def not_running(what: str) -> Conflict:
    return Conflict("campaign.not_running", f"This {what} is not running now.")
