"""The cart, promotions and coupons of ``contracts/pricing.md``, parsed and validated.

Parsing turns the JSON into small immutable records with every scope resolved to the
tuple of line indices it covers, so the search never looks at strings again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, overload

STAGE1 = ("item_price", "item_percent")
STAGE2 = ("bundle", "buy_x_get_y")
STAGE3 = ("threshold_off", "threshold_percent", "free_delivery")
PROMOTION_KINDS = STAGE1 + STAGE2 + STAGE3
COUPON_KINDS = ("cash", "threshold", "percent", "exchange", "free_delivery")
CAMPAIGN_KINDS = ("group_price", "flash_price", "plan_price")


@dataclass(frozen=True, slots=True)
class Campaign:
    """A line bought in a campaign (拼团, 秒杀, 周期购): its price per unit is one more
    item-level candidate. Stage 2–3 promotions never apply to the line; a coupon does only
    where the campaign allows coupons and the coupon allows campaigns."""

    id: str
    kind: str
    price: int
    coupons: bool


class InvalidCart(ValueError):
    """The input breaks the contract; the message is one sentence for a person."""


@dataclass(frozen=True, slots=True)
class Line:
    index: int
    sku: str
    quantity: int
    unit_price: int
    category: str | None
    member_price: int | None
    light_member_price: int | None
    campaign: Campaign | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A promotion (stage 1–3) or a coupon (stage 4). ``lines`` is its scope, resolved."""

    id: str
    kind: str
    index: int  # position in its input list
    lines: tuple[int, ...]
    starts_at: datetime | None
    expires_at: datetime | None
    params: dict[str, Any] = field(hash=False, compare=False)
    group: str | None = None
    exclusive: bool = False
    stackable: bool = False
    exclusive_with_promotions: bool = False
    campaigns: bool = False  # a coupon usable on campaign lines that allow coupons

    def active(self, now: datetime) -> bool:
        return (self.starts_at is None or now >= self.starts_at) and (
            self.expires_at is None or now < self.expires_at
        )


@dataclass(frozen=True, slots=True)
class Cart:
    now: datetime
    lines: tuple[Line, ...]
    member: bool
    light_member: bool
    delivery_fee: int
    promotions: tuple[Rule, ...]
    coupons: tuple[Rule, ...]
    selected: tuple[str, ...] | None
    points: dict[str, int] | None


MAX_AMOUNT = 10_000_000_000
"""The largest amount (fen) or count any field may carry: ¥100,000,000.00."""
MAX_QUANTITY = 1_000_000
MAX_LINES, MAX_RULES = 1_000, 200


def _where(path: str, message: str) -> InvalidCart:
    return InvalidCart(f"{path}: {message}")


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _where(path, "must be an object")
    return value


