"""Turning the winning combination into the contract's output, with reasons for coupons."""

from __future__ import annotations

from typing import Any

from shoplet.pricing.engine import Context, Effect, Outcome
from shoplet.pricing.model import Rule
from shoplet.pricing.money import allocate
from shoplet.pricing.stages import exchange_line

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def coupon_reason(ctx: Context, coupon: Rule) -> str | None:
    """Why a coupon cannot be used on this cart, in words a customer reads (None: it can)."""
    now = ctx.cart.now
    if coupon.expires_at is not None and now >= coupon.expires_at:
        day = coupon.expires_at.astimezone(now.tzinfo)
        return f"expired on {day.day} {MONTHS[day.month - 1]}"
    if coupon.starts_at is not None and now < coupon.starts_at:
        day = coupon.starts_at.astimezone(now.tzinfo)
        return f"valid from {day.day} {MONTHS[day.month - 1]}"
    if coupon.kind == "free_delivery":
        return None
    if coupon.kind == "exchange":
        return None if exchange_line(coupon, ctx.skus) >= 0 else "not valid for these items"
    eligible = ctx.eligible(coupon, ctx.start)
    if not coupon.lines or eligible <= 0:
        return "not valid for these items"
    threshold = coupon.params.get("threshold") or 0
    if eligible < threshold:
        return f"{yuan(threshold - eligible)} short of the {yuan(threshold)} threshold"
    return None


def stage1_effects(ctx: Context) -> list[dict[str, Any]]:
    """Item-level savings grouped under the rule that won each line (member prices first)."""
    by_rule: dict[str, dict[str, Any]] = {}
    for i, (rule_id, kind) in enumerate(ctx.winners):
        if not rule_id:
            continue
        saving = (ctx.cart.lines[i].unit_price - ctx.item_prices[i]) * ctx.quantities[i]
        entry = by_rule.setdefault(rule_id, {"id": rule_id, "kind": kind, "amount": 0, "lines": [0] * ctx.n})
        entry["amount"] += saving
        entry["lines"][i] += saving
    order = {"member_price": -3, "light_member_price": -2}
    order.update({line.campaign.id: -1 for line in ctx.cart.lines if line.campaign is not None})
    order.update({r.id: r.index for r in ctx.cart.promotions})
    return sorted(by_rule.values(), key=lambda e: order.get(e["id"], 0))


def points_effect(ctx: Context, outcome: Outcome) -> dict[str, Any] | None:
    """Stage 5: whole points pay at most the allowed share of the goods after coupons."""
    points = ctx.cart.points
    if not points or outcome.goods <= 0:
        return None
    cap = outcome.goods * points["max_share_percent"] // 100
    used = min(points["balance"], cap // points["value_per_point"])
    amount = used * points["value_per_point"]
    if amount <= 0:
        return None
    shares = allocate(amount, outcome.running)
    return {"id": "points", "kind": "points", "amount": amount, "lines": shares, "points_used": used}


def effect_entry(effect: Effect) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": effect.rule.id,
        "kind": effect.rule.kind,
        "amount": effect.amount,
        "lines": list(effect.lines),
    }
    if effect.rule.kind == "free_delivery":
        entry["delivery_waived"] = effect.delivery_waived
    return entry


def build(
    ctx: Context,
    outcome: Outcome,
    coupons: tuple[Rule, ...],
    *,
    member_savings: int,
    light_member_savings: int,
    selection_error: str | None,
) -> dict[str, Any]:
    lines = ctx.cart.lines
    applied = stage1_effects(ctx)
    for effect in outcome.effects:
        if (
            effect.amount > 0
            or effect.delivery_waived > 0
            or (effect.rule.kind == "free_delivery" and effect.rule in coupons)
        ):
            applied.append(effect_entry(effect))
    points = points_effect(ctx, outcome)
    if points:
        applied.append(points)
    line_discounts = [sum(entry["lines"][i] for entry in applied) for i in range(ctx.n)]
    subtotal = sum(line.unit_price * line.quantity for line in lines)
    discount = sum(entry["amount"] for entry in applied)
    delivery = 0 if outcome.waived else ctx.fee
    chosen = {c.id for c in coupons}
    return {
        "subtotal": subtotal,
        "discount": discount,
        "delivery_fee": delivery,
        "total": subtotal - discount + delivery,
        "member_savings": member_savings,
        "light_member_savings": light_member_savings,
        "applied": applied,
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "subtotal": line.unit_price * line.quantity,
                "discount": line_discounts[i],
                "total": line.unit_price * line.quantity - line_discounts[i],
            }
            for i, line in enumerate(lines)
        ],
        "coupons": [
            {
                "id": c.id,
                "usable": usable,
                "applied": c.id in chosen,
                "reason": None if usable else (coupon_reason(ctx, c) or "cannot be used on this order"),
            }
            for c, usable in zip(ctx.coupons, ctx.coupon_usable, strict=True)
        ],
        "selection_error": selection_error,
    }
