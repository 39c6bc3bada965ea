"""Coupon templates and claiming. Every limit is a conditional UPDATE in the same
transaction as the coupon it admits: stock, per-customer (lifetime and per day), budget.
If any refuses, the transaction rolls back and nothing was taken."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shoplet import events, lifecycle, pipelined
from shoplet.catalog.models import Category, Sku
from shoplet.coupons.codes import new_code
from shoplet.coupons.models import Coupon, CouponClaimCount, CouponTemplate
from shoplet.customers.models import Customer
from shoplet.customers.service import is_follower
from shoplet.db import new_id
from shoplet.errors import Conflict, Forbidden, InvalidInput, Unprocessable
from shoplet.events import EventKind
from shoplet.inventory.models import StockLocation
from shoplet.lifecycle import Lifecycle
from shoplet.membership import light
from shoplet.membership.models import Member
from shoplet.pricing import InvalidCart
from shoplet.pricing.model import parse
from shoplet.schemas import zone_named
from shoplet.scoping import get_owned, owned
from shoplet.tenancy.models import Merchant

KINDS = ("cash", "threshold", "percent", "exchange", "free_delivery")
EDITABLE = (
    "name",
    "scope",
    "store_ids",
    "host_apps",
    "audience",
    "claim_starts_at",
    "claim_ends_at",
    "total_stock",
    "per_customer_limit",
    "per_day_limit",
    "budget",
)


def rule_of(template: CouponTemplate) -> dict[str, Any]:
    """The template as a coupon of the pricing contract (without id or validity)."""
    rule: dict[str, Any] = {"kind": template.kind, **template.params, "scope": dict(template.scope)}
    if template.stackable:
        rule["stackable"] = True
    if template.exclusive_with_promotions:
        rule["exclusive_with_promotions"] = True
    if template.campaigns:
        rule["campaigns"] = True
    return rule


def face_value(template: CouponTemplate) -> int:
    """What one coupon can cost the merchant at most, for the budget."""
    p = template.params
    if template.kind in ("cash", "threshold"):
        return p["off"]
    if template.kind == "percent":
        return p.get("max_off") or 0
    return 0


def _check(session: Session, template: CouponTemplate) -> None:
    merchant_id = template.merchant_id
    if template.kind not in KINDS:
        raise InvalidInput("coupon.kind", f"Unknown coupon kind '{template.kind}'.")
    try:
        parse(
            {
                "now": "2026-01-01T00:00:00+00:00",
                "lines": [{"sku": "_", "quantity": 1, "unit_price": 0}],
                "coupons": [{"id": "t", **rule_of(template)}],
            }
        )
    except InvalidCart as exc:
        detail = str(exc).removeprefix("coupons[0].").removeprefix("coupons[0]: ")
        raise InvalidInput("coupon.invalid", f"The coupon is not valid: {detail}.") from exc
    if template.validity == "fixed" and template.valid_until is None:
        raise InvalidInput("coupon.validity", "A fixed-window coupon needs 'valid_until'.")
    if template.validity == "relative" and not template.valid_days:
        raise InvalidInput("coupon.validity", "A coupon valid N days after claim needs 'valid_days'.")
    if template.valid_from and template.valid_until and template.valid_until <= template.valid_from:
        raise InvalidInput("coupon.validity", "The coupon must stop being valid after it starts.")
    if template.budget is not None and template.kind == "percent" and not template.params.get("max_off"):
        raise InvalidInput("coupon.budget_needs_cap", "A percent coupon with a budget needs 'max_off'.")
    skus = set(template.scope.get("skus", [])) | set(template.scope.get("exclude_skus", []))
    if template.kind == "exchange":
        skus.add(template.params["sku"])
    if skus:
        found = set(session.scalars(select(Sku.id).where(owned(Sku, merchant_id), Sku.id.in_(skus))))
        if skus - found:
            raise InvalidInput("coupon.unknown_sku", f"No SKU '{sorted(skus - found)[0]}' in this shop.")
    categories = set(template.scope.get("categories", []))
    if categories and categories - set(
        session.scalars(select(Category.id).where(owned(Category, merchant_id), Category.id.in_(categories)))
    ):
        raise InvalidInput("coupon.unknown_category", "A category in the scope is not in this shop.")
    if template.public_code and session.scalar(
        select(CouponTemplate.id).where(
            owned(CouponTemplate, merchant_id),
            CouponTemplate.public_code == template.public_code,
            CouponTemplate.id != template.id,
        )
    ):
        raise Conflict("coupon.public_code_taken", "Another coupon already uses this discount code.")


def create_template(
    session: Session, *, merchant_id: str, fields: dict[str, Any], now: datetime
) -> CouponTemplate:
    template = CouponTemplate(
        merchant_id=merchant_id,
        id=new_id("cpt"),
        status="active",
        version=1,
        issued_count=0,
        budget_committed=0,
        created_at=now,
        updated_at=now,
        **fields,
    )
    _check(session, template)
    session.add(template)
    session.flush()
    return template


def request_fields(s: Session, merchant_id: str, body: Any) -> dict[str, Any]:
    """The editable fields a template request sets, checked (stores of this shop, no clearing)."""
    fields = body.model_dump(exclude_unset=True, include=set(EDITABLE))
    if "scope" in fields:
        fields["scope"] = body.scope.model_dump() if body.scope else {}
    if "audience" in fields:
        fields["audience"] = body.audience.model_dump() if body.audience else {}
    for field in ("name", "store_ids", "host_apps"):
        if field in fields and fields[field] is None:
            raise InvalidInput("request.null_field", f"'{field}' cannot be cleared; give it a value.")
    for store_id in fields.get("store_ids") or []:
        if s.get(StockLocation, (merchant_id, store_id)) is None:
            raise InvalidInput("coupon.unknown_store", f"No store '{store_id}' in this shop.")
    return fields


def create_from_request(session: Session, *, merchant_id: str, body: Any, now: datetime) -> CouponTemplate:
    """A template from a ``CouponTemplateIn``: the API's and the demo's one way to make one."""
    fields = request_fields(session, merchant_id, body)
    fields.setdefault("scope", {})
    fields.setdefault("audience", {"kind": "everyone"})
    fields.setdefault("store_ids", [])
    fields.setdefault("host_apps", [])
    return create_template(
        session,
        merchant_id=merchant_id,
        now=now,
        fields=dict(
            fields,
            name=body.name,
            kind=body.kind,
            params=body.params(),
            stackable=body.stackable,
            exclusive_with_promotions=body.exclusive_with_promotions,
            campaigns=body.campaigns,
            validity=body.validity,
            valid_from=body.valid_from,
            valid_until=body.valid_until,
            valid_days=body.valid_days,
            delay_days=body.delay_days,
            public_code=body.public_code.upper() if body.public_code else None,
        ),
    )


def update_template(
    session: Session, *, merchant_id: str, template_id: str, changes: dict[str, Any], now: datetime
) -> CouponTemplate:
    """Edit a template; coupons already issued keep the rule they were issued with."""
    template = get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    if template.status == Lifecycle.STOPPED:
        raise Conflict("coupon.stopped", "A stopped coupon cannot be edited; create a new one.")
    for field, value in changes.items():
        if field not in EDITABLE:
            raise InvalidInput(
                "coupon.not_editable", f"'{field}' cannot be changed once issued; create a new coupon."
            )
        setattr(template, field, value)
    if template.total_stock is not None and template.total_stock < template.issued_count:
        raise Unprocessable(
            "coupon.stock_below_issued",
            f"{template.issued_count} coupons are already issued; the stock cannot be lower.",
        )
    if template.budget is not None and template.budget < template.budget_committed:
        raise Unprocessable(
            "coupon.budget_below_committed", "The budget cannot be lower than what is committed."
        )
    _check(session, template)
    template.version += 1
    template.updated_at = now
    session.flush()
    return template


def transition(
    session: Session, *, merchant_id: str, template_id: str, action: str, now: datetime
) -> CouponTemplate:
    """Pause, resume or stop giving the coupon out; issued coupons stay usable either way."""
    template = get_owned(
        session, CouponTemplate, merchant_id, template_id, what="Coupon template", code="coupon_template"
    )
    lifecycle.apply(template, action, now, stopped_code="coupon.stopped")
    session.flush()
    return template


_TIMEZONES: dict[str, ZoneInfo] = {}


def cached_zone(merchant_id: str) -> ZoneInfo | None:
    """The merchant's time zone if :func:`local_day` has read it already (no database read)."""
    return _TIMEZONES.get(merchant_id)


