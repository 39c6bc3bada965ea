"""One function per rule kind: given the running state, what the rule takes off each line.

The search and the final evaluation both go through these functions, so the totals the
search compares are exactly the totals the result reports.
"""

from __future__ import annotations

from shoplet.pricing.model import Line, Rule
from shoplet.pricing.money import allocate, percent_of


def stage1(
    lines: tuple[Line, ...], promotions: tuple[Rule, ...], member: bool, light_member: bool
) -> tuple[list[int], list[tuple[str, str]]]:
    """Item price per unit and, per line, the (id, kind) of the rule that set it.

    Candidates in order: list price, member price, light-member price, the line's campaign
    price, then item-level promotions in input order; the lowest wins, the earliest on a
    tie. They never stack.
    """
    prices, winners = [], []
    for line in lines:
        best, winner = line.unit_price, ("", "")
        if member and line.member_price is not None and line.member_price < best:
            best, winner = line.member_price, ("member_price", "member_price")
        if light_member and line.light_member_price is not None and line.light_member_price < best:
            best, winner = line.light_member_price, ("light_member_price", "member_price")
        campaign = line.campaign
        if campaign is not None and campaign.price < best:
            best, winner = campaign.price, (campaign.id, campaign.kind)
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


def quantity_rule(
    rule: Rule, order: list[tuple[int, int]], quantities: list[int], used: list[int], line_count: int
) -> tuple[list[int], list[int], int]:
    """A stage-2 rule (bundle, buy X get Y) on the units not yet used by an earlier one.

    ``order`` is the rule's lines as ``(line, item price)``, most expensive first (ties:
    line order; ``Context.order_of``). The free units, in that order, form consecutive
    groups of the rule's size (an incomplete last group takes nothing); a bundle takes
    what a group costs over the bundle price, buy X get Y the cheapest Y units of the
    group. Returns (discount per line, units used per line after this rule, total).
    """
    params = rule.params
    bundle = rule.kind == "bundle"
    size = params["count"] if bundle else params["buy"] + params["get"]
    bundle_price = params["price"] if bundle else 0
    free = 0 if bundle else params["get"]
    weights = [0] * line_count
    new_used = list(used)
    total = 0
    members: list[tuple[int, int, int]] = []  # the group being filled: (line, price, units)
    filled = 0
    for li, price in order:
        count = quantities[li] - used[li]
        while count > 0:
            if filled == 0 and count >= size:
                # Whole groups inside this line's free units, all alike.
                times = count // size
                discount = max(0, price * size - bundle_price) if bundle else free * price
                new_used[li] += size * times
                if discount:
                    weights[li] += price * size * times
                    total += discount * times
                count -= times * size
                continue
            take = min(count, size - filled)
            members.append((li, price, take))
            filled += take
            count -= take
            if filled < size:
                break
            if bundle:
                discount = max(0, sum(p * n for _, p, n in members) - bundle_price)
            else:
                discount, left = 0, free
                for _, p, n in reversed(members):
                    taken = min(left, n)
                    discount += taken * p
                    left -= taken
                    if not left:
                        break
            for i, p, n in members:
                new_used[i] += n
                if discount:
                    weights[i] += p * n
            total += discount
            members, filled = [], 0
    if total:
        # Split over the rule's own lines: a line outside them weighs 0 and would get 0
        # (a weight of 0 never takes one of the remaining fen), so the shares are the same.
        lines = rule.lines
        for i, share in zip(lines, allocate(total, [weights[i] for i in lines]), strict=True):
            weights[i] = share
    return weights, new_used, total


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
    eligible = sum(map(running.__getitem__, rule.lines))
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
    if rule.params.get("blocked"):  # the SKU is only on campaign lines the coupon may not touch
        return -1
    try:
        return skus.index(rule.params["sku"])
    except ValueError:
        return -1


def exchange_discount(rule: Rule, line: int, item_prices: list[int], running: list[int]) -> int:
    """One unit of the SKU at the coupon's price: never below 0, never above the line's amount."""
    price: int = rule.params["price"]
    return max(0, min(item_prices[line] - price, running[line]))
