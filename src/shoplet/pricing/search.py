"""The best combination: branch and bound over promotions, exact coupon choice per leaf."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from shoplet.pricing.engine import INF, Context, expiry_key
from shoplet.pricing.model import STAGE2, Rule
from shoplet.pricing.stages import (
    amount_discount,
    amount_rule,
    discount_bound,
    exchange_discount,
    exchange_line,
    quantity_rule,
)


def values_at(lines: tuple[int, ...]) -> Any:
    """A function giving a list's values at ``lines`` as a tuple (C speed: ``itemgetter``)."""
    if len(lines) > 1:
        return itemgetter(*lines)
    if lines:
        index = lines[0]
        return lambda values: (values[index],)
    return lambda values: ()


@dataclass(slots=True)
class Best:
    key: tuple[Any, ...] | None = None
    promotions: tuple[Rule, ...] = ()
    coupons: tuple[Rule, ...] = ()

    @property
    def total(self) -> float:
        return self.key[0] if self.key is not None else INF


class Search:
    """Finds the combination with the smallest :func:`~shoplet.pricing.engine.combination_key`.

    ``fixed`` is a coupon set the customer chose: then only promotions are searched.
    """

    def __init__(
        self, ctx: Context, fixed: tuple[Rule, ...] | None = None, seeds: list[tuple[Rule, ...]] | None = None
    ) -> None:
        self.ctx = ctx
        self.fixed = fixed
        self.seeds = seeds or []
        # (rule index, the state of its lines) -> its effect: see _apply
        self.effects: dict[tuple[int, Any], Any] = {}
        # Per goods coupon (by index): the running amounts of its lines.
        self.coupon_lines = {c.index: values_at(c.lines) for c in ctx.coupons}
        # Per promotion (by index): the values of its own lines in a state list, as one key,
        # and its stage (2, 3, or 0 for free delivery) with that function.
        self.lines_of = {r.index: values_at(r.lines) for r in ctx.promotions}
        self.stage_of = {
            r.index: (
                2 if r.kind in STAGE2 else 0 if r.kind == "free_delivery" else 3,
                self.lines_of[r.index],
            )
            for r in ctx.promotions
        }
        self.coupon_bounds: dict[int, int] = {}
        # (stage-3 rule index, what its scope holds) -> discount_bound: see _remaining_bound
        self.rule_bounds: dict[tuple[int, int], int] = {}
        self.best = Best()
        usable = [c for c, ok in zip(ctx.coupons, ctx.coupon_usable, strict=True) if ok]
        self.goods = [c for c in usable if c.kind != "free_delivery"]
        self.deliveries = sorted(
            (c for c in usable if c.kind == "free_delivery"), key=lambda c: (expiry_key([c]), c.index)
        )
        self.exchange_lines = {id(c): exchange_line(c, ctx.skus) for c in self.goods if c.kind == "exchange"}
        coupon_ubs = {id(c): ctx.upper_bound(c) for c in self.goods}
        if fixed is not None:
            self.coupon_ub = sum(
                coupon_ubs.get(id(c), ctx.upper_bound(c)) for c in fixed if c.kind != "free_delivery"
            )
            self.delivery_possible = any(c.kind == "free_delivery" for c in fixed)
        else:
            stackable = sum(coupon_ubs[id(c)] for c in self.goods if c.stackable)
            self.coupon_ub = max([stackable, *coupon_ubs.values()], default=0)
            self.delivery_possible = bool(self.deliveries)
        self.coupon_ubs = coupon_ubs
        # Per goods coupon, what _goods_options looks at: (coupon, bound, stackable,
        # exclusive with promotions, lines, its lines' values in a state or None for an
        # exchange coupon).
        self.goods_terms = [
            (
                c,
                coupon_ubs[id(c)],
                c.stackable,
                c.exclusive_with_promotions,
                c.lines,
                None if c.kind == "exchange" else self.coupon_lines[c.index],
            )
            for c in self.goods
        ]
        promotions = ctx.promotions
        self.position = {id(r): k for k, r in enumerate(promotions)}  # evaluation order
        self.exclusive = [r for r in promotions if r.exclusive]
        # Free-delivery rules last: they change no amounts, so where they stand in the
        # search changes no effect, and branching on them at the bottom of the tree instead
        # of in its middle multiplies only the leaves.
        self.rules = [r for r in promotions if not r.exclusive and r.kind != "free_delivery"] + [
            r for r in promotions if not r.exclusive and r.kind == "free_delivery"
        ]
        # A stage-2 rule's bound is what it takes with every unit free: its effect at the
        # root, which the search will want again (so it is computed through the cache).
        self.rule_ubs = [
            self._apply(r, list(ctx.start), [0] * ctx.n) if r.kind in STAGE2 else ctx.upper_bound(r)
            for r in self.rules
        ]
        self.has_fd_promo = [r.kind == "free_delivery" for r in self.rules]
        self.is_stage2 = [r.kind in STAGE2 for r in self.rules]
        # Lines any stage-2 rule from position k on may take units from.
        self.stage2_lines: list[tuple[int, ...]] = []
        union: set[int] = set()
        for rule in reversed(self.rules):
            if rule.kind in STAGE2:
                union |= set(rule.lines)
            self.stage2_lines.append(tuple(sorted(union)))
        self.stage2_lines.reverse()
        self.stage2_lines.append(())
        # Whether a later stage-2 rule could see different free units because this one ran.
        self.feeds_later = [
            r.kind in STAGE2 and bool(set(r.lines) & set(self.stage2_lines[k + 1]))
            for k, r in enumerate(self.rules)
        ]
        # The rules from each position on that can take something off or waive delivery:
        # (group, stage 2, bound, free delivery, what its scope held at the stage-1 amounts,
        # its lines' values in a state, rule).
        held = [ctx.eligible(r, ctx.start) for r in self.rules]
        entries = [
            (
                k,
                (
                    r.group,
                    self.is_stage2[k],
                    self.rule_ubs[k],
                    self.has_fd_promo[k],
                    held[k],
                    self.lines_of[r.index],
                    r,
                ),
            )
            for k, r in enumerate(self.rules)
            if self.rule_ubs[k] or self.has_fd_promo[k]
        ]
        self.suffix = [
            tuple(entry for k, entry in entries if k >= position) for position in range(len(self.rules) + 1)
        ]
        self.bound_coupons = list(fixed) if fixed is not None else self.goods
        self.coupon_terms = self._coupon_terms()

    # --- driver ---------------------------------------------------------------------
    def run(self) -> Best:
        ctx = self.ctx
        self._try(())
        greedy: dict[str | int, Rule] = {}
        for k, rule in enumerate(self.rules):  # the best-alone member of every group
            slot = rule.group if rule.group is not None else k
            if self.rule_ubs[k] > 0 and (
                slot not in greedy or self.rule_ubs[k] > self.rule_ubs[self.rules.index(greedy[slot])]
            ):
                greedy[slot] = rule
        self._try(tuple(r for r in self.rules if r in greedy.values()))
        for seed in self.seeds:
            self._try(seed)
        if not self.seeds:  # a seeded search starts from a good incumbent already
            self._improve()
        start = list(ctx.start)
        self._dfs(0, start, [0] * ctx.n, frozenset(), (), (), sum(start))
        for rule in self.exclusive:
            running, used = list(ctx.start), [0] * ctx.n
            effective = self._apply(rule, running, used)
            self._leaf(running, (rule,), (rule,) if effective else ())
        return self.best

    def _improve(self, passes: int = 1) -> None:
        """Better the incumbent before the tree search, one stack group at a time: try every
        other choice for the group (or none), keep what lowers the best key, and go round
        again while something changed. A better incumbent from the start prunes more of the
        tree (about 2.5 times fewer nodes on the large benchmark basket); the tree search
        still decides, so this never changes the answer."""
        slots: dict[str | int, list[Rule]] = {}
        for k, rule in enumerate(self.rules):
            if self.rule_ubs[k] > 0 or self.has_fd_promo[k]:
                slots.setdefault(rule.group if rule.group is not None else k, []).append(rule)
        current: dict[str | int, Rule | None] = {
            (r.group if r.group is not None else self.rules.index(r)): r
            for r in self.best.promotions
            if not r.exclusive and r in self.rules
        }
        for _ in range(passes):
            changed = False
            for slot, members in slots.items():
                for choice in (None, *members):
                    if current.get(slot) is choice:
                        continue
                    trial = {**current, slot: choice}
                    before = self.best.key
                    self._try(tuple(r for r in trial.values() if r is not None))
                    if self.best.key != before:
                        current, changed = trial, True
            if not changed:
                return

    def _try(self, promotions: tuple[Rule, ...]) -> None:
        """Evaluate one promotion set as a leaf: a good early incumbent prunes more."""
        if any(r.exclusive for r in promotions) and len(promotions) > 1:
            return
        groups = [r.group for r in promotions if r.group is not None]
        if len(groups) != len(set(groups)):
            return
        order = self.position
        if any(id(r) not in order for r in promotions):
            return
        running, used = list(self.ctx.start), [0] * self.ctx.n
        promotions = tuple(sorted(promotions, key=lambda r: order[id(r)]))
        effective = tuple(r for r in promotions if self._apply(r, running, used))
        self._leaf(running, promotions, effective)

    def _apply(self, rule: Rule, running: list[int], used: list[int]) -> int:
        """Apply one promotion in place; returns what it took off.

        A rule's effect depends only on the state of its own lines (the free units of a
        stage-2 rule's lines, the running amounts of a stage-3 rule's), and the search
        meets the same rule in the same state on many branches: each effect is computed
        once per search, as (line, units taken, amount taken) for the lines it touched."""
        stage, state_of = self.stage_of[rule.index]
        if stage == 2:
            key = (rule.index, state_of(used))
            effect = self.effects.get(key)
            if effect is None:
                effect = self.effects[key] = self._effect(rule, running, used)
            changes, amount = effect
            for i, units, share in changes:
                used[i] += units
                running[i] -= share
            return amount
        if stage == 3:
            key = (rule.index, state_of(running))
            effect = self.effects.get(key)
            if effect is None:
                effect = self.effects[key] = self._effect(rule, running, used)
            changes, amount = effect
            for i, share in changes:
                running[i] -= share
            return amount
        return 0  # free delivery: decided at the leaf

    def _effect(
        self, rule: Rule, running: list[int], used: list[int]
    ) -> tuple[tuple[tuple[int, ...], ...], int]:
        """A stage-2 rule's (line, units taken, amount taken) or a stage-3 rule's (line,
        amount taken) for the lines it touches, and its total."""
        ctx = self.ctx
        if rule.kind in STAGE2:
            shares, new_used, amount = quantity_rule(rule, ctx.order_of(rule), ctx.quantities, used, ctx.n)
            return tuple(
                (i, new_used[i] - used[i], shares[i])
                for i in rule.lines
                if new_used[i] != used[i] or shares[i]
            ), amount
        promoted, amount = amount_rule(rule, running)
        assert promoted is not None  # a promotion always applies, perhaps for 0
        return tuple((i, promoted[i]) for i in rule.lines if promoted[i]), amount

    def _remaining_bound(
        self, position: int, groups: frozenset[str], goods: int, running: list[int], used: list[int]
    ) -> tuple[int, bool]:
        """How much the rules from ``position`` on could still take off, at most, and whether
        one of them could waive delivery.

        Stage-2 rules together never take more than the units still free in their scopes
        are worth. A stage-3 rule is bounded at what its own scope holds now, the most it
        will hold when its turn comes (amounts only fall; the bound is monotone), which is
        below its bound at the stage-1 amounts only once its scope holds less than then. A
        rule whose group is shared across stages counts in both tables: still an upper bound.
        """
        best2: dict[str, int] = {}
        best3: dict[str, int] = {}
        free2 = free3 = 0
        delivery = False
        rule_bounds = self.rule_bounds
        for group, stage2, ub, free_delivery, held, lines_of, rule in self.suffix[position]:
            if group is not None and group in groups:
                continue
            if free_delivery:
                delivery = True
            if stage2:
                if group is None:
                    free2 += ub
                elif ub > best2.get(group, -1):
                    best2[group] = ub
                continue
            if ub:
                eligible = sum(lines_of(running))
                if eligible < held:
                    key = (rule.index, eligible)
                    bound = rule_bounds.get(key)
                    if bound is None:
                        bound = rule_bounds[key] = discount_bound(rule, eligible)
                    if bound < ub:
                        ub = bound
            if group is None:
                free3 += ub
            elif ub > best3.get(group, -1):
                best3[group] = ub
        stage2_bound = free2 + sum(best2.values())
        if stage2_bound:
            ctx = self.ctx
            available = sum(
                (ctx.quantities[i] - used[i]) * ctx.item_prices[i] for i in self.stage2_lines[position]
            )
            stage2_bound = min(stage2_bound, available)
        return stage2_bound + free3 + sum(best3.values()), delivery

    def _coupon_terms(self) -> list[tuple[int, int, int, int, int, bool]]:
        """(kind, ub, off or percent, cap, threshold, stacks) per goods coupon, for :meth:`_coupon_bound`."""
        terms = []
        for coupon in self.bound_coupons:
            p = coupon.params
            ub = self.coupon_ubs.get(id(coupon), 0)
            stacks = self.fixed is not None or coupon.stackable
            if coupon.kind == "percent":
                cap = p["max_off"] if p["max_off"] is not None else ub
                terms.append((1, ub, p["percent_off"], cap, p["threshold"], stacks))
            elif coupon.kind in ("cash", "threshold"):
                terms.append((0, ub, p["off"], 0, p.get("threshold") or 0, stacks))
            else:
                terms.append((2, ub, 0, 0, 0, stacks))
        return terms

    def _coupon_bound(self, goods: int) -> int:
        """The most goods coupons could take off once no scope holds more than ``goods``
        (a function of ``goods`` alone, which takes few values in one search: kept)."""
        bound = self.coupon_bounds.get(goods)
        if bound is None:
            bound = self.coupon_bounds[goods] = self._coupon_bound_at(goods)
        return bound

    def _coupon_bound_at(self, goods: int) -> int:
        best = stack = 0
        for kind, ub, value, cap, threshold, stacks in self.coupon_terms:
            if kind != 2:
                if goods < threshold or goods <= 0:
                    ub = 0
                elif kind == 0:
                    ub = min(ub, value, goods)
                else:
                    ub = min(ub, cap, (2 * goods * value + 100) // 200)
            if stacks:
                stack += ub
            if ub > best:
                best = ub
        return max(best, stack)

    def _dfs(
        self,
        position: int,
        running: list[int],
        used: list[int],
        groups: frozenset[str],
        chosen: tuple[Rule, ...],
        effective: tuple[Rule, ...],
        goods: int,
    ) -> None:
        remaining, fd_left = self._remaining_bound(position, groups, goods, running, used)
        fee = self.ctx.fee
        if fee and (fd_left or self.delivery_possible or any(r.kind == "free_delivery" for r in chosen)):
            fee = 0
        floor = goods - remaining + fee
        best = self.best.total
        # (the coupons' bound at ``goods`` is at most coupon_ub and at least 0)
        if floor - self.coupon_ub > best or (floor > best and floor - self._coupon_bound(goods) > best):
            return
        if position == len(self.rules):
            self._leaf(running, chosen, effective)
            return
        rule = self.rules[position]
        if rule.kind == "free_delivery":
            # The amounts are final here (free-delivery rules come last): including the rule
            # can only help if it waives a fee that no rule chosen waives already (they are
            # only ever chosen when they do); otherwise it lengthens the combination for
            # nothing, and may keep out a coupon exclusive with promotions.
            if (
                (rule.group is None or rule.group not in groups)
                and self.ctx.fee
                and self.ctx.eligible(rule, running) >= rule.params["threshold"]
                and not any(r.kind == "free_delivery" for r in chosen)
            ):
                self._dfs(
                    position + 1,
                    running,
                    used,
                    groups | {rule.group} if rule.group is not None else groups,
                    chosen + (rule,),
                    effective,
                    goods,
                )
                # Without it, a later free-delivery rule would do what it does with a higher
                # index (a worse key): only the combination without any is left to try.
                self._dfs(len(self.rules), running, used, groups, chosen, effective, goods)
                return
            self._dfs(position + 1, running, used, groups, chosen, effective, goods)
            return
        if rule.group is None or rule.group not in groups:
            # (only a stage-2 rule changes the units used; the lists below are never changed
            # in place once passed on, so an unchanged one is shared)
            new_running = list(running)
            new_used = list(used) if self.is_stage2[position] else used
            took = self._apply(rule, new_running, new_used)  # the goods total falls by exactly this
            # Taking nothing and changing nothing later, including it only closes its group and
            # lengthens the combination: the branch without it is at least as good.
            if took or self.feeds_later[position]:
                self._dfs(
                    position + 1,
                    new_running,
                    new_used,
                    groups | {rule.group} if rule.group is not None else groups,
                    chosen + (rule,),
                    effective + ((rule,) if took else ()),
                    goods - took,
                )
        self._dfs(position + 1, running, used, groups, chosen, effective, goods)

    # --- leaves: the best coupons for one promotion state ---------------------------
    def _leaf(self, running: list[int], chosen: tuple[Rule, ...], effective: tuple[Rule, ...]) -> None:
        ctx = self.ctx
        waived_by = None
        for rule in chosen:
            if rule.kind == "free_delivery" and ctx.eligible(rule, running) >= rule.params["threshold"]:
                waived_by = rule
                break
        if waived_by is not None and ctx.fee > 0:
            effective = tuple(sorted(effective + (waived_by,), key=lambda r: r.index))
        waived = waived_by is not None
        if self.fixed is not None:
            total = self._fixed_total(running, waived, bool(chosen))
            if total is not None:
                promo_part = self._promo_part(chosen, effective)
                coupons = self.fixed
                self._offer(
                    (total, len(coupons), expiry_key(list(coupons)), tuple(c.index for c in coupons))
                    + promo_part,
                    chosen,
                    coupons,
                )
            return
        goods_total = sum(running)
        delivery: tuple[Rule, ...] = ()
        fee = 0 if waived else ctx.fee
        if fee:
            options = [c for c in self.deliveries if not (chosen and c.exclusive_with_promotions)]
            if options:
                delivery, fee = (options[0],), 0
        # The discount an option needs to tie the best total; anything less cannot win.
        needed = goods_total + fee - self.best.total
        if needed > self.coupon_ub or needed > self._coupon_bound(goods_total):
            return
        promo_part = self._promo_part(chosen, effective)
        for discount, goods in self._goods_options(running, bool(chosen), needed):
            coupons = tuple(sorted(goods + delivery, key=lambda c: c.index)) if delivery else goods
            total = goods_total - discount + fee
            best = self.best.key
            if best is not None and (total, len(coupons)) > best[:2]:
                continue  # loses before the rest of its key is looked at
            key = (
                total,
                len(coupons),
                expiry_key(list(coupons)),
                tuple(c.index for c in coupons),
            ) + promo_part
            self._offer(key, chosen, coupons)
            needed = goods_total + fee - self.best.total

    @staticmethod
    def _promo_part(chosen: tuple[Rule, ...], effective: tuple[Rule, ...]) -> tuple[Any, ...]:
        """The promotions' part of a combination key (see ``combination_key``)."""
        return (
            tuple(sorted(r.index for r in effective)),
            len(chosen),
            tuple(sorted(r.index for r in chosen)),
        )

    def _offer(self, key: tuple[Any, ...], promotions: tuple[Rule, ...], coupons: tuple[Rule, ...]) -> None:
        if self.best.key is None or key < self.best.key:
            position = self.position
            self.best = Best(key, tuple(sorted(promotions, key=lambda r: position[id(r)])), coupons)

    def _goods_options(
        self, running: list[int], with_promotions: bool, needed: float
    ) -> Iterator[tuple[int, tuple[Rule, ...]]]:
        """(discount, coupons) for the valid goods-coupon sets at this state that could
        reach ``needed`` (sets that cannot are skipped, never wrongly kept out)."""
        if needed <= 0:
            yield 0, ()
        cache: dict[tuple[int, ...], int] = {}
        stackable, stack_bound = [], 0
        for coupon, ub, stacks, alone, lines, lines_of in self.goods_terms:
            if with_promotions and alone:
                continue
            if not stacks and ub < needed:
                continue  # alone it cannot reach ``needed`` (its bound holds everywhere), nor stack
            if lines_of is None:  # an exchange coupon
                discount = exchange_discount(
                    coupon, self.exchange_lines[id(coupon)], self.ctx.item_prices, running
                )
            else:
                eligible = cache.get(lines)
                if eligible is None:
                    eligible = cache[lines] = sum(lines_of(running))
                discount = amount_discount(coupon, eligible)
            if discount < 0:
                continue
            if discount >= needed:
                yield discount, (coupon,)
            if coupon.stackable:
                stackable.append(coupon)
                stack_bound += discount
        # Applied one after another, each stackable coupon takes at most what it takes alone.
        if len(stackable) >= 2 and stack_bound >= needed:
            lines = stackable[0].lines
            if all(c.lines == lines and c.kind != "exchange" for c in stackable):
                # One scope for all: each coupon sees what the ones before it left of the
                # same total, however they split it over the lines.
                eligible = cache.get(lines)
                if eligible is None:
                    eligible = sum(self.coupon_lines[stackable[0].index](running))
                yield from self._stacks_on(stackable, 0, eligible, (), 0)
            else:
                yield from self._stacks(stackable, 0, list(running), (), 0)

    def _stacks(
        self, coupons: list[Rule], k: int, running: list[int], taken: tuple[Rule, ...], discount: int
    ) -> Iterator[tuple[int, tuple[Rule, ...]]]:
        """Every subset of two or more stackable coupons, applied in input order."""
        if k == len(coupons):
            if len(taken) >= 2:
                yield discount, taken
            return
        coupon = coupons[k]
        after = list(running)
        amount = self._apply_coupon(coupon, after)
        if amount >= 0:
            yield from self._stacks(coupons, k + 1, after, taken + (coupon,), discount + amount)
        yield from self._stacks(coupons, k + 1, running, taken, discount)

    def _stacks_on(
        self, coupons: list[Rule], k: int, eligible: int, taken: tuple[Rule, ...], discount: int
    ) -> Iterator[tuple[int, tuple[Rule, ...]]]:
        """:meth:`_stacks` for coupons sharing one scope: only the scope's total matters."""
        if k == len(coupons):
            if len(taken) >= 2:
                yield discount, taken
            return
        coupon = coupons[k]
        amount = amount_discount(coupon, eligible)
        if amount >= 0:
            yield from self._stacks_on(
                coupons, k + 1, eligible - amount, taken + (coupon,), discount + amount
            )
        yield from self._stacks_on(coupons, k + 1, eligible, taken, discount)

    def _apply_coupon(self, coupon: Rule, running: list[int]) -> int:
        """Apply a goods coupon in place; -1 when it cannot apply."""
        if coupon.kind == "exchange":
            line = exchange_line(coupon, self.ctx.skus)
            if line < 0:
                return -1
            amount = exchange_discount(coupon, line, self.ctx.item_prices, running)
            running[line] -= amount
            return amount
        shares, amount = amount_rule(coupon, running)
        if shares is None:
            return -1
        for i, share in enumerate(shares):
            running[i] -= share
        return amount

    def _fixed_total(self, running: list[int], waived: bool, with_promotions: bool) -> int | None:
        assert self.fixed is not None
        if with_promotions and any(c.exclusive_with_promotions for c in self.fixed):
            return None
        after = list(running)
        for coupon in self.fixed:
            if coupon.kind == "free_delivery":
                waived = True
            elif self._apply_coupon(coupon, after) < 0:
                return None
        return sum(after) + (0 if waived else self.ctx.fee)
