"""What group buying, flash sales and periodic plans share: per-customer quotas taken by a
conditional upsert, the lifecycle, the SKU a campaign sells, masked names, and buying in a
campaign (priced reading only, then placed with the campaign's takes in one unit of work)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, literal_column, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shoplet import lifecycle
from shoplet.campaigns.models import CampaignQuota
from shoplet.catalog.models import Product, ProductStatus, Sku
from shoplet.db import by_key, changed
from shoplet.errors import Conflict, Unprocessable
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


def not_running(what: str) -> Conflict:
    return Conflict("campaign.not_running", f"This {what} is not running now.")
