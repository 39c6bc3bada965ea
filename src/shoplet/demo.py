"""The demo merchant: a coffee chain with a flagship warehouse, three stores, ~20 products,
four running promotions, coupons of every kind (in the coupon centre, behind a public code,
a batch of unique codes), member tiers with benefits, a light-membership plan, a shopping
guide with her regulars, and five customers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplet.campaigns import flash
from shoplet.campaigns import groups as group_campaigns
from shoplet.campaigns import plans as periodic
from shoplet.campaigns.schemas import GroupCampaignIn, PlanIn
from shoplet.catalog import service as catalog
from shoplet.catalog.models import Sku
from shoplet.coupons import issuing
from shoplet.coupons import service as coupons
from shoplet.coupons.codes import display
from shoplet.coupons.models import CouponCode
from shoplet.coupons.schemas import CouponTemplateIn
from shoplet.customers import service as customers
from shoplet.guides import commissions, groups
from shoplet.guides import service as guides
from shoplet.inventory import service as inventory
from shoplet.inventory.models import LocationKind, StockLocation
from shoplet.membership import light, points, tiers
from shoplet.membership.schemas import LightPlanIn, LoyaltySettingsIn, TierIn
from shoplet.messaging import posts
from shoplet.messaging import service as messages
from shoplet.promotions import service as promotions
from shoplet.scoping import owned
from shoplet.tenancy import service as tenancy
from shoplet.tenancy import signin
from shoplet.tenancy.models import Merchant, Role, Staff

DEMO_NAME = "Lumen Coffee (demo)"

LOCATIONS = [
    dict(
        kind="warehouse",
        code="WH-FLAGSHIP",
        name="Flagship warehouse",
        operation="direct",
        address="88 Jiangchang Rd, Jing'an, Shanghai",
        latitude=31.2915,
        longitude=121.4566,
        fulfilment={"express_fee": 800, "ship_within_hours": 24, "transit_days": 1},
    ),
    dict(
        kind="store",
        code="S-PEOPLES-SQ",
        name="Lumen People's Square",
        operation="direct",
        address="100 Nanjing W Rd, Huangpu, Shanghai",
        latitude=31.2337,
        longitude=121.4721,
        opening_hours={d: ["07:30", "21:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        fulfilment={"delivery_radius_m": 3000, "delivery_fee": 500, "slot_minutes": 60, "slot_capacity": 8},
    ),
    dict(
        kind="store",
        code="S-XINTIANDI",
        name="Lumen Xintiandi",
        operation="direct",
        address="181 Taicang Rd, Huangpu, Shanghai",
        latitude=31.2196,
        longitude=121.4751,
        opening_hours={d: ["08:00", "22:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    ),
    dict(
        kind="store",
        code="S-JINGAN",
        name="Lumen Jing'an Temple (franchise)",
        operation="franchise",
        address="1686 Nanjing W Rd, Jing'an, Shanghai",
        latitude=31.2239,
        longitude=121.4460,
        opening_hours={d: ["08:00", "20:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    ),
]

CATEGORIES = [
    ("coffee", "Coffee"),
    ("tea", "Tea"),
    ("bakery", "Bakery"),
    ("beans", "Coffee beans"),
    ("merch", "Cups & merchandise"),
]

# (category, title, tags, [(sku code, sku name, list price, member price)])
PRODUCTS: list[tuple[str, str, list[str], list[tuple[str, str, int, int | None]]]] = [
    ("coffee", "Latte", ["bestseller"], [("LATTE-T", "Tall", 3200, 2900), ("LATTE-G", "Grande", 3600, 3300)]),
    ("coffee", "Americano", [], [("AMER-T", "Tall", 2600, 2400), ("AMER-G", "Grande", 3000, 2700)]),
    ("coffee", "Flat white", [], [("FLAT-T", "Tall", 3400, 3100)]),
    ("coffee", "Cappuccino", [], [("CAPP-T", "Tall", 3200, 2900)]),
    ("coffee", "Mocha", [], [("MOCHA-T", "Tall", 3600, 3300)]),
    ("coffee", "Cold brew", ["summer"], [("COLD-G", "Grande", 3800, 3400)]),
    ("coffee", "Coconut latte", ["new"], [("COCO-G", "Grande", 3800, 3500)]),
    ("tea", "Jasmine green tea", [], [("JASMINE", "Grande", 2400, None)]),
    ("tea", "Oolong milk tea", [], [("OOLONG", "Grande", 2800, 2500)]),
    ("tea", "Matcha latte", [], [("MATCHA", "Grande", 3400, 3100)]),
    ("bakery", "Butter croissant", [], [("CROISSANT", "", 1800, 1600)]),
    ("bakery", "Almond croissant", [], [("ALMOND-CR", "", 2200, 2000)]),
    ("bakery", "Cheesecake slice", [], [("CHEESECAKE", "", 2800, None)]),
    ("bakery", "Ham & cheese sandwich", [], [("SANDWICH", "", 3200, 2900)]),
    ("beans", "House blend beans 250 g", ["gift"], [("BEANS-HOUSE", "250 g", 8800, 7900)]),
    ("beans", "Yunnan single origin 250 g", [], [("BEANS-YUNNAN", "250 g", 9800, 8800)]),
    ("beans", "Ethiopia Yirgacheffe 250 g", [], [("BEANS-ETH", "250 g", 12800, 11800)]),
    ("merch", "Ceramic mug", [], [("MUG", "350 ml", 6800, None)]),
    ("merch", "Tumbler", ["gift"], [("TUMBLER", "500 ml", 12800, 11500)]),
    ("merch", "Drip bags, box of 10", [], [("DRIP-10", "", 5800, 5200)]),
]

# (name, kind, rule parameters, category code or None, stack group)
PROMOTIONS: list[tuple[str, str, dict[str, Any], str | None, str | None]] = [
    ("Morning pastry 20% off", "item_percent", {"percent_off": 20}, "bakery", None),
    ("Tea: buy 2, get 1 free", "buy_x_get_y", {"buy": 2, "get": 1}, "tea", None),
    (
        "¥20 off orders over ¥150",
        "threshold_off",
        {"tiers": [{"threshold": 15000, "off": 2000}, {"threshold": 30000, "off": 5000}]},
        None,
        "order",
    ),
    (
        "10% off beans over ¥200",
        "threshold_percent",
        {"threshold": 20000, "percent_off": 10},
        "beans",
        "order",
    ),
]

# Coupon templates, one of each kind; "where" says how customers get them.
COUPONS = [
    dict(
        name="¥5 off any order",
        kind="cash",
        off=500,
        validity="relative",
        valid_days=30,
        total_stock=1000,
        per_customer_limit=1,
    ),  # in the coupon centre (领券)
    dict(
        name="¥15 off ¥99",
        kind="threshold",
        off=1500,
        threshold=9900,
        validity="relative",
        valid_days=14,
        public_code="LUMEN15",
        per_customer_limit=1,
    ),  # a public discount code (优惠码)
    dict(
        name="12% off beans, up to ¥30",
        kind="percent",
        percent_off=12,
        max_off=3000,
        validity="relative",
        valid_days=60,
        per_customer_limit=1,
    ),  # a batch of unique codes, handed out in store
    dict(
        name="A croissant for ¥1",
        kind="exchange",
        price=100,
        sku="CROISSANT",
        validity="relative",
        valid_days=7,
        per_customer_limit=2,
    ),  # the gold tier's pack
    dict(
        name="Free delivery", kind="free_delivery", validity="relative", valid_days=30
    ),  # the light plan's pack
]
CODE_BATCH = 50

CUSTOMERS = [
    ("Li Wei", "13800000001", [("alipay", "2088000000000001")]),
    ("Zhang Min", "13800000002", [("alipay", "2088000000000002"), ("taobao", "tb_zhangmin")]),
    ("Wang Fang", "13800000003", [("amap", "amap_wangfang")]),
    ("Chen Jie", "13800000004", [("weibo", "wb_chenjie")]),
    ("Liu Yang", "13800000005", [("h5", "h5_liuyang")]),
]


@dataclass
class DemoCredentials:
    merchant_id: str
    admin_key: str
    clerk_key: str
    clerk_store: str
    guide_key: str
    customer_id: str
    customer_token: str
    created: bool
    public_code: str = ""
    batch_code: str = ""
    console_logins: tuple[tuple[str, str, str], ...] = ()  # (role, login, password)


# The demo staff's console sign-ins (a demo's passwords are public by nature).
CONSOLE_LOGINS = (
    ("admin", "owner", "owner-demo-2026"),
    ("operator", "operator", "operator-demo-2026"),
    ("clerk", "clerk", "clerk-demo-2026"),
    ("guide", "guide", "guide-demo-2026"),
)


def _console_logins(session: Session, merchant_id: str, now: datetime) -> None:
    """Give the demo's staff (and an owner, created when missing) their console sign-ins."""
    staff = list(session.scalars(select(Staff).where(owned(Staff, merchant_id)).order_by(Staff.created_at)))
    if not any(x.role == Role.ADMIN for x in staff):
        staff.append(
            tenancy.create_staff(
                session,
                merchant_id=merchant_id,
                name="Owner Wu",
                role="admin",
                store_id=None,
                phone=None,
                now=now,
            )
        )
    for role, login, password in CONSOLE_LOGINS:
        member = next(x for x in staff if x.role == role)
        if member.login is None or member.password_hash is None:
            signin.set_credentials(
                session, merchant_id=merchant_id, staff_id=member.id, login=login, password=password, now=now
            )