def local_day(session: Session, merchant_id: str, now: datetime) -> str:
    """The merchant-local date of ``now`` (per-day limits count by it). Time zones are cached:
    a merchant's changes at most rarely, and a stale one only shifts which day a claim counts."""
    zone = _TIMEZONES.get(merchant_id)
    if zone is None:
        merchant = session.get(Merchant, merchant_id)
        zone = _TIMEZONES[merchant_id] = zone_named(merchant.timezone if merchant else None)
    return now.astimezone(zone).date().isoformat()


def audience_refusal(
    session: Session, template: CouponTemplate, customer_id: str, now: datetime
) -> str | None:
    """Why this customer is not in the template's audience (None: they are)."""
    audience = template.audience or {}
    kind = audience.get("kind", "everyone")
    merchant_id = template.merchant_id
    if kind == "everyone":
        return None
    if kind == "new_customers":  # the first paid order makes a member: members are not new
        return (
            None
            if session.get(Member, (merchant_id, customer_id)) is None
            else "This coupon is for new customers."
        )
    if kind == "members":
        member = session.get(Member, (merchant_id, customer_id))
        tiers = audience.get("tiers") or []
        if member is not None and (not tiers or member.tier in tiers):
            return None
        return "This coupon is for members" + (f" of tier {', '.join(tiers)}." if tiers else ".")
    if kind == "tags":
        customer = session.get(Customer, (merchant_id, customer_id))
        if customer is not None and set(customer.tags) & set(audience.get("tags") or []):
            return None
        return "This coupon is for selected customers."
    if kind == "light_members":
        if light.enjoying(session, merchant_id, customer_id, now) is not None:
            return None
        return "This coupon is for light members (轻会员)."
    if kind == "followers":
        if is_follower(session, merchant_id, customer_id):
            return None
        return "This coupon is for followers of the shop's life account."
    return "This coupon is not available to you."


