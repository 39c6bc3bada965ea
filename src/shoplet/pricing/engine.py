"""Evaluating one combination exactly, and finding the best one by branch and bound.

The search walks the stage 2–3 promotions in input order, deciding for each whether it
joins the combination (at most one per stack group; an exclusive promotion only alone).
At each leaf the best coupon set for that state is chosen exactly. A branch is cut when
a lower bound on any total below it is *strictly* above the best total found, so ties
are still settled by the full tie-break key.

The bound is sound because running amounts and free units only shrink as rules apply,
and each rule's discount is bounded by a function monotone in them: stage-2 discounts
are themselves monotone in the free units (taking a unit out of a price-sorted list
lowers every position), stage-3 and coupon discounts in the eligible amount — except
tiers configured with a higher threshold taking less off, which are bounded by their
monotone envelope (:func:`~shoplet.pricing.stages.discount_bound`). So a rule's bound
at the stage-1 amounts with every unit free holds anywhere in the tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shoplet.pricing.model import STAGE2, STAGE3, Cart, Rule
from shoplet.pricing.stages import (
    amount_discount,
    amount_rule,
    discount_bound,
    exchange_discount,
    exchange_line,
    quantity_rule,
    stage1,
)

INF = math.inf


@dataclass(slots=True)
class Effect:
    """What one rule did: its amount and what it took off each line."""

    rule: Rule
    amount: int
    lines: list[int]
    delivery_waived: int = 0


@dataclass(slots=True)
class Outcome:
    total: int
    goods: int
    waived: bool
    effects: list[Effect] = field(default_factory=list)
    running: list[int] = field(default_factory=list)


class Context:
    """Everything about one cart that does not depend on the combination."""

    def __init__(self, cart: Cart, *, member: bool, light_member: bool) -> None:
        self.cart = cart
        lines = cart.lines
        self.n = len(lines)
        self.quantities = [line.quantity for line in lines]
        self.skus = [line.sku for line in lines]
        now = cart.now
        stage1_rules = tuple(
            r for r in cart.promotions if r.kind in ("item_price", "item_percent") and r.active(now)
        )
        self.item_prices, self.winners = stage1(lines, stage1_rules, member, light_member)
        self.start = [p * q for p, q in zip(self.item_prices, self.quantities, strict=True)]
        self.order = sorted(((i, p) for i, p in enumerate(self.item_prices)), key=lambda x: (-x[1], x[0]))
        self._orders: dict[int, list[tuple[int, int]]] = {}  # see order_of
        self.fee = cart.delivery_fee
        # Stage 2 rules always run before stage 3 ones; input order within each stage.
        active = [r for r in cart.promotions if r.kind in STAGE2 + STAGE3 and r.active(now)]
        self.promotions = [r for r in active if r.kind in STAGE2] + [r for r in active if r.kind in STAGE3]
        self.coupons = list(cart.coupons)
        self.coupon_usable = [self._usable_alone(c) for c in self.coupons]

    # --- single rules -------------------------------------------------------------
    def order_of(self, rule: Rule) -> list[tuple[int, int]]:
        """A stage-2 rule's lines as ``(line, item price)``, most expensive first (ties:
        line order), as :func:`~shoplet.pricing.stages.quantity_rule` takes them."""
        order = self._orders.get(id(rule))
        if order is None:
            scope = set(rule.lines)
            order = self._orders[id(rule)] = [(i, p) for i, p in self.order if i in scope]
        return order

    def eligible(self, rule: Rule, running: list[int]) -> int:
        return sum(map(running.__getitem__, rule.lines))

    def _usable_alone(self, coupon: Rule) -> bool:
        if not coupon.active(self.cart.now):
            return False
        if coupon.kind == "free_delivery":
            return True
        if coupon.kind == "exchange":
            return exchange_line(coupon, self.skus) >= 0
        return amount_discount(coupon, self.eligible(coupon, self.start)) >= 0

    def upper_bound(self, rule: Rule) -> int:
        """The most ``rule`` can take off anywhere in the search (see the module docstring)."""
        if rule.kind in STAGE2:
            return quantity_rule(rule, self.order_of(rule), self.quantities, [0] * self.n, self.n)[2]
        if rule.kind == "free_delivery":
            return 0
        if rule.kind == "exchange":
            line = exchange_line(rule, self.skus)
            return exchange_discount(rule, line, self.item_prices, self.start) if line >= 0 else 0
        return discount_bound(rule, self.eligible(rule, self.start))

    # --- one combination, exactly ---------------------------------------------------
    def evaluate(self, promotions: list[Rule], coupons: list[Rule]) -> Outcome | None:
        """Apply the rules stage by stage; ``None`` when a coupon cannot apply."""
        running, used = list(self.start), [0] * self.n
        effects: list[Effect] = []
        for rule in promotions:
            if rule.kind in STAGE2:
                shares, used, amount = quantity_rule(rule, self.order_of(rule), self.quantities, used, self.n)
            elif rule.kind == "free_delivery":
                continue
            else:
                promoted, amount = amount_rule(rule, running)
                assert promoted is not None  # a promotion always applies, perhaps for 0
                shares = promoted
            self._take(running, shares)
            effects.append(Effect(rule, amount, shares))
        waived = False
        for rule in promotions:
            if (
                rule.kind == "free_delivery"
                and not waived
                and self.eligible(rule, running) >= rule.params["threshold"]
            ):
                waived = True
                effects.append(Effect(rule, 0, [0] * self.n, delivery_waived=self.fee))
        for coupon in coupons:
            if coupon.kind == "free_delivery":
                effects.append(Effect(coupon, 0, [0] * self.n, delivery_waived=0 if waived else self.fee))
                waived = True
                continue
            if coupon.kind == "exchange":
                line = exchange_line(coupon, self.skus)
                if line < 0:
                    return None
                amount = exchange_discount(coupon, line, self.item_prices, running)
                shares = [0] * self.n
                shares[line] = amount
            else:
                applied, amount = amount_rule(coupon, running)
                if applied is None:
                    return None
                shares = applied
            self._take(running, shares)
            effects.append(Effect(coupon, amount, shares))
        goods = sum(running)
        return Outcome(
            total=goods + (0 if waived else self.fee),
            goods=goods,
            waived=waived,
            effects=effects,
            running=running,
        )

    @staticmethod
    def _take(running: list[int], shares: list[int]) -> None:
        for i, share in enumerate(shares):
            if share:
                running[i] -= share


def valid_structure(promotions: list[Rule], coupons: list[Rule]) -> bool:
    """The contract's rules for a combination, independent of the cart's amounts."""
    groups = [r.group for r in promotions if r.group is not None]
    if len(groups) != len(set(groups)):
        return False
    if any(r.exclusive for r in promotions) and len(promotions) > 1:
        return False
    goods = [c for c in coupons if c.kind != "free_delivery"]
    if len(goods) > 1 and not all(c.stackable for c in goods):
        return False
    if sum(1 for c in coupons if c.kind == "free_delivery") > 1:
        return False
    return not (promotions and any(c.exclusive_with_promotions for c in coupons))


def expiry_key(coupons: list[Rule]) -> tuple[float, ...]:
    return tuple(sorted(c.expires_at.timestamp() if c.expires_at else INF for c in coupons))


def combination_key(outcome: Outcome, promotions: list[Rule], coupons: list[Rule]) -> tuple[Any, ...]:
    """The order of preference: lowest total; fewer coupons; coupons expiring sooner; earliest ids in
    input order (coupons, then the promotions that took something off, then all chosen)."""
    chosen = {id(p) for p in promotions}
    effective = tuple(
        sorted(
            e.rule.index
            for e in outcome.effects
            if id(e.rule) in chosen and (e.amount > 0 or e.delivery_waived > 0)
        )
    )
    return (
        outcome.total,
        len(coupons),
        expiry_key(coupons),
        tuple(c.index for c in coupons),
        effective,
        len(promotions),
        tuple(sorted(p.index for p in promotions)),
    )