def _stock_for(location: StockLocation, code: str) -> int:
    if location.kind == LocationKind.WAREHOUSE:
        return (
            0
            if code.startswith(
                ("LATTE", "AMER", "FLAT", "CAPP", "MOCHA", "COLD", "COCO", "JASMINE", "OOLONG", "MATCHA")
            )
            else 500
        )
    return {"S-PEOPLES-SQ": 40, "S-XINTIANDI": 25, "S-JINGAN": 8}[location.code]


def _create(session: Session, now: datetime) -> Merchant:
    merchant, _key, _token = tenancy.create_merchant(
        session, name=DEMO_NAME, timezone="Asia/Shanghai", now=now
    )
    locations = [
        inventory.create_location(session, merchant_id=merchant.id, now=now, **loc) for loc in LOCATIONS
    ]
    categories = {
        code: catalog.create_category(
            session, merchant_id=merchant.id, code=code, name=name, parent_id=None, now=now
        )
        for code, name in CATEGORIES
    }
    for category, title, tags, skus in PRODUCTS:
        _, created = catalog.create_product(
            session,
            merchant_id=merchant.id,
            title=title,
            description="",
            category_id=categories[category].id,
            tags=tags,
            now=now,
            skus=[dict(code=c, name=n, list_price=lp, member_price=mp) for c, n, lp, mp in skus],
        )
        for sku in created:
            for location in locations:
                quantity = _stock_for(location, sku.code)
                if quantity:
                    inventory.adjust(
                        session,
                        merchant_id=merchant.id,
                        location_id=location.id,
                        sku_id=sku.id,
                        delta=quantity,
                        reason="opening stock",
                        now=now,
                    )
    store = locations[1]
    tenancy.create_staff(
        session,
        merchant_id=merchant.id,
        name="Operator Sun",
        role="operator",
        store_id=None,
        phone=None,
        now=now,
    )
    tenancy.create_staff(
        session,
        merchant_id=merchant.id,
        name="Clerk Zhao",
        role="clerk",
        store_id=store.id,
        phone=None,
        now=now,
    )
    guide = tenancy.create_staff(
        session,
        merchant_id=merchant.id,
        name="Guide Qian",
        role="guide",
        store_id=store.id,
        phone=None,
        now=now,
    )
    commissions.set_rule(
        session, merchant_id=merchant.id, scope="merchant", target_id=None, rate_bp=300, now=now
    )
    commissions.set_rule(
        session, merchant_id=merchant.id, scope="guide", target_id=guide.id, rate_bp=500, now=now
    )
    for name, kind, params, promoted, group in PROMOTIONS:
        scope = {"categories": [categories[promoted].id]} if promoted else {}
        promotions.create(
            session,
            merchant_id=merchant.id,
            now=now,
            fields=dict(
                name=name,
                kind=kind,
                params=params,
                scope=scope,
                stack_group=group,
                exclusive=False,
                host_apps=[],
                store_ids=[],
                starts_at=None,
                ends_at=None,
            ),
        )
    sku_ids = {sku.code: sku.id for sku in session.scalars(select(Sku).where(owned(Sku, merchant.id)))}
    _loyalty(session, merchant.id, categories["beans"].id, sku_ids, now)
    _campaigns(session, merchant.id, sku_ids, now)
    regulars = groups.create(
        session, merchant_id=merchant.id, guide_id=guide.id, name="Morning regulars", now=now
    )
    for name, phone, identities in CUSTOMERS:
        tags = ["credit:760"] if name == CUSTOMERS[0][0] else []  # the light plan asks for 600
        customer = customers.create_customer(
            session,
            merchant_id=merchant.id,
            name=name,
            phone=phone,
            tags=tags,
            identities=identities,
            now=now,
        )
        if customer.name == CUSTOMERS[0][0]:  # served in store by Guide Qian, and one of her regulars
            guides.bind(
                session,
                merchant_id=merchant.id,
                customer_id=customer.id,
                guide_id=guide.id,
                source="store",
                by="demo",
                now=now,
            )
            groups.add_member(
                session,
                merchant_id=merchant.id,
                guide_id=guide.id,
                group_id=regulars.id,
                customer_id=customer.id,
                now=now,
            )
    return merchant


