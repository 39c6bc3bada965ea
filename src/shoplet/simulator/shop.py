"""The simulated shop: what its customers can do there, how they behave (:class:`Knobs`),
what a run did (:class:`Report`) and the clock the services see."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from shoplet.catalog.models import Product, ProductStatus, Sku
from shoplet.coupons.models import CouponTemplate
from shoplet.db import Database
from shoplet.inventory.models import LocationKind, StockLocation
from shoplet.lifecycle import Lifecycle
from shoplet.membership.agreements import CreditDecision, CreditProvider
from shoplet.membership.models import LightPlan, PlanStatus
from shoplet.scoping import owned, same_tenant
from shoplet.tenancy.models import Merchant, Role, Staff

HOSTS = (("alipay", 55), ("taobao", 20), ("tmall", 10), ("amap", 8), ("h5", 7))
SCENES = (
    ("qr_scan", 28),
    ("search", 20),
    ("share", 12),
    ("profile", 8),
    ("feed", 10),
    ("home_banner", 8),
    ("nearby", 10),
    ("message", 4),
)
PAGES = ("home", "product", "category", "coupons", "store", "cart", "member")
# Share of a day's visits by local hour: breakfast, lunch and evening peaks.
HOURS = (1, 0, 0, 0, 0, 1, 3, 8, 10, 6, 5, 7, 10, 8, 5, 4, 5, 6, 8, 9, 8, 6, 4, 2)
WEEKDAY = (0.9, 0.85, 0.9, 0.95, 1.1, 1.35, 1.3)  # Monday .. Sunday


@dataclass(frozen=True)
class Knobs:
    """How the simulated customers behave (shares are per active customer-day)."""

    retention_day1: float = 0.35  # chance to come back the day after arriving ...
    retention_decay: float = 0.55  # ... falling as (days since arrival) ** -decay
    retention_floor: float = 0.03
    pages: tuple[int, int] = (1, 10)  # page views per visit
    follow: float = 0.15
    unfollow: float = 0.01
    claim: float = 0.3
    order: float = 0.1
    pay: float = 0.88  # of orders placed; the others are cancelled or left to time out
    cancel: float = 0.5  # of the unpaid
    delivery: float = 0.25  # of orders at a store that delivers
    collect: float = 0.92  # of paid pickups and deliveries, handed over the same day
    refund: float = 0.05  # of paid orders, a day or two later
    verify_in_store: float = 0.06
    join_light: float = 0.02
    bind_guide: float = 0.12  # of new customers who arrive by QR or share
    items: tuple[int, int] = (1, 3)


@dataclass
class Report:
    """What a run did."""

    days: int = 0
    customers: int = 0
    customer_days: int = 0
    orders: int = 0
    paid: int = 0
    refunds: int = 0
    events: int = 0
    seconds: float = 0.0  # wall time of the simulated days (the stock-up before them excluded)
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass
class Shop:
    """What the simulated customers can do at this merchant: read once, before a run."""

    merchant_id: str
    zone: ZoneInfo
    stores: list[StockLocation]
    skus: list[tuple[str, int]]  # sku id, list price
    templates: list[str]
    plans: list[str]
    guides: list[str]
    clerks: dict[str, str]  # store id -> clerk id
    operator: str


@dataclass
class Visitor:
    """One simulated customer: when they arrived, how they come, how loyal they are."""

    number: int
    arrival: int  # day index
    host_app: str
    scene: str
    id: str | None = None
    loyalty: float = 1.0
    signed_in_until: datetime = datetime.min.replace(tzinfo=UTC)


class SimClock:
    """The clock the services see: set by the simulator, never read from the wall."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class PinnedCredit:
    """The sandbox credit bureau, answering with the score the simulator drew for each of its
    customers (so a seed gives the same light-membership decisions whatever the fresh ids);
    anyone else is scored by ``fallback``."""

    def __init__(self, fallback: CreditProvider) -> None:
        self.scores: dict[str, int] = {}
        self.fallback = fallback

    def assess(
        self, *, merchant_id: str, customer_id: str, tags: list[str], min_score: int
    ) -> CreditDecision:
        score = self.scores.get(customer_id)
        if score is None:
            return self.fallback.assess(
                merchant_id=merchant_id, customer_id=customer_id, tags=tags, min_score=min_score
            )
        return self.fallback.assess(
            merchant_id=merchant_id, customer_id=customer_id, tags=[f"credit:{score}"], min_score=min_score
        )


def weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p for p, _ in pairs], weights=[w for _, w in pairs])[0]


def load_shop(db: Database, merchant_id: str) -> Shop:
    with db.unit_of_work(write=False) as s:
        merchant = s.get_one(Merchant, merchant_id)
        stores = list(
            s.scalars(
                select(StockLocation)
                .where(owned(StockLocation, merchant_id), StockLocation.kind == LocationKind.STORE)
                .order_by(StockLocation.code)
            )
        )
        skus = [
            (sku.id, sku.list_price)
            for sku in s.scalars(
                select(Sku)
                .join(Product, same_tenant(Product, Sku) & (Product.id == Sku.product_id))
                .where(owned(Sku, merchant_id), Product.status == ProductStatus.ACTIVE)
                .order_by(Sku.code)
            )
        ]
        templates = list(
            s.scalars(
                select(CouponTemplate.id)
                .where(
                    owned(CouponTemplate, merchant_id),
                    CouponTemplate.status == Lifecycle.ACTIVE,
                    CouponTemplate.public_code.is_(None),
                )
                .order_by(CouponTemplate.name)
            )
        )
        plans = list(
            s.scalars(
                select(LightPlan.id)
                .where(owned(LightPlan, merchant_id), LightPlan.status == PlanStatus.ACTIVE)
                .order_by(LightPlan.name)
            )
        )
        staff = list(s.scalars(select(Staff).where(owned(Staff, merchant_id)).order_by(Staff.name)))
    clerks = {x.store_id: x.id for x in staff if x.role == Role.CLERK and x.store_id}
    admins = [x.id for x in staff if x.role in (Role.ADMIN, Role.OPERATOR)]
    return Shop(
        merchant_id=merchant_id,
        zone=ZoneInfo(merchant.timezone),
        stores=stores,
        skus=skus,
        templates=templates,
        plans=plans,
        guides=[x.id for x in staff if x.role == Role.GUIDE],
        clerks=clerks,
        operator=admins[0] if admins else "simulator",
    )
