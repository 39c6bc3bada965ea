"""The pricing engine (the cart format is ``docs/pricing-contract.md``): a pure function from a cart to
its priced result. No I/O, no ORM, no clock: the time comes in the cart.

>>> price({"now": "2026-11-21T10:00:00+08:00",
...        "lines": [{"sku": "latte", "quantity": 2, "unit_price": 3200}]})["total"]
6400
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoplet.pricing.engine import Context, Outcome, valid_structure
from shoplet.pricing.model import Cart, InvalidCart, Rule, parse
from shoplet.pricing.result import build, coupon_reason, points_effect
from shoplet.pricing.search import Best, Search

__all__ = ["InvalidCart", "price", "price_cart"]


def price(cart: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Price ``cart`` (the contract's JSON as a dict). ``now`` is used when the cart has none.

    Raises :class:`InvalidCart` for input that breaks the contract.
    """
    return price_cart(parse(cart, now=now))


def _selection(ctx: Context, ids: tuple[str, ...]) -> tuple[tuple[Rule, ...] | None, str | None]:
    """The customer's chosen coupons, or why they cannot be used together."""
    by_id = {c.id: (c, ok) for c, ok in zip(ctx.coupons, ctx.coupon_usable, strict=True)}
    chosen = []
    for coupon_id in ids:
        if coupon_id not in by_id:
            return None, f"there is no coupon '{coupon_id}' on this order"
        coupon, usable = by_id[coupon_id]
        if not usable:
            return None, f"coupon '{coupon_id}' cannot be used: {coupon_reason(ctx, coupon)}"
        if coupon in chosen:
            return None, f"coupon '{coupon_id}' is chosen twice"
        chosen.append(coupon)
    chosen.sort(key=lambda c: c.index)
    if not valid_structure([], chosen):
        return None, "these coupons cannot be used together"
    return tuple(chosen), None


def _best(
    ctx: Context, selected: tuple[str, ...] | None, seeds: list[tuple[Rule, ...]] | None = None
) -> tuple[Best, str | None]:
    """(best combination, selection error) for this context; ``seeds`` are promotion sets
    worth trying first (they only speed the search up)."""
    error: str | None = None
    fixed: tuple[Rule, ...] | None = None
    if selected is not None:
        fixed, error = _selection(ctx, selected)
        if fixed is None:
            fixed = ()
    best = Search(ctx, fixed, seeds).run()
    if best.key is None:  # the chosen coupons fit no combination: use none, and say why
        error = error or "the chosen coupons cannot be used on this order"
        best = Search(ctx, ()).run()
    return best, error


def _final(ctx: Context, best: Best) -> tuple[Outcome, int]:
    """The winning combination evaluated exactly, and its total after points (stage 5)."""
    outcome = ctx.evaluate(list(best.promotions), list(best.coupons))
    assert outcome is not None and outcome.total == best.total
    points = points_effect(ctx, outcome)
    return outcome, outcome.total - (points["amount"] if points else 0)


def _best_total(cart: Cart, *, member: bool, light_member: bool, seed: tuple[Rule, ...]) -> int:
    ctx = Context(cart, member=member, light_member=light_member)
    best, _ = _best(ctx, cart.selected, [seed])
    if not cart.points:  # the search's total is the evaluated total (``_final`` asserts it)
        return int(best.total)
    return _final(ctx, best)[1]


def price_cart(cart: Cart) -> dict[str, Any]:
    """Price a parsed cart: the best combination, explained, with membership savings."""
    ctx = Context(cart, member=cart.member, light_member=cart.light_member)
    best, error = _best(ctx, cart.selected)
    outcome, total = _final(ctx, best)
    member_savings = light_savings = 0
    if cart.member or cart.light_member:
        member_savings = max(
            0, _best_total(cart, member=False, light_member=False, seed=best.promotions) - total
        )
    if cart.light_member:
        light_savings = max(
            0, _best_total(cart, member=cart.member, light_member=False, seed=best.promotions) - total
        )
    return build(
        ctx,
        outcome,
        best.coupons,
        member_savings=member_savings,
        light_member_savings=light_savings,
        selection_error=error,
    )