def validity_for(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime | None]:
    if template.validity == "relative":
        start = now + timedelta(days=template.delay_days or 0)
        return start, start + timedelta(days=template.valid_days or 0)
    return template.valid_from or now, template.valid_until


def _counter_statement(dialect: str):
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    stmt = insert(CouponClaimCount).values(
        merchant_id=bindparam("m"),
        template_id=bindparam("t"),
        customer_id=bindparam("c"),
        period=bindparam("p"),
        claimed=1,
    )
    return stmt.on_conflict_do_update(
        index_elements=["merchant_id", "template_id", "customer_id", "period"],
        set_={"claimed": CouponClaimCount.claimed + 1},
        where=CouponClaimCount.claimed < bindparam("limit"),
    ).returning(CouponClaimCount.claimed)


# Built once: the claim path runs them on every claim (flash sales), so no per-call construction.
_COUNTER = {"sqlite": _counter_statement("sqlite"), "postgresql": _counter_statement("postgresql")}
_TAKE_STOCK = (
    update(CouponTemplate)
    .where(
        owned(CouponTemplate, bindparam("m")),
        CouponTemplate.id == bindparam("t"),
        CouponTemplate.status == Lifecycle.ACTIVE,
        (CouponTemplate.total_stock.is_(None)) | (CouponTemplate.issued_count < CouponTemplate.total_stock),
        (CouponTemplate.budget.is_(None))
        | (CouponTemplate.budget_committed + bindparam("face") <= CouponTemplate.budget),
    )
    .values(
        issued_count=CouponTemplate.issued_count + 1,
        budget_committed=CouponTemplate.budget_committed + bindparam("face"),
    )
    .returning(CouponTemplate.id)
    .execution_options(synchronize_session=False)
)


_INSERT_COUPON = cast(Table, Coupon.__table__).insert()


def _counter(
    session: Session,
    template: CouponTemplate,
    customer_id: str,
    period: str,
    limit: int,
    code: str,
    message: str,
) -> None:
    """Count one more coupon for this customer and period, unless that passes ``limit``:
    one upsert whose update only happens while ``claimed < limit``."""
    pipelined.later(
        session,
        _COUNTER[session.connection().dialect.name],
        {"m": template.merchant_id, "t": template.id, "c": customer_id, "p": period, "limit": limit},
        check=partial(_counted, Conflict(code, message)),
    )


def _counted(refusal: Conflict, rowcount: int) -> None:
    if rowcount != 1:
        raise refusal


