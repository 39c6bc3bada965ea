"""A brute-force oracle: every subset of promotions and coupons, evaluated exactly."""

from itertools import chain, combinations

from shoplet.pricing.engine import Context, combination_key, valid_structure


def subsets(items):
    return chain.from_iterable(combinations(items, k) for k in range(len(items) + 1))


def brute_force(ctx: Context, fixed=None):
    """(key, promotions, coupons) of the best valid combination, or None."""
    now = ctx.cart.now
    coupons = [c for c in ctx.coupons if c.active(now)]
    coupon_sets = [fixed] if fixed is not None else list(subsets(coupons))
    best = None
    for promotions in subsets(ctx.promotions):
        for chosen in coupon_sets:
            promotions_list, coupons_list = list(promotions), sorted(chosen, key=lambda c: c.index)
            if not valid_structure(promotions_list, coupons_list):
                continue
            outcome = ctx.evaluate(promotions_list, coupons_list)
            if outcome is None:
                continue
            key = combination_key(outcome, promotions_list, coupons_list)
            if best is None or key < best[0]:
                best = (key, promotions, tuple(coupons_list))
    return best