def _loyalty(
    session: Session, merchant_id: str, beans_category: str, skus: dict[str, str], now: datetime
) -> None:
    """Coupons of every kind, tiers with benefits and a light-membership plan."""
    made = []
    for spec in COUPONS:
        fields: dict[str, Any] = dict(spec)
        if fields["kind"] == "exchange":
            fields["sku"] = skus[fields["sku"]]
        if fields["kind"] == "percent":
            fields["scope"] = {"categories": [beans_category]}
        made.append(
            coupons.create_from_request(
                session, merchant_id=merchant_id, body=CouponTemplateIn(**fields), now=now
            )
        )
    issuing.generate_codes(
        session, merchant_id=merchant_id, template_id=made[2].id, count=CODE_BATCH, now=now
    )
    points.set_settings(
        session,
        merchant_id=merchant_id,
        now=now,
        values=LoyaltySettingsIn(
            points_per_yuan=1, growth_per_yuan=1, value_per_point=1, max_share_percent=30
        ).model_dump(),
    )
    for tier in (
        TierIn(code="silver", name="Silver", threshold=200, points_multiplier=120),
        TierIn(
            code="gold",
            name="Gold",
            threshold=1000,
            points_multiplier=150,
            free_delivery=True,
            coupon_template_ids=[made[3].id],
        ),
    ):
        tiers.create_tier(session, merchant_id=merchant_id, fields=tier.model_dump(), now=now)
    light.create_plan(
        session,
        merchant_id=merchant_id,
        now=now,
        fields=LightPlanIn(
            name="Coffee pass",
            fee=1990,
            period_days=7,
            percent_off=10,
            min_credit_score=600,
            coupon_template_ids=[made[4].id],
        ).model_dump(),
    )
    _life_account(session, merchant_id, made[0].id, now)


