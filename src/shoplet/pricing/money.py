"""Exact integer money: round-half-up and largest-remainder allocation, in fen."""

from __future__ import annotations


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def percent_of(amount: int, percent: int) -> int:
    return round_half_up(amount * percent, 100)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` over ``weights`` in proportion, flooring each share and giving the
    remaining fen one by one to the largest fractional remainders (ties: earlier index).
    The shares sum to ``total`` exactly; a weight of 0 gets 0.
    """
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    left = total - sum(shares)
    if left:
        remainders = [total * w % whole for w in weights]
        # Largest remainder first; a stable sort keeps the earlier index first on ties
        # (``reverse`` keeps equal keys in their original order).
        order = sorted(range(len(weights)), key=remainders.__getitem__, reverse=True)
        for i in order[:left]:
            shares[i] += 1
    return shares
