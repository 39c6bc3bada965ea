"""Creating, editing, scheduling, pausing and stopping promotions; the active set for a cart."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select
from sqlalchemy.orm import Session

from shoplet import lifecycle
from shoplet.catalog.models import Category, Sku
from shoplet.db import new_id
from shoplet.errors import Conflict, InvalidInput
from shoplet.inventory.models import StockLocation
from shoplet.lifecycle import Lifecycle
from shoplet.pricing import InvalidCart
from shoplet.pricing.model import STAGE1, STAGE2, STAGE3, parse
from shoplet.promotions.models import Promotion
from shoplet.promotions.schemas import PARAMS
from shoplet.scoping import get_owned, owned

KINDS = STAGE1 + STAGE2 + STAGE3
EDITABLE = (
    "name",
    "params",
    "scope",
    "stack_group",
    "exclusive",
    "host_apps",
    "store_ids",
    "starts_at",
    "ends_at",
)


def as_rule(promotion: Promotion) -> dict[str, Any]:
    """The promotion as a rule of the pricing contract (ids: SKU and category ids)."""
    rule: dict[str, Any] = {
        "id": promotion.id,
        "kind": promotion.kind,
        **promotion.params,
        "scope": dict(promotion.scope),
    }
    if promotion.stack_group:
        rule["group"] = promotion.stack_group
    if promotion.exclusive:
        rule["exclusive"] = True
    return rule


def _check(session: Session, merchant_id: str, promotion: Promotion) -> None:
    """Refuse what the engine would refuse, and scopes naming things this shop lacks."""
    if promotion.kind not in KINDS:
        raise InvalidInput("promotion.kind", f"Unknown promotion kind '{promotion.kind}'.")
    if promotion.starts_at and promotion.ends_at and promotion.ends_at <= promotion.starts_at:
        raise InvalidInput("promotion.window", "The promotion must end after it starts.")
    try:
        parse(
            {
                "now": "2026-01-01T00:00:00+00:00",
                "lines": [{"sku": "_", "quantity": 1, "unit_price": 0}],
                "promotions": [as_rule(promotion)],
            }
        )
    except InvalidCart as exc:
        detail = str(exc).removeprefix("promotions[0].").removeprefix("promotions[0]: ")
        raise InvalidInput("promotion.invalid", f"The promotion is not valid: {detail}.") from exc
    sku_ids = set(promotion.scope.get("skus", [])) | set(promotion.scope.get("exclude_skus", []))
    if sku_ids:
        found = set(session.scalars(select(Sku.id).where(owned(Sku, merchant_id), Sku.id.in_(sku_ids))))
        if sku_ids - found:
            raise InvalidInput(
                "promotion.unknown_sku", f"No SKU '{sorted(sku_ids - found)[0]}' in this shop."
            )
    categories = set(promotion.scope.get("categories", []))
    if categories:
        found = set(
            session.scalars(
                select(Category.id).where(owned(Category, merchant_id), Category.id.in_(categories))
            )
        )
        if categories - found:
            raise InvalidInput(
                "promotion.unknown_category", f"No category '{sorted(categories - found)[0]}' in this shop."
            )


def create(session: Session, *, merchant_id: str, fields: dict[str, Any], now: datetime) -> Promotion:
    promotion = Promotion(
        merchant_id=merchant_id,
        id=new_id("prm"),
        status="active",
        version=1,
        created_at=now,
        updated_at=now,
        **fields,
    )
    _check(session, merchant_id, promotion)
    session.add(promotion)
    session.flush()
    return promotion


def check_stores(session: Session, merchant_id: str, store_ids: list[str]) -> None:
    for store_id in store_ids:
        if session.get(StockLocation, (merchant_id, store_id)) is None:
            raise InvalidInput("promotion.unknown_store", f"No store '{store_id}' in this shop.")


def fields_of(body: Any) -> dict[str, Any]:
    """The columns a ``PromotionIn`` sets."""
    return dict(
        name=body.name,
        kind=body.kind,
        params=body.params(),
        scope=body.scope.model_dump(),
        stack_group=body.group,
        exclusive=body.exclusive,
        host_apps=list(body.host_apps),
        store_ids=body.store_ids,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )


def create_from_request(session: Session, *, merchant_id: str, body: Any, now: datetime) -> Promotion:
    """A promotion from a ``PromotionIn`` (the API's and the console's one way to make one)."""
    check_stores(session, merchant_id, body.store_ids)
    promotion = create(session, merchant_id=merchant_id, now=now, fields=fields_of(body))
    if body.paused:
        promotion = transition(
            session, merchant_id=merchant_id, promotion_id=promotion.id, action="pause", now=now
        )
    return promotion


def update_from_request(
    session: Session, *, merchant_id: str, promotion_id: str, body: Any, now: datetime
) -> Promotion:
    """Apply a ``PromotionPatch``: fields given change; rule fields, when any is given, replace
    the rule's parameters as a whole."""
    given = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in given.items() if k not in PARAMS}
    if "group" in changes:
        changes["stack_group"] = changes.pop("group")
    if "scope" in changes:
        changes["scope"] = body.scope.model_dump() if body.scope else {}
    if any(k in given for k in PARAMS):
        changes["params"] = body.params()
    for field in ("name", "exclusive", "host_apps", "store_ids"):
        if field in changes and changes[field] is None:
            raise InvalidInput("request.null_field", f"'{field}' cannot be cleared; give it a value.")
    if changes.get("store_ids"):
        check_stores(session, merchant_id, changes["store_ids"])
    return update(session, merchant_id=merchant_id, promotion_id=promotion_id, changes=changes, now=now)