def _campaigns(session: Session, merchant_id: str, skus: dict[str, str], now: datetime) -> None:
    """A two-person group buy on the tumbler, a daily flash sale of drip bags at lunch and in
    the evening, and a weekly beans plan shipped from the warehouse."""
    warehouse = session.scalars(
        select(StockLocation).where(
            owned(StockLocation, merchant_id), StockLocation.kind == LocationKind.WAREHOUSE
        )
    ).first()
    group_campaigns.create_campaign(
        session,
        merchant_id=merchant_id,
        now=now,
        fields=GroupCampaignIn(
            name="Tumbler for two",
            sku_id=skus["TUMBLER"],
            price=8800,
            group_size=2,
            time_limit_minutes=24 * 60,
            starts_at=now,
            ends_at=now + timedelta(days=60),
            stock=200,
            per_customer_limit=2,
            virtual_seats=False,
            coupons=False,
            pay_minutes=15,
        ).model_dump(),
    )
    flash.create_sale(
        session,
        merchant_id=merchant_id,
        now=now,
        fields={
            "name": "每日必抢 drip bags",
            "starts_at": now,
            "ends_at": now + timedelta(days=60),
            "daily_slots": [["11:00", "13:00"], ["20:00", "21:00"]],
            "per_customer_limit": 1,
            "pay_minutes": 5,
        },
        items=[{"sku_id": skus["DRIP-10"], "price": 2990, "stock": 100}],
    )
    if warehouse is not None:
        periodic.create_plan(
            session,
            merchant_id=merchant_id,
            now=now,
            fields=PlanIn(
                name="Beans every week",
                sku_id=skus["BEANS-HOUSE"],
                quantity=1,
                interval="week",
                deliveries=4,
                price=31600,
                mode="express",
                location_id=warehouse.id,
                delivery_day=1,
            ).model_dump(),
        )


