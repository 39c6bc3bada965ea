"""Pricing engine benchmark (issue 3): the optimal search, in process.

- anchor: the django-oscar anchor basket — 20 lines / 50 units; 10% off category A;
  buy 2 get the cheapest free in category B; ¥20 off over ¥200; a 5% coupon.
- large: 50 lines, 20 promotions in 6 stack groups, 30 coupons (25 single-use,
  3 stackable, 2 free-delivery), a member with member prices.

Baselines in the same run: one plain evaluation of a fixed combination (the cost of
pricing without any search), on the anchor the brute-force oracle that checks the search's
answer, and django-oscar 4.2.1's offer engine on the same anchor basket
(``bench/oscar_anchor.py``, in its own process; ``pip install -e '.[bench]'``). Prints a
final JSON line; targets: the anchor at least 100× faster than django-oscar, the large
basket's optimal search within 40× of one plain evaluation of it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from shoplet.pricing import price  # noqa: E402
from shoplet.pricing.engine import Context  # noqa: E402
from shoplet.pricing.model import parse  # noqa: E402
from shoplet.pricing.search import Search  # noqa: E402

NOW = "2026-11-21T10:00:00+08:00"


def anchor_basket() -> dict:
    rng = random.Random(7)
    lines, units = [], 0
    for i in range(20):
        quantity = 3 if i < 10 else 2  # 10 × 3 + 10 × 2 = 50 units
        units += quantity
        lines.append(
            {
                "sku": f"sku{i}",
                "quantity": quantity,
                "unit_price": rng.randrange(500, 5000, 10),
                "category": "A" if i % 2 == 0 else "B",
            }
        )
    assert units == 50
    return {
        "now": NOW,
        "lines": lines,
        "promotions": [
            {"id": "a10", "kind": "item_percent", "percent_off": 10, "scope": {"categories": ["A"]}},
            {"id": "b2g1", "kind": "buy_x_get_y", "buy": 2, "get": 1, "scope": {"categories": ["B"]}},
            {"id": "200-20", "kind": "threshold_off", "tiers": [{"threshold": 20000, "off": 2000}]},
        ],
        "coupons": [{"id": "five", "kind": "percent", "percent_off": 5}],
    }


def large_basket() -> dict:
    rng = random.Random(11)
    categories = [f"cat{k}" for k in range(8)]
    lines = []
    for i in range(50):
        unit = rng.randrange(300, 12000, 10)
        lines.append(
            {
                "sku": f"sku{i}",
                "quantity": rng.randint(1, 3),
                "unit_price": unit,
                "category": categories[i % 8],
                "member_price": unit * 95 // 100 if i % 3 == 0 else None,
            }
        )
    kinds = ["bundle", "buy_x_get_y", "threshold_off", "threshold_percent", "threshold_off", "free_delivery"]
    promotions = []
    for k in range(20):
        group = f"g{k % 6}"
        scope = {"categories": rng.sample(categories, 2)} if k % 4 else {}
        kind = kinds[k % len(kinds)]
        rule = {"id": f"p{k}", "kind": kind, "group": group, "scope": scope}
        if kind == "bundle":
            rule.update(count=rng.randint(2, 4), price=rng.randrange(3000, 15000, 100))
        elif kind == "buy_x_get_y":
            rule.update(buy=rng.randint(2, 3), get=1)
        elif kind == "threshold_off":
            rule.update(
                tiers=[
                    {"threshold": t, "off": t // rng.randint(8, 12)}
                    for t in sorted(rng.sample(range(5000, 80000, 5000), 3))
                ]
            )
        elif kind == "threshold_percent":
            rule.update(threshold=rng.randrange(10000, 60000, 5000), percent_off=rng.randint(5, 15))
        else:
            rule.update(threshold=rng.randrange(5000, 40000, 5000))
        promotions.append(rule)
    coupons = []
    for k in range(25):
        kind = ["cash", "threshold", "percent"][k % 3]
        coupon = {"id": f"c{k}", "kind": kind, "expires_at": f"2026-12-{1 + k % 28:02d}T00:00:00+08:00"}
        if k % 5 == 0:
            coupon["scope"] = {"categories": rng.sample(categories, 3)}
        if kind == "cash":
            coupon["off"] = rng.randrange(500, 3000, 100)
        elif kind == "threshold":
            coupon.update(threshold=rng.randrange(10000, 90000, 5000), off=rng.randrange(1000, 8000, 500))
        else:
            coupon.update(percent_off=rng.randint(5, 20), max_off=rng.randrange(2000, 9000, 500))
        coupons.append(coupon)
    coupons += [{"id": f"s{k}", "kind": "cash", "off": 300 + 100 * k, "stackable": True} for k in range(3)]
    coupons += [{"id": f"fd{k}", "kind": "free_delivery"} for k in range(2)]
    return {
        "now": NOW,
        "lines": lines,
        "customer": {"member": True},
        "delivery_fee": 1200,
        "promotions": promotions,
        "coupons": coupons,
    }


def median_ms(fn, runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def plain_evaluation(cart: dict):
    parsed = parse(cart)
    ctx = Context(parsed, member=parsed.member, light_member=parsed.light_member)
    return lambda: Context(parsed, member=parsed.member, light_member=parsed.light_member).evaluate(
        list(ctx.promotions[:1]), []
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute or less)")
    args = parser.parse_args()
    runs = 200 if args.quick else 2000

    anchor, large = anchor_basket(), large_basket()
    from tests.pricing.oracle import brute_force

    parsed = parse(anchor)
    ctx = Context(parsed, member=False, light_member=False)
    oracle = brute_force(ctx)
    found = Search(ctx).run()
    agrees = found.key == oracle[0]

    result = {
        "anchor_median_ms": round(median_ms(lambda: price(anchor), runs), 4),
        "large_median_ms": round(median_ms(lambda: price(large), max(60, runs // 10)), 3),
        "anchor_plain_evaluation_ms": round(median_ms(plain_evaluation(anchor), runs), 4),
        "large_plain_evaluation_ms": round(median_ms(plain_evaluation(large), runs), 4),
        "anchor_brute_force_ms": round(median_ms(lambda: brute_force(ctx), max(20, runs // 10)), 3),
        "anchor_agrees_with_brute_force": agrees,
        "anchor_total": price(anchor)["total"],
        "large_total": price(large)["total"],
    }
    result["large_search_vs_plain"] = round(
        result["large_median_ms"] / result["large_plain_evaluation_ms"], 1
    )
    oscar = run_oscar(50 if args.quick else 300)
    result.update(oscar)
    speedup = (
        round(oscar["oscar_anchor_median_ms"] / result["anchor_median_ms"], 1)
        if "oscar_anchor_median_ms" in oscar
        else None
    )
    result["anchor_vs_oscar_speedup"] = speedup
    result["targets_met"] = (
        agrees and speedup is not None and speedup >= 100 and result["large_search_vs_plain"] <= 40
    )
    print(json.dumps(result))


def run_oscar(runs: int) -> dict:
    """django-oscar's offer engine on the same anchor basket, in its own process (it needs
    Django configured; ``pip install -e '.[bench]'``). Its median, or why there is none."""
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "oscar_anchor.py"), str(runs)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"oscar_error": "django-oscar took over 15 minutes"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        hint = " (pip install -e '.[bench]')" if "ModuleNotFoundError" in last else ""
        return {"oscar_error": last + hint}
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