def proposed(session: Session, *, merchant_id: str, body: Any) -> Promotion:
    """A promotion as it would be created, checked but not saved (to try a cart with it)."""
    check_stores(session, merchant_id, body.store_ids)
    promotion = Promotion(
        merchant_id=merchant_id, id="proposed", status="active", version=0, **fields_of(body)
    )
    _check(session, merchant_id, promotion)
    return promotion


def update(
    session: Session, *, merchant_id: str, promotion_id: str, changes: dict[str, Any], now: datetime
) -> Promotion:
    """Edit a promotion. Orders already placed keep the version they were priced with."""
    promotion = get_owned(session, Promotion, merchant_id, promotion_id, what="Promotion")
    if promotion.status == Lifecycle.STOPPED:
        raise Conflict("promotion.stopped", "A stopped promotion cannot be edited; create a new one.")
    for field, value in changes.items():
        if field not in EDITABLE:
            raise InvalidInput("promotion.not_editable", f"'{field}' cannot be changed.")
        setattr(promotion, field, value)
    _check(session, merchant_id, promotion)
    promotion.version += 1
    promotion.updated_at = now
    session.flush()
    return promotion


def transition(
    session: Session, *, merchant_id: str, promotion_id: str, action: str, now: datetime
) -> Promotion:
    """Pause, resume or stop; repeating an action is harmless, a stopped promotion stays stopped."""
    promotion = get_owned(session, Promotion, merchant_id, promotion_id, what="Promotion")
    lifecycle.apply(promotion, action, now, stopped_code="promotion.stopped")
    session.flush()
    return promotion


def state(promotion: Promotion, now: datetime) -> str:
    """What a person sees: scheduled, running, paused, ended or stopped."""
    if promotion.status != Lifecycle.ACTIVE:
        return promotion.status
    if promotion.starts_at and now < promotion.starts_at:
        return "scheduled"
    if promotion.ends_at and now >= promotion.ends_at:
        return "ended"
    return "running"


# Built once: every checkout and quote reads the running promotions.
_NOW = bindparam("now", type_=Promotion.__table__.c.starts_at.type)
_RUNNING = (
    select(cast(Table, Promotion.__table__))  # rows: pricing only reads them
    .where(
        owned(Promotion, bindparam("m")),
        Promotion.status == Lifecycle.ACTIVE,
        or_(Promotion.starts_at.is_(None), Promotion.starts_at <= _NOW),
        or_(Promotion.ends_at.is_(None), Promotion.ends_at > _NOW),
    )
    .order_by(Promotion.created_at, Promotion.id)
)


def running(
    session: Session, *, merchant_id: str, now: datetime, host_app: str | None, store_id: str | None
) -> list[Promotion]:
    """Promotions that apply to a cart now, in this host app and at this store, oldest first:
    rows of the table, every column as an attribute, for reading (each checkout reads them)."""
    return running_from(
        session.connection().execute(*running_read(merchant_id, now)).all(),
        host_app=host_app,
        store_id=store_id,
    )


def running_read(merchant_id: str, now: datetime) -> tuple[Any, dict[str, Any]]:
    """The statement of :func:`running` and its values (to send with others)."""
    return _RUNNING, {"m": merchant_id, "now": now}


def running_from(rows: Any, *, host_app: str | None, store_id: str | None) -> list[Promotion]:
    """:func:`running`'s answer from the rows of :func:`running_read`."""
    return [p for p in cast(list[Promotion], rows) if applies_at(p, host_app=host_app, store_id=store_id)]


def applies_at(promotion: Promotion, *, host_app: str | None, store_id: str | None) -> bool:
    """Whether a promotion runs in this host app and at this store (empty lists: everywhere)."""
    return (not promotion.host_apps or host_app in promotion.host_apps) and (
        not promotion.store_ids or store_id in promotion.store_ids
    )