def _life_account(session: Session, merchant_id: str, coupon_template_id: str, now: datetime) -> None:
    """A published post inviting followers to claim a coupon, and a one-time message the
    customers may subscribe to."""
    post = posts.save(
        session,
        merchant_id=merchant_id,
        post=None,
        title="秋日桂花拿铁上市",
        body="本周起全部门店供应桂花拿铁。关注生活号，领一张新品券，到店或外送都能用。",
        cover_media_id=None,
        link_kind="coupon_template",
        link_target=coupon_template_id,
        now=now,
    )
    posts.publish(session, post, at=None, now=now)
    messages.create_template(
        session,
        merchant_id=merchant_id,
        name="New arrivals",
        title="新品到店提醒",
        body="{name}，您关注的 {item} 已经到店，欢迎品尝。",
        now=now,
    )


def existing(session: Session) -> Merchant | None:
    """The demo merchant, if it was loaded before."""
    return session.scalar(select(Merchant).where(Merchant.name == DEMO_NAME))


def create(session: Session, *, now: datetime) -> Merchant:
    """Create the demo merchant as of ``now`` (earlier than today when history is simulated)."""
    return _create(session, now)


def load(session: Session, *, now: datetime, session_days: int = 30) -> DemoCredentials:
    """Create the demo merchant once; every call issues fresh credentials to print."""
    merchant = session.scalar(select(Merchant).where(Merchant.name == DEMO_NAME))
    created = merchant is None
    if merchant is None:
        merchant = _create(session, now)
    _console_logins(session, merchant.id, now)
    admin_key = tenancy.create_api_key(
        session, merchant_id=merchant.id, name="demo admin key", staff_id=None, now=now
    )[1]
    clerk = session.scalars(select(Staff).where(owned(Staff, merchant.id), Staff.role == Role.CLERK)).one()
    clerk_key = tenancy.create_api_key(
        session, merchant_id=merchant.id, name="demo clerk key", staff_id=clerk.id, now=now
    )[1]
    guide = session.scalars(select(Staff).where(owned(Staff, merchant.id), Staff.role == Role.GUIDE)).one()
    guide_key = tenancy.create_api_key(
        session, merchant_id=merchant.id, name="demo guide key", staff_id=guide.id, now=now
    )[1]
    customer = customers.resolve_customer(
        session,
        merchant_id=merchant.id,
        host_app="alipay",
        host_user_id="2088000000000001",
        phone=None,
        now=now,
    )
    _, token = customers.open_session(
        session,
        merchant_id=merchant.id,
        customer_id=customer.id,
        host_app="alipay",
        scene="qr_scan",
        days=session_days,
        now=now,
    )
    batch_code = session.scalar(
        select(CouponCode.code)
        .where(owned(CouponCode, merchant.id), CouponCode.redeemed_at.is_(None))
        .order_by(CouponCode.code)
        .limit(1)
    )
    return DemoCredentials(
        merchant_id=merchant.id,
        admin_key=admin_key,
        clerk_key=clerk_key,
        clerk_store=clerk.store_id or "",
        guide_key=guide_key,
        customer_id=customer.id,
        customer_token=token,
        created=created,
        public_code=str(COUPONS[1]["public_code"]),
        batch_code=display(batch_code) if batch_code else "",
        console_logins=CONSOLE_LOGINS,
    )