@overload
def _int(
    data: dict[str, Any],
    key: str,
    path: str,
    *,
    required: Literal[True] = True,
    minimum: int = 0,
    maximum: int | None = None,
) -> int: ...
@overload
def _int(
    data: dict[str, Any],
    key: str,
    path: str,
    *,
    required: Literal[False],
    default: int,
    minimum: int = 0,
    maximum: int | None = None,
) -> int: ...
@overload
def _int(
    data: dict[str, Any],
    key: str,
    path: str,
    *,
    required: Literal[False],
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None: ...
def _int(
    data: dict[str, Any],
    key: str,
    path: str,
    *,
    required: bool = True,
    default: int | None = None,
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None:
    if key not in data or data[key] is None:
        if required:
            raise _where(f"{path}.{key}", "is required")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _where(f"{path}.{key}", "must be an integer (amounts are in fen)")
    if value < minimum:
        raise _where(f"{path}.{key}", f"must be at least {minimum}" if minimum else "must not be negative")
    limit = MAX_AMOUNT if maximum is None else maximum
    if value > limit:
        raise _where(f"{path}.{key}", f"must be at most {limit}")
    return value


@overload
def _str(data: dict[str, Any], key: str, path: str, *, required: Literal[True] = True) -> str: ...
@overload
def _str(data: dict[str, Any], key: str, path: str, *, required: Literal[False]) -> str | None: ...
def _str(data: dict[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _where(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str) or not value:
        raise _where(f"{path}.{key}", "must be a non-empty string")
    return value


def _bool(data: dict[str, Any], key: str, path: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _where(f"{path}.{key}", "must be true or false")
    return value


def parse_time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise _where(path, "must be an ISO 8601 date-time with an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _where(path, "must be an ISO 8601 date-time with an offset") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _where(path, "needs a UTC offset, e.g. 2026-11-21T10:00:00+08:00")
    if not 2000 <= moment.year <= 2100:  # checked before any conversion, which could overflow
        raise _where(path, "must be between the years 2000 and 2100")
    return moment


def _optional_time(data: dict[str, Any], key: str, path: str) -> datetime | None:
    return None if data.get(key) is None else parse_time(data[key], f"{path}.{key}")


def _scope(data: dict[str, Any], path: str, lines: tuple[Line, ...]) -> tuple[int, ...]:
    scope = data.get("scope") or {}
    scope = _obj(scope, f"{path}.scope")
    sets = {}
    for key in ("skus", "categories", "exclude_skus"):
        values = scope.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _where(f"{path}.scope.{key}", "must be a list of strings")
        sets[key] = set(values)
    unknown = set(scope) - {"skus", "categories", "exclude_skus"}
    if unknown:
        raise _where(f"{path}.scope", f"unknown field '{sorted(unknown)[0]}'")
    skus, categories, excluded = sets["skus"], sets["categories"], sets["exclude_skus"]
    if skus or categories:
        return tuple(
            line.index
            for line in lines
            if (line.sku in skus or line.category in categories) and line.sku not in excluded
        )
    if excluded:
        return tuple(line.index for line in lines if line.sku not in excluded)
    return tuple(range(len(lines)))  # every line (a line's index is its position)


def _percent(data: dict[str, Any], path: str) -> int:
    value = data.get("percent_off")
    if value is None:
        raise _where(f"{path}.percent_off", "is required")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise _where(f"{path}.percent_off", "must be an integer from 0 to 100")
    return value


def _promotion_params(kind: str, data: dict[str, Any], path: str) -> dict[str, Any]:
    if kind == "item_price":
        return {"price": _int(data, "price", path)}
    if kind == "item_percent":
        return {"percent_off": _percent(data, path)}
    if kind == "bundle":
        return {"count": _int(data, "count", path, minimum=1), "price": _int(data, "price", path)}
    if kind == "buy_x_get_y":
        return {"buy": _int(data, "buy", path, minimum=1), "get": _int(data, "get", path, minimum=1)}
    if kind == "threshold_off":
        if "tiers" in data and data["tiers"] is not None:
            tiers = data["tiers"]
            if not isinstance(tiers, list) or not tiers:
                raise _where(f"{path}.tiers", "must be a non-empty list")
            parsed = sorted(
                (
                    _int(_obj(t, f"{path}.tiers[{i}]"), "threshold", f"{path}.tiers[{i}]"),
                    _int(t, "off", f"{path}.tiers[{i}]"),
                )
                for i, t in enumerate(tiers)
            )
            return {"tiers": tuple(parsed)}
        if "every" in data:
            return {
                "every": _int(data, "every", path, minimum=1),
                "off": _int(data, "off", path),
                "cap": _int(data, "cap", path, required=False),
            }
        raise _where(path, "a threshold_off promotion needs 'tiers' or 'every'")
    if kind == "threshold_percent":
        return {"threshold": _int(data, "threshold", path), "percent_off": _percent(data, path)}
    return {"threshold": _int(data, "threshold", path, required=False, default=0)}  # free_delivery


def _coupon_params(kind: str, data: dict[str, Any], path: str) -> dict[str, Any]:
    if kind == "cash":
        return {"off": _int(data, "off", path)}
    if kind == "threshold":
        return {"threshold": _int(data, "threshold", path), "off": _int(data, "off", path)}
    if kind == "percent":
        return {
            "percent_off": _percent(data, path),
            "max_off": _int(data, "max_off", path, required=False),
            "threshold": _int(data, "threshold", path, required=False, default=0),
        }
    if kind == "exchange":
        return {"sku": _str(data, "sku", path), "price": _int(data, "price", path)}
    return {}


def _rules(
    items: Any, path: str, kinds: tuple[str, ...], lines: tuple[Line, ...], coupon: bool
) -> tuple[Rule, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _where(path, "must be a list")
    if len(items) > MAX_RULES:
        raise _where(path, f"must have at most {MAX_RULES} entries")
    rules, seen = [], set()
    campaign_lines = any(line.campaign for line in lines)  # once, not per rule
    for i, raw in enumerate(items):
        where = f"{path}[{i}]"
        data = _obj(raw, where)
        rule_id = _str(data, "id", where)
        if rule_id in seen:
            raise _where(f"{where}.id", f"'{rule_id}' is used twice")
        seen.add(rule_id)
        kind = _str(data, "kind", where)
        if kind not in kinds:
            raise _where(f"{where}.kind", f"unknown kind '{kind}' (expected one of {', '.join(kinds)})")
        params = _coupon_params(kind, data, where) if coupon else _promotion_params(kind, data, where)
        group = data.get("group")
        if group is not None and not isinstance(group, str):
            raise _where(f"{where}.group", "must be a string")
        campaigns = _bool(data, "campaigns", where) if coupon else False
        scope = _scope(data, where, lines)
        if campaign_lines and kind not in STAGE1:
            scope = tuple(i for i in scope if _admits(lines[i], coupon=coupon, campaigns=campaigns))
            if kind == "exchange" and not any(
                line.sku == params["sku"] and _admits(line, coupon=True, campaigns=campaigns)
                for line in lines
            ):
                params = {**params, "blocked": True}  # its SKU is only on lines it may not apply to
        rules.append(
            Rule(
                id=rule_id,
                kind=kind,
                index=i,
                lines=scope,
                starts_at=_optional_time(data, "starts_at", where),
                expires_at=_optional_time(data, "expires_at", where),
                params=params,
                group=group,
                exclusive=_bool(data, "exclusive", where),
                stackable=_bool(data, "stackable", where),
                exclusive_with_promotions=_bool(data, "exclusive_with_promotions", where),
                campaigns=campaigns,
            )
        )
    return tuple(rules)


def _admits(line: Line, *, coupon: bool, campaigns: bool) -> bool:
    """Whether a stage 2–4 rule may apply to ``line``: always to a line outside campaigns;
    to a campaign line only a coupon allowing campaigns where the campaign allows coupons."""
    if line.campaign is None:
        return True
    return coupon and campaigns and line.campaign.coupons


def _campaign(data: dict[str, Any], where: str) -> Campaign | None:
    raw = data.get("campaign")
    if raw is None:
        return None
    path = f"{where}.campaign"
    raw = _obj(raw, path)
    kind = _str(raw, "kind", path)
    if kind not in CAMPAIGN_KINDS:
        raise _where(f"{path}.kind", f"unknown kind '{kind}' (expected one of {', '.join(CAMPAIGN_KINDS)})")
    return Campaign(
        id=_str(raw, "id", path),
        kind=kind,
        price=_int(raw, "price", path),
        coupons=_bool(raw, "coupons", path),
    )


def _lines(items: Any) -> tuple[Line, ...]:
    if not isinstance(items, list) or not items:
        raise _where("lines", "must be a non-empty list")
    if len(items) > MAX_LINES:
        raise _where("lines", f"must have at most {MAX_LINES} lines")
    lines = []
    for i, raw in enumerate(items):
        where = f"lines[{i}]"
        data = _obj(raw, where)
        category = data.get("category")
        if category is not None and not isinstance(category, str):
            raise _where(f"{where}.category", "must be a string")
        lines.append(
            Line(
                index=i,
                sku=_str(data, "sku", where),
                quantity=_int(data, "quantity", where, minimum=1, maximum=MAX_QUANTITY),
                unit_price=_int(data, "unit_price", where),
                category=category,
                member_price=_int(data, "member_price", where, required=False),
                light_member_price=_int(data, "light_member_price", where, required=False),
                campaign=_campaign(data, where),
            )
        )
    return tuple(lines)


def parse(cart: Any, *, now: datetime | None = None) -> Cart:
    """Validate ``cart`` against the contract; raises :class:`InvalidCart` with one clear sentence."""
    data = _obj(cart, "cart")
    lines = _lines(data.get("lines"))
    when = parse_time(data["now"], "now") if data.get("now") is not None else now
    if when is None:
        raise _where("now", "is required when no current time is supplied")
    customer = _obj(data.get("customer") or {}, "customer")
    selected = data.get("selected_coupons")
    if selected is not None and (
        not isinstance(selected, list) or not all(isinstance(s, str) for s in selected)
    ):
        raise _where("selected_coupons", "must be null or a list of coupon ids")
    points = data.get("points")
    if points is not None:
        points = _obj(points, "points")
        points = {
            "balance": _int(points, "balance", "points"),
            "value_per_point": _int(points, "value_per_point", "points", minimum=1),
            "max_share_percent": _int(points, "max_share_percent", "points", maximum=100),
        }
    promotions = _rules(data.get("promotions"), "promotions", PROMOTION_KINDS, lines, coupon=False)
    taken = {"member_price", "light_member_price", *(r.id for r in promotions)}
    for line in lines:
        if line.campaign is not None and line.campaign.id in taken:
            raise _where(f"lines[{line.index}].campaign.id", f"'{line.campaign.id}' is also a promotion's id")
    return Cart(
        now=when,
        lines=lines,
        member=_bool(customer, "member", "customer"),
        light_member=_bool(customer, "light_member", "customer"),
        delivery_fee=_int(data, "delivery_fee", "cart", required=False, default=0),
        promotions=promotions,
        coupons=_rules(data.get("coupons"), "coupons", COUPON_KINDS, lines, coupon=True),
        selected=None if selected is None else tuple(selected),
        points=points,
    )
