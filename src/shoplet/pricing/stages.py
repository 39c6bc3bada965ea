"""One function per rule kind: given the running state, what the rule takes off each line.

The search and the final evaluation both go through these functions, so the totals the
search compares are exactly the totals the result reports.
"""

from __future__ import annotations

from collections.abc import Iterator

from shoplet.pricing.model import Line, Rule
from shoplet.pricing.money import allocate, percent_of


def stage1(
    lines: tuple[Line, ...], promotions: tuple[Rule, ...], member: bool, light_member: bool
) -> tuple[list[int], list[tuple[str, str]]]:
    """Item price per unit and, per line, the (id, kind) of the rule that set it.

    Candidates in order: list price, member price, light-member price, then item-level
    promotions in input order; the lowest wins, the earliest on a tie. They never stack.
    """
    prices, winners = [], []
    for line in lines:
        best, winner = line.unit_price, ("", "")
        if member and line.member_price is not None and line.member_price < best:
            best, winner = line.member_price, ("member_price", "member_price")
        if light_member and line.light_member_price is not None and line.light_member_price < best:
            best, winner = line.light_member_price, ("light_member_price", "member_price")
        for rule in promotions:
            if line.index not in rule.lines:
                continue
            if rule.kind == "item_price":
                price = rule.params["price"]
            else:
                price = line.unit_price - percent_of(line.unit_price, rule.params["percent_off"])
            if price < best:
                best, winner = price, (rule.id, rule.kind)
        prices.append(best)
        winners.append(winner)
    return prices, winners


def _groups(
    sequence: list[tuple[int, int, int]], size: int
) -> Iterator[tuple[int, list[tuple[int, int, int]]]]:
    """Consecutive full groups of ``size`` units from runs ``(line, price, count)``.

    Yields ``(times, members)``: ``times`` identical groups made of ``members`` (a list of
    ``(line, price, count)``). Whole groups inside one long run come out in bulk.
    """
    members: list[tuple[int, int, int]] = []
    filled = 0
    for line, price, count in sequence:
        while count:
            if filled == 0 and count >= size:
                times = count // size
                yield times, [(line, price, size)]
                count -= times * size
                continue
            take = min(count, size - filled)
            members.append((line, price, take))
            filled += take
            count -= take
            if filled == size:
                yield 1, members
                members, filled = [], 0


def quantity_rule(
    rule: Rule, order: list[tuple[int, int]], quantities: list[int], used: list[int], line_count: int
) -> tuple[list[int], list[int], int]:
    """A stage-2 rule (bundle, buy X get Y) on the units not yet used by an earlier one.

    ``order`` is every line as ``(line, item price)``, most expensive first (ties: line
    order). Returns (discount per line, units used per line after this rule, total).
    """
    scope = set(rule.lines)
    sequence = [
        (li, price, quantities[li] - used[li])
        for li, price in order
        if li in scope and quantities[li] > used[li]
    ]
    bundle = rule.kind == "bundle"
    size = rule.params["count"] if bundle else rule.params["buy"] + rule.params["get"]
    free = 0 if bundle else rule.params["get"]
    weights = [0] * line_count
    new_used = list(used)
    total = 0
    for times, members in _groups(sequence, size):
        group_sum = sum(price * count for _, price, count in members)
        if bundle:
            discount = max(0, group_sum - rule.params["price"])
        else:
            discount, left = 0, free
            for _, price, count in reversed(members):
                take = min(left, count)
                discount += take * price
                left -= take
                if not left:
                    break
        for li, price, count in members:
            new_used[li] += count * times
            if discount:
                weights[li] += price * count * times
        total += discount * times
    return (allocate(total, weights) if total else weights), new_used, total


def amount_discount(rule: Rule, eligible: int) -> int:
    """What a stage-3 promotion or a cash/threshold/percent coupon takes off ``eligible``;
    -1 when a coupon's condition fails (that combination is invalid)."""
    kind, p = rule.kind, rule.params
    if kind == "threshold_off":
        if "tiers" in p:
            off: int = 0
            for threshold, tier_off in p["tiers"]:
                if threshold <= eligible:
                    off = tier_off
            return min(off, eligible)
        off = p["off"] * (eligible // p["every"])
        cap: int | None = p["cap"]
        if cap is not None:
            off = min(off, cap)
        return min(off, eligible)
    if kind == "threshold_percent":
        return percent_of(eligible, p["percent_off"]) if eligible >= p["threshold"] else 0
    # coupons: a coupon that cannot apply makes its combination invalid
    if eligible <= 0:
        return -1
    if kind == "cash":
        cash: int = p["off"]
        return min(cash, eligible)
    if kind == "threshold":
        return min(p["off"], eligible) if eligible >= p["threshold"] else -1
    if kind == "percent":
        if eligible < p["threshold"]:
            return -1
        off = percent_of(eligible, p["percent_off"])
        if p["max_off"] is not None:
            off = min(off, p["max_off"])
        return min(off, eligible)
    raise AssertionError(kind)


def discount_bound(rule: Rule, eligible: int) -> int:
    """A monotone upper bound of :func:`amount_discount` for every amount up to ``eligible``.

    Equal to it for every kind except tiers configured with a higher threshold taking
    less off: there the bound is the largest ``off`` of any tier within reach.
    """
    if rule.kind == "threshold_off" and "tiers" in rule.params:
        reachable = [off for threshold, off in rule.params["tiers"] if threshold <= eligible]
        return min(max(reachable, default=0), eligible)
    return max(0, amount_discount(rule, eligible))


def amount_rule(rule: Rule, running: list[int]) -> tuple[list[int] | None, int]:
    """A stage-3 promotion or a goods coupon on the running amounts: (per line, total).
    ``None`` per line means the coupon cannot apply here."""
    eligible = sum(running[i] for i in rule.lines)
    discount = amount_discount(rule, eligible)
    if discount < 0:
        return None, 0
    shares = [0] * len(running)
    if discount:
        split = allocate(discount, [running[i] for i in rule.lines])
        for i, share in zip(rule.lines, split, strict=True):
            shares[i] = share
    return shares, discount


def exchange_line(rule: Rule, skus: list[str]) -> int:
    try:
        return skus.index(rule.params["sku"])
    except ValueError:
        return -1


def exchange_discount(rule: Rule, line: int, item_prices: list[int], running: list[int]) -> int:
    """One unit of the SKU at the coupon's price: never below 0, never above the line's amount."""
    price: int = rule.params["price"]
    return max(0, min(item_prices[line] - price, running[line]))