def claimable_refusal(template: CouponTemplate, now: datetime) -> Conflict | Unprocessable | None:
    if template.status != Lifecycle.ACTIVE:
        return Conflict("coupon.not_claimable", "This coupon is not being given out right now.")
    if template.claim_starts_at and now < template.claim_starts_at:
        return Unprocessable("coupon.not_yet_claimable", "This coupon cannot be claimed yet.")
    if template.claim_ends_at and now >= template.claim_ends_at:
        return Unprocessable("coupon.claim_ended", "The time to claim this coupon has passed.")
    if template.validity == "fixed" and template.valid_until and now >= template.valid_until:
        return Unprocessable("coupon.expired", "This coupon has expired.")
    return None


def stock_refusal(template: CouponTemplate) -> Conflict | None:
    """Sold out or over budget as the template stands (a write would be refused the same)."""
    if template.budget is not None and template.budget_committed + face_value(template) > template.budget:
        return Conflict("coupon.budget_exhausted", "This coupon's budget is used up.")
    if template.total_stock is not None and template.issued_count >= template.total_stock:
        return Conflict("coupon.sold_out", "All of these coupons have been claimed.")
    return None


def issue(
    session: Session,
    *,
    template: CouponTemplate,
    customer_id: str,
    source: str,
    now: datetime,
    check_audience: bool = True,
) -> Coupon:
    """Issue one coupon of ``template`` to a customer, within every limit, or raise and take nothing."""
    refusal = claimable_refusal(template, now)
    if refusal is not None:
        raise refusal
    if check_audience:
        reason = audience_refusal(session, template, customer_id, now)
        if reason:
            raise Forbidden("coupon.not_eligible", reason)
    merchant_id = template.merchant_id
    # The template row is every claimant's hot spot: on PostgreSQL its lock is held from the
    # stock UPDATE to COMMIT. So it goes last, after the coupon and its event are written; a
    # refusal anywhere rolls everything back.
    if template.per_customer_limit is not None:
        _counter(
            session,
            template,
            customer_id,
            "all",
            template.per_customer_limit,
            "coupon.limit_reached",
            f"You can hold at most {template.per_customer_limit} of this coupon.",
        )
    if template.per_day_limit is not None:
        _counter(
            session,
            template,
            customer_id,
            local_day(session, merchant_id, now),
            template.per_day_limit,
            "coupon.daily_limit_reached",
            f"You can claim at most {template.per_day_limit} of this coupon a day.",
        )
    valid_from, valid_until = validity_for(template, now)
    values = dict(
        merchant_id=merchant_id,
        id=new_id("cpn"),
        template_id=template.id,
        template_version=template.version,
        customer_id=customer_id,
        code=new_code(),
        rule={
            **rule_of(template),
            "store_ids": list(template.store_ids),
            "host_apps": list(template.host_apps),
            "name": template.name,
        },
        source=source,
        status="available",
        valid_from=valid_from,
        valid_until=valid_until,
        claimed_at=now,
        order_id=None,
        used_at=None,
        verified_store_id=None,
        verified_by=None,
        discount=0,
        order_amount=0,
        reminded_at=None,
    )
    # Core on the session's transaction, no ORM: on PostgreSQL the counters, the coupon and its
    # event are queued and go with the template's UPDATE, in one round trip (shoplet.pipelined)
    pipelined.later(session, _INSERT_COUPON, values)
    events.record(
        session,
        merchant_id,
        EventKind.COUPON_CLAIMED,
        now,
        customer_id=customer_id,
        subject_id=values["id"],
        ref=template.id,
        subject_at=now,
    )
    face = face_value(template) if template.budget is not None else 0
    if not pipelined.execute(session, _TAKE_STOCK, {"m": merchant_id, "t": template.id, "face": face}):
        current = session.get_one(CouponTemplate, (merchant_id, template.id), populate_existing=True)
        refusal = claimable_refusal(current, now)  # paused or stopped since the caller read it
        if refusal is not None:
            raise refusal
        raise stock_refusal(current) or Conflict("coupon.sold_out", "All of these coupons have been claimed.")
    return Coupon(**values)  # the row as written, for the caller to read


def claim(
    session: Session,
    *,
    merchant_id: str,
    template_id: str,
    customer_id: str,
    now: datetime,
    source: str = "claim",
) -> Coupon:
    template = get_owned(session, CouponTemplate, merchant_id, template_id, what="Coupon", code="coupon")
    return issue(session, template=template, customer_id=customer_id, source=source, now=now)
