"""A run of the simulator over one merchant (see :mod:`shoplet.simulator`)."""

from __future__ import annotations

import gc
import logging
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet import sweeps
from shoplet.analytics import rollups
from shoplet.coupons import claims as coupon_claims
from shoplet.coupons import redemption
from shoplet.coupons.models import Coupon, CouponStatus
from shoplet.customers import service as customers
from shoplet.customers import visits
from shoplet.customers.schemas import VisitIn
from shoplet.db import Database, utcnow
from shoplet.errors import ShopletError
from shoplet.guides import service as guides
from shoplet.guides.models import BindingSource
from shoplet.inventory import service as inventory
from shoplet.inventory.models import StockLevel, StockLocation
from shoplet.membership import light
from shoplet.orders import checkout, routing
from shoplet.orders import service as orders
from shoplet.orders.models import Fulfilment, OrderStatus
from shoplet.payments import refunds
from shoplet.payments import service as payments
from shoplet.runtime import Runtime
from shoplet.scoping import owned
from shoplet.simulator.shop import (
    HOSTS,
    HOURS,
    PAGES,
    SCENES,
    WEEKDAY,
    Knobs,
    PinnedCredit,
    Report,
    SimClock,
    Visitor,
    load_shop,
    weighted,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class Simulator:
    """One run over one merchant; see the module's docstring."""

    def __init__(
        self,
        rt: Runtime,
        clock: SimClock,
        merchant_id: str,
        *,
        seed: int,
        knobs: Knobs | None = None,
    ) -> None:
        self.rt, self.db, self.clock = rt, rt.db, clock
        # The credit bureau answers with the score drawn for each simulated customer.
        self.credit = rt.credit if isinstance(rt.credit, PinnedCredit) else PinnedCredit(rt.credit)
        rt.credit = self.credit
        self.rng = random.Random(seed)
        self.seed = seed
        self.knobs = knobs or Knobs()
        self.shop = load_shop(self.db, merchant_id)
        self.report = Report()
        self.later: dict[int, list[Callable[[], None]]] = {}
        self.first_day = utcnow().date()
        self._started = perf_counter()

    # --- the plan of a run -------------------------------------------------------------
    def run(
        self, *, days: int, customers: int, end: datetime, progress: Callable[[int], None] | None = None
    ) -> Report:
        tz = self.shop.zone
        last = end.astimezone(tz).date()
        first = last - timedelta(days=days - 1)
        weights = [WEEKDAY[(first + timedelta(days=d)).weekday()] for d in range(days)]
        arrivals = sorted(self.rng.choices(range(days), weights=weights, k=customers))
        people = [
            Visitor(
                number=n,
                arrival=day,
                host_app=weighted(self.rng, HOSTS),
                scene=weighted(self.rng, SCENES),
                loyalty=self.rng.uniform(0.3, 1.7),
            )
            for n, day in enumerate(arrivals)
        ]
        self.first_day = first
        self._stock_up(
            start=datetime.combine(first, time(6), tzinfo=tz).astimezone(UTC), units=customers * 2 + 100
        )
        # What lives for the whole run (modules, mappers, the shop) is set aside from the
        # garbage collector until the end: each full collection would walk it again (about
        # 40 ms each, several per simulated week).
        gc.collect()
        gc.freeze()
        try:
            self._play(people, first, days, weights, end, tz, progress)
            # The figures' daily rollups, once for the whole run (timed with it): run after every
            # simulated day, a day's late events (refunds, settlements) rebuilt earlier days again.
            self.report.events += rollups.run(self.db).events
            self.report.seconds = perf_counter() - self._started
        finally:
            gc.unfreeze()
        self.report.customers = sum(1 for p in people if p.id)
        return self.report

    def _play(
        self,
        people: list[Visitor],
        first: date,
        days: int,
        weights: list[float],
        end: datetime,
        tz: ZoneInfo,
        progress: Callable[[int], None] | None,
    ) -> None:
        started = self._started = perf_counter()
        for d in range(days):
            day = first + timedelta(days=d)
            midnight = datetime.combine(day, time(), tzinfo=tz)
            sessions = []
            for person in people:
                if self._comes(person, d, weights[d]):
                    hour = self.rng.choices(range(24), weights=HOURS)[0]
                    moment = midnight + timedelta(hours=hour, seconds=self.rng.randrange(3600))
                    sessions.append((moment.astimezone(UTC), person))
            sessions.sort(key=lambda x: (x[0], x[1].number))
            for moment, person in sessions:
                if moment > end:
                    continue
                self._session(person, moment, new=person.arrival == d)
            for action in self.later.pop(d, []):
                action()
            self._end_of_day(min(midnight.astimezone(UTC) + timedelta(days=1) - timedelta(seconds=1), end))
            self.report.days += 1
            self.report.seconds = perf_counter() - started
            if progress:
                progress(1)

    def _comes(self, person: Visitor, d: int, weekday: float) -> bool:
        if d < person.arrival:
            return False
        if d == person.arrival:
            return True
        k = self.knobs
        since = d - person.arrival
        chance = (
            max(k.retention_floor, k.retention_day1 * since ** (-k.retention_decay))
            * person.loyalty
            * weekday
        )
        return self.rng.random() < min(chance, 0.95)

    def _refused(self, error: ShopletError) -> None:
        self.report.refused[error.code] = self.report.refused.get(error.code, 0) + 1

    def _at(self, moment: datetime) -> datetime:
        self.clock.now = moment
        return moment

    # --- one customer's visit ----------------------------------------------------------
    def _session(self, person: Visitor, start: datetime, *, new: bool) -> None:
        k, rng, m = self.knobs, self.rng, self.shop.merchant_id
        self.report.customer_days += 1
        now = self._at(start)
        scene = person.scene if new else weighted(rng, SCENES)
        with self.db.unit_of_work() as s:
            if person.id is None or person.signed_in_until <= now:
                # The mini program signs in silently when it has no live session.
                customer = customers.resolve_customer(
                    s,
                    merchant_id=m,
                    host_app=person.host_app,
                    host_user_id=f"sim-{self.seed}-{person.number}",
                    phone=None,
                    now=now,
                )
                if person.id is None:
                    person.id = customer.id
                    self.credit.scores[customer.id] = rng.randrange(300, 1000)
                record, _token = customers.open_session(
                    s,
                    merchant_id=m,
                    customer_id=customer.id,
                    host_app=person.host_app,
                    scene=scene,
                    days=self.rt.settings.customer_session_days,
                    now=now,
                )
                person.signed_in_until = record.expires_at
            views = [  # generated valid: built without validation
                VisitIn.model_construct(
                    id=None,
                    page=rng.choice(PAGES),
                    scene=None,
                    store_id=None,
                    at=now + timedelta(seconds=20 * n),
                )
                for n in range(rng.randint(*k.pages))
            ]
            visits.record_visits(
                s,
                merchant_id=m,
                customer_id=person.id,
                host_app=person.host_app,
                scene=scene,
                views=views,
                now=now + timedelta(seconds=20 * len(views)),
            )
            if rng.random() < (k.follow if new else k.follow / 10):
                customers.follow(s, merchant_id=m, customer_id=person.id, host_app=person.host_app, now=now)
            elif rng.random() < k.unfollow:
                customers.unfollow(s, merchant_id=m, customer_id=person.id, now=now)
        customer_id = person.id
        now += timedelta(seconds=20 * len(views) + 30)
        if new and self.shop.guides and scene in ("qr_scan", "share") and rng.random() < k.bind_guide:
            self._try(
                lambda s: guides.bind(
                    s,
                    merchant_id=m,
                    customer_id=customer_id,
                    guide_id=rng.choice(self.shop.guides),
                    source=BindingSource.SCAN,
                    by="simulator",
                    now=self._at(now),
                )
            )
        if self.shop.templates and rng.random() < k.claim:
            self._claim(customer_id, rng.choice(self.shop.templates), self._at(now + timedelta(seconds=10)))
        if self.shop.plans and rng.random() < k.join_light:
            self._join(customer_id, rng.choice(self.shop.plans), self._at(now + timedelta(seconds=20)))
        if self.shop.stores and self.shop.skus and rng.random() < k.order:
            self._order(person, scene, now + timedelta(minutes=1))
        if rng.random() < k.verify_in_store:
            self._verify(customer_id, now + timedelta(minutes=5))

    def _try(self, work: Callable[[Session], T]) -> T | None:
        try:
            with self.db.unit_of_work() as s:
                return work(s)
        except ShopletError as error:
            self._refused(error)
            return None

    def _claim(self, customer_id: str, template_id: str, now: datetime) -> None:
        try:
            coupon_claims.claim_for_customer(
                self.db,
                self.rt.coupon_gate,
                merchant_id=self.shop.merchant_id,
                customer_id=customer_id,
                scope=f"customer:{customer_id}",
                template_id=template_id,
                idempotency_key=None,
                now=now,
            )
        except ShopletError as error:
            self._refused(error)

    def _join(self, customer_id: str, plan_id: str, now: datetime) -> None:
        try:
            light.enrol(
                self.db,
                credit=self.rt.credit,
                agreements=self.rt.agreements,
                merchant_id=self.shop.merchant_id,
                customer_id=customer_id,
                plan_id=plan_id,
                auto_renew=self.rng.random() < 0.6,
                now=now,
            )
        except ShopletError as error:
            self._refused(error)

    def _verify(self, customer_id: str, now: datetime) -> None:
        m = self.shop.merchant_id
        with self.db.read_once() as connection:  # what the customer's app shows: one read
            code = connection.scalar(
                select(Coupon.code)
                .where(
                    owned(Coupon, m),
                    Coupon.customer_id == customer_id,
                    Coupon.status == CouponStatus.AVAILABLE,
                )
                .order_by(Coupon.claimed_at, Coupon.code)
                .limit(1)
            )
        if code is None or not self.shop.clerks:
            return
        store_id = self.rng.choice(sorted(self.shop.clerks))
        self._try(
            lambda s: redemption.verify(
                s,
                merchant_id=m,
                code=code,
                store_id=store_id,
                staff_id=self.shop.clerks[store_id],
                now=self._at(now),
            )
        )

    def _order(self, person: Visitor, scene: str, now: datetime) -> None:
        k, rng, m = self.knobs, self.rng, self.shop.merchant_id
        customer_id = str(person.id)
        store = rng.choice(self.shop.stores)
        items = rng.sample(self.shop.skus, min(len(self.shop.skus), rng.randint(*k.items)))
        request = None
        if routing.settings_of(store).delivery_radius_m and rng.random() < k.delivery:
            request = self._delivery_request(store, now)

        def place(s):
            return checkout.checkout(
                s,
                merchant_id=m,
                customer_id=customer_id,
                location_id=store.id,
                items=[(sku, rng.randint(1, 2)) for sku, _ in items],
                pricer=self.rt.pricer,
                host_app=person.host_app,
                scene=scene,
                note="",
                timeout=self.rt.unpaid_timeout,
                now=self._at(now),
                fulfilment=request,
            ).order.id

        order_id = self._try(place)
        if order_id is None:
            return
        self.report.orders += 1
        if rng.random() >= k.pay:
            if rng.random() < k.cancel:
                self._try(
                    lambda s: orders.cancel(
                        s,
                        merchant_id=m,
                        order_id=order_id,
                        reason="cancelled_by_customer",
                        now=self._at(now + timedelta(minutes=2)),
                        customer_id=customer_id,
                    )
                )
            return
        if not self._pay(order_id, customer_id, now + timedelta(minutes=1)):
            return
        self.report.paid += 1
        if rng.random() < k.collect:
            self._hand_over(order_id, store.id, now + timedelta(minutes=rng.randint(10, 50)))
        if rng.random() < k.refund:
            when = now + timedelta(days=rng.randint(1, 2), minutes=rng.randint(0, 120))
            day = (when.astimezone(self.shop.zone).date() - self.first_day).days
            self.later.setdefault(day, []).append(lambda: self._refund(order_id, when))

    def _delivery_request(self, store: StockLocation, now: datetime) -> routing.Request | None:
        with self.db.unit_of_work(write=False) as s:
            free = [x for x in routing.slots(s, store=store, now=now) if x["remaining"] > 0]
        if not free:
            return None
        address = {
            "name": "Sim",
            "phone": "13800000000",
            "address": "Nearby",
            "latitude": float(store.latitude or 0) + 0.002,
            "longitude": float(store.longitude or 0) + 0.002,
        }
        return routing.Request(mode="delivery", slot_start=free[0]["start"], address=address)

    def _pay(self, order_id: str, customer_id: str, now: datetime) -> bool:
        m, sandbox = self.shop.merchant_id, self.rt.sandbox
        if sandbox is None:
            return False
        self._at(now)
        try:
            with self.db.unit_of_work() as s:
                payment = payments.open_payment(
                    s, merchant_id=m, order_id=order_id, customer_id=customer_id, provider="sandbox", now=now
                )
                payment_id = payment.id
            payment = payments.attach_trade(
                self.db,
                sandbox,
                merchant_id=m,
                payment_id=payment_id,
                notify_url=self.rt.notify_url("sandbox"),
            )
            sandbox.buyer_pays(str(payment.provider_trade_no))
            paid = payments.reconcile(self.db, sandbox, merchant_id=m, payment_id=payment_id, now=now)
        except ShopletError as error:
            self._refused(error)
            return False
        return paid.status == "paid"

    def _hand_over(self, order_id: str, store_id: str, now: datetime) -> None:
        m = self.shop.merchant_id
        clerk = self.shop.clerks.get(store_id, self.shop.operator)
        with self.db.read_once() as connection:
            parts = connection.execute(
                select(Fulfilment.location_id, Fulfilment.pickup_code).where(
                    owned(Fulfilment, m), Fulfilment.order_id == order_id
                )
            ).all()
        for location_id, pickup_code in parts:
            if pickup_code:
                self._pick_up(location_id, pickup_code, clerk, now)
        if any(not pickup_code for _, pickup_code in parts):
            self._try(
                lambda s: orders.fulfil(s, merchant_id=m, order_id=order_id, by=clerk, now=self._at(now))
            )

    def _pick_up(self, store_id: str, code: str, clerk: str, now: datetime) -> None:
        def work(s: Session) -> object:
            return orders.verify_pickup(
                s,
                merchant_id=self.shop.merchant_id,
                store_id=store_id,
                code=code,
                by=clerk,
                now=self._at(now),
            )

        self._try(work)

    def _refund(self, order_id: str, now: datetime) -> None:
        m = self.shop.merchant_id
        with self.db.unit_of_work(write=False) as s:
            order = orders.get_order(s, m, order_id)
            refundable = order.status in (OrderStatus.PAID, OrderStatus.FULFILLED)
        if not refundable:
            return
        try:
            refunds.refund_order(
                self.db,
                self.rt.providers,
                merchant_id=m,
                scope=f"staff:{self.shop.operator}",
                order_id=order_id,
                items=None,
                restock=True,
                reason="customer changed their mind",
                clerk_store_id=None,
                idempotency_key=None,
                payload={},
                now=self._at(now),
            )
            self.report.refunds += 1
        except ShopletError as error:
            self._refused(error)

    # --- the shop's own rhythm ---------------------------------------------------------
    def _stock_up(self, *, start: datetime, units: int) -> None:
        """Enough stock everywhere for the whole run (a delivery from the roaster)."""
        m = self.shop.merchant_id
        with self.db.unit_of_work() as s:
            for store in self.shop.stores:
                have = {
                    lvl.sku_id: lvl.on_hand
                    for lvl in s.scalars(
                        select(StockLevel).where(owned(StockLevel, m), StockLevel.location_id == store.id)
                    )
                }
                for sku, _price in self.shop.skus:
                    if have.get(sku, 0) < units:
                        inventory.adjust(
                            s,
                            merchant_id=m,
                            location_id=store.id,
                            sku_id=sku,
                            delta=units - have.get(sku, 0),
                            reason="receipt",
                            now=start,
                        )

    def _end_of_day(self, moment: datetime) -> None:
        self._at(moment)
        sweeps.cancel_unpaid_orders(self.rt, now=moment)
        sweeps.coupon_lifecycle(self.rt, now=moment)
        sweeps.membership_lifecycle(self.rt, now=moment)
        sweeps.fulfilment_lifecycle(self.rt, now=moment)
        sweeps.dispatch_outbox(self.rt, now=moment)


def _accept(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The simulator's outbound HTTP: payments are settled by reconciliation, so the
    provider's notifications (and any webhook) are acknowledged without a server."""
    return 200


def simulate(
    rt: Runtime,
    merchant_id: str,
    *,
    days: int = 30,
    customers: int = 5000,
    seed: int = 1,
    end: datetime | None = None,
    knobs: Knobs | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Play ``days`` days of customer traffic ending at ``end`` (default: now) for a merchant.

    ``rt`` must be a runtime whose clock is a :class:`SimClock` (see :func:`runtime_for`)."""
    if not isinstance(rt.clock, SimClock):
        raise TypeError("simulate needs a runtime built by runtime_for (its clock is the simulator's)")
    end = end or utcnow()
    return Simulator(rt, rt.clock, merchant_id, seed=seed, knobs=knobs).run(
        days=days, customers=customers, end=end, progress=progress
    )


def runtime_for(settings, db: Database | None = None) -> Runtime:
    """A runtime for simulating: the sandbox on, the clock the simulator's."""
    clock = SimClock(utcnow())
    settings = settings.model_copy(update={"sandbox_payments": True})
    return Runtime(settings, clock=clock, db=db, post=_accept)
