"""The storefront: what a customer's mini program calls (sign in, browse, cart, order, pay).

Every route but sign-in needs a customer session; the merchant and the customer come
from that session, never from the request body.
"""

from __future__ import annotations

from fastapi import APIRouter, Header, Query
from sqlalchemy.orm import Session

from shoplet import idempotency
from shoplet.auth import AsCustomer, Db, Now, Rt, require_customer
from shoplet.catalog.api import product_out
from shoplet.catalog.models import Category, Product, ProductStatus
from shoplet.catalog.schemas import CategoryOut, ProductOut
from shoplet.catalog.service import skus_of
from shoplet.customers import service as customers
from shoplet.customers import visits
from shoplet.customers.api import customer_out, follow_out
from shoplet.customers.models import Customer, Follower
from shoplet.customers.schemas import CustomerOut, FollowOut, SessionOut, SignInIn, VisitsIn, VisitsOut
from shoplet.errors import InvalidInput, NotFound, Unauthenticated
from shoplet.inventory.models import StockLocation
from shoplet.inventory.nearby import nearby_stores
from shoplet.inventory.schemas import NearbyStoreOut, StoreOut
from shoplet.orders import basket, checkout, routing
from shoplet.orders import service as orders
from shoplet.orders.models import Order
from shoplet.orders.schemas import (
    AppliedRule,
    CartItemIn,
    CartItemOut,
    CheckoutIn,
    CouponOption,
    OrderOut,
    QuoteIn,
    QuoteLine,
    QuoteOut,
    RoutingOption,
    ShipmentOut,
    SlotOut,
    fulfilment_request,
)
from shoplet.orders.views import order_out, orders_out
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.payments import service as payments
from shoplet.payments.schemas import PaymentIn, PaymentOut
from shoplet.scoping import get_owned, scoped
from shoplet.tenancy.models import Merchant, MerchantStatus
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, prefix="/storefront", tags=["storefront"])
customer = require_customer


@router.post("/sessions", response_model=SessionOut, status_code=201)
def sign_in(body: SignInIn, db: Db, now: Now, rt: Rt) -> SessionOut:
    """Sign in from a host app with its one-time auth code; the customer is found or created."""
    host = rt.hosts.get(body.host_app)
    if host is None:
        raise Unauthenticated("auth.host_unavailable", f"Sign-in through {body.host_app} is not configured.")
    user = host.resolve(body.auth_code)
    with db.unit_of_work() as s:
        merchant = s.get(Merchant, body.merchant_id)
        if merchant is None or merchant.status != MerchantStatus.ACTIVE:
            raise NotFound("merchant.not_found", "No such shop.")
        found = customers.resolve_customer(
            s,
            merchant_id=merchant.id,
            host_app=body.host_app,
            host_user_id=user.host_user_id,
            phone=user.phone if user.phone_verified else None,
            now=now,
        )
        record, token = customers.open_session(
            s,
            merchant_id=merchant.id,
            customer_id=found.id,
            host_app=body.host_app,
            scene=body.scene,
            days=rt.settings.customer_session_days,
            now=now,
        )
        return SessionOut(customer_id=found.id, token=token, expires_at=record.expires_at)


@router.delete("/sessions/current", status_code=204)
def sign_out(p: AsCustomer, db: Db, now: Now) -> None:
    """Sign out: the token this request carries stops working (the customer's sessions in
    other host apps or on other devices go on)."""
    assert p.session_id is not None  # a customer's principal carries its session
    with db.unit_of_work() as s:
        customers.close_session(s, merchant_id=p.tenant, session_id=p.session_id, now=now)


@router.post("/visits", response_model=VisitsOut, status_code=201)
def report_visits(body: VisitsIn, p: AsCustomer, db: Db, now: Now) -> VisitsOut:
    """Report page views (up to 50 at once; a mini program may queue them while offline and
    send them within 7 days). Each view's ``id`` makes a resend count once."""
    with db.unit_of_work() as s:
        recorded = visits.record_visits(
            s,
            merchant_id=p.tenant,
            customer_id=p.customer,
            host_app=p.host_app,
            scene=p.scene,
            views=body.views,
            now=now,
        )
        return VisitsOut(recorded=recorded)


@router.get("/me", response_model=CustomerOut)
def me(p: AsCustomer, db: Db) -> CustomerOut:
    """The signed-in customer, with their membership if they have one."""
    with db.unit_of_work(write=False) as s:
        return customer_out(s, get_owned(s, Customer, p.tenant, p.customer, what="Customer"))


@router.get("/following", response_model=FollowOut)
def following(p: AsCustomer, db: Db) -> FollowOut:
    """Whether I follow this merchant's life account (生活号)."""
    with db.unit_of_work(write=False) as s:
        return follow_out(p.customer, s.get(Follower, (p.tenant, p.customer)))


@router.put("/following", response_model=FollowOut)
def follow(p: AsCustomer, db: Db, now: Now) -> FollowOut:
    """Follow the merchant's life account; following again changes nothing."""
    with db.unit_of_work() as s:
        row = customers.follow(s, merchant_id=p.tenant, customer_id=p.customer, host_app=p.host, now=now)
        return follow_out(p.customer, row)


@router.delete("/following", response_model=FollowOut)
def unfollow(p: AsCustomer, db: Db, now: Now) -> FollowOut:
    with db.unit_of_work() as s:
        return follow_out(
            p.customer, customers.unfollow(s, merchant_id=p.tenant, customer_id=p.customer, now=now)
        )


@router.get("/products", response_model=Page[ProductOut])
def browse(
    p: AsCustomer,
    db: Db,
    page: PageQuery,
    category_id: str | None = Query(None, max_length=40, description="Only this category's products."),
) -> Page[ProductOut]:
    """The shop's products on sale, with their active SKUs."""
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Product, p.tenant).where(Product.status == ProductStatus.ACTIVE)
        if category_id:
            stmt = stmt.where(Product.category_id == category_id)
        rows, cursor = paginate(s, stmt, Product.id, page)
        skus = skus_of(s, p.tenant, [r.id for r in rows])
        return Page(
            items=[product_out(r, [k for k in skus[r.id] if k.status == ProductStatus.ACTIVE]) for r in rows],
            next_cursor=cursor,
        )


@router.get("/products/{product_id}", response_model=ProductOut)
def product_detail(product_id: str, p: AsCustomer, db: Db) -> ProductOut:
    """One product on sale with its active SKUs; an archived product is not found."""
    with db.unit_of_work(write=False) as s:
        product = get_owned(s, Product, p.tenant, product_id, what="Product")
        if product.status != ProductStatus.ACTIVE:
            raise NotFound.of("Product")
        skus = skus_of(s, p.tenant, [product.id])[product.id]
        return product_out(product, [k for k in skus if k.status == ProductStatus.ACTIVE])


@router.get("/categories", response_model=list[CategoryOut])
def categories(p: AsCustomer, db: Db) -> list[CategoryOut]:
    """The shop's categories (a tree through ``parent_id``), by code."""
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(scoped(Category, p.tenant).order_by(Category.code).limit(1000))
        return [CategoryOut.model_validate(r) for r in rows]


@router.get("/stores", response_model=Page[StoreOut])
def stores(p: AsCustomer, db: Db, page: PageQuery) -> Page[StoreOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(StockLocation, p.tenant).where(StockLocation.active.is_(True))
        rows, cursor = paginate(s, stmt, StockLocation.id, page)
        return Page(items=[StoreOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/stores/nearby", response_model=list[NearbyStoreOut])
def stores_near_me(
    p: AsCustomer,
    db: Db,
    now: Now,
    lat: float = Query(ge=-90, le=90, description="Where the customer is."),
    lng: float = Query(ge=-180, le=180),
    radius_m: int | None = Query(None, ge=1, le=1_000_000, description="Only stores this close."),
    skus: str | None = Query(
        None, max_length=4000, description="Stock to check, as sku_id:quantity,…; default: my cart."
    ),
    open_only: bool = False,
    in_stock_only: bool = False,
    limit: int = Query(20, ge=1, le=100),
) -> list[NearbyStoreOut]:
    """Stores near me: nearest first, open now or not, and whether each has my cart in stock."""
    with db.unit_of_work(write=False) as s:
        if skus:
            items: dict[str, int] = {}
            for part in skus.split(","):
                sku_id, _, quantity = part.strip().partition(":")
                if not sku_id or (quantity and not quantity.isdigit()) or (quantity and int(quantity) < 1):
                    raise InvalidInput(
                        "store.bad_skus", "Give skus as sku_id:quantity pairs separated by commas."
                    )
                items[sku_id] = items.get(sku_id, 0) + int(quantity or 1)
        else:
            items = {i.sku_id: i.quantity for i in orders.cart_of(s, p.tenant, p.customer)}
        rows = nearby_stores(
            s,
            merchant_id=p.tenant,
            latitude=lat,
            longitude=lng,
            items=items,
            now=now,
            radius_m=radius_m,
            open_only=open_only,
            in_stock_only=in_stock_only,
            limit=limit,
        )
        return rows


@router.get("/cart", response_model=list[CartItemOut])
def cart(p: AsCustomer, db: Db) -> list[CartItemOut]:
    with db.unit_of_work(write=False) as s:
        return [CartItemOut.model_validate(i) for i in orders.cart_of(s, p.tenant, p.customer)]


@router.put("/cart/items/{sku_id}", response_model=list[CartItemOut])
def set_cart_item(
    sku_id: str,
    body: CartItemIn,
    p: AsCustomer,
    db: Db,
    now: Now,
) -> list[CartItemOut]:
    """Set how many of a SKU are in the cart (0 removes it); returns the cart."""
    with db.unit_of_work() as s:
        orders.set_cart_item(
            s, merchant_id=p.tenant, customer_id=p.customer, sku_id=sku_id, quantity=body.quantity, now=now
        )
        return [CartItemOut.model_validate(i) for i in orders.cart_of(s, p.tenant, p.customer)]


@router.post("/quote", response_model=QuoteOut)
def quote(
    body: QuoteIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
) -> QuoteOut:
    """Price lines (or the cart) at a store for this customer with the promotions running
    there now: what they will pay and which rules took what off. Creates nothing."""
    with db.unit_of_work(write=False) as s:
        items = (
            [(x.sku_id, x.quantity) for x in body.lines]
            if body.lines is not None
            else [(i.sku_id, i.quantity) for i in orders.cart_of(s, p.tenant, p.customer)]
        )
        if not items:
            raise InvalidInput("order.empty", "The cart is empty.")
        found = basket.price_items(
            s,
            merchant_id=p.tenant,
            customer_id=p.customer,
            location_id=body.location_id,
            items=items,
            pricer=rt.pricer,
            host_app=p.host_app,
            now=now,
            coupon_ids=body.coupon_ids,
            use_points=body.use_points,
            fulfilment=fulfilment_request(body.fulfilment),
        )
    lines, priced, route = found.lines, found.cart, found.route
    names = found.promotion_names
    coupon_names = {option["id"]: option["name"] for option in found.coupon_options}
    return QuoteOut(
        lines=[
            QuoteLine(
                sku_id=line.sku_id,
                title=line.title,
                quantity=line.quantity,
                unit_price=out.unit_price,
                subtotal=out.subtotal,
                discount=out.discount,
                total=out.total,
            )
            for line, out in zip(lines, priced.lines, strict=True)
        ],
        subtotal=priced.subtotal,
        discount=priced.discount,
        delivery_fee=priced.delivery_fee,
        total=priced.total,
        member=found.member,
        member_savings=priced.member_savings,
        light_member_savings=priced.light_member_savings,
        points_used=priced.points_used,
        applied=[
            AppliedRule(**entry, name=names.get(entry["id"]) or coupon_names.get(entry["id"]))
            for entry in priced.applied
        ],
        coupons=[CouponOption(**option) for option in found.coupon_options],
        coupon_error=priced.selection_error,
        shipments=[ShipmentOut(**x.describe()) for x in route.shipments],
        missing=route.missing,
        routing_options=[
            RoutingOption(
                routing=name,
                shipments=[ShipmentOut(**x.describe()) for x in option],
                delivery_fee=sum(x.fee for x in option),
            )
            for name, option in sorted(route.options.items())
        ],
    )


@router.get("/stores/{store_id}/delivery-slots", response_model=list[SlotOut])
def delivery_slots(
    store_id: str,
    p: AsCustomer,
    db: Db,
    now: Now,
) -> list[SlotOut]:
    """The delivery slots a store offers from now on, with how many deliveries each has left."""
    with db.unit_of_work(write=False) as s:
        store = get_owned(s, StockLocation, p.tenant, store_id, what="Store", code="store")
        if not store.active:
            raise NotFound("store.not_found", "No such store.")
        return [SlotOut(**slot) for slot in routing.slots(s, store=store, now=now)]


@router.post("/orders", response_model=OrderOut, status_code=201)
def place_order(
    body: CheckoutIn,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> OrderOut:
    """Check out the given lines (or the cart) at a store or warehouse.

    Stock is reserved atomically: the whole order or nothing. The order must be paid
    before ``expires_at`` or it is cancelled and its stock released. Send an
    ``Idempotency-Key``: a retry returns the same order instead of a second one.
    The price and the route are decided reading only; the order is then written in a unit
    of work of its own whose writes are all conditional (``orders.checkout.place_order``):
    on SQLite the single writer holds the lock for the writes alone.
    """
    return checkout.place_order(
        db,
        merchant_id=p.tenant,
        customer_id=p.customer,
        scope=p.scope,
        host_app=p.host_app,
        scene=p.scene,
        location_id=body.location_id,
        items=None if body.lines is None else [(x.sku_id, x.quantity) for x in body.lines],
        pricer=rt.pricer,
        note=body.note,
        timeout=rt.unpaid_timeout,
        now=now,
        idempotency_key=idempotency_key,
        payload=body.model_dump(),
        coupon_ids=body.coupon_ids,
        use_points=body.use_points,
        fulfilment=fulfilment_request(body.fulfilment),
    )


@router.get("/orders", response_model=Page[OrderOut])
def my_orders(p: AsCustomer, db: Db, page: PageQuery) -> Page[OrderOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Order, p.tenant).where(Order.customer_id == p.customer_id)
        rows, cursor = paginate(s, stmt, Order.id, page)
        return Page(items=orders_out(s, list(rows), for_customer=True), next_cursor=cursor)


@router.get("/orders/{order_id}", response_model=OrderOut)
def my_order(order_id: str, p: AsCustomer, db: Db) -> OrderOut:
    with db.unit_of_work(write=False) as s:
        return order_out(
            s, orders.get_order(s, p.tenant, order_id, customer_id=p.customer_id), for_customer=True
        )


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_my_order(
    order_id: str,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
) -> OrderOut:
    """Cancel an unpaid order; its stock is released."""
    with db.unit_of_work() as s:
        orders.cancel(
            s,
            merchant_id=p.tenant,
            order_id=order_id,
            reason="cancelled_by_customer",
            now=now,
            customer_id=p.customer_id,
        )
    payments.close_open_payments(db, rt.providers, merchant_id=p.tenant, order_id=order_id, now=now)
    with db.unit_of_work(write=False) as s:
        return order_out(
            s, orders.get_order(s, p.tenant, order_id, customer_id=p.customer_id), for_customer=True
        )


@router.post("/orders/{order_id}/payments", response_model=PaymentOut, status_code=201)
def pay(
    order_id: str,
    p: AsCustomer,
    db: Db,
    now: Now,
    rt: Rt,
    body: PaymentIn | None = None,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> PaymentOut:
    """Open the payment of an order; pass ``pay_params`` to the wallet.

    One open payment per order: asking again returns the same one. The order becomes
    paid when the provider's signed notification arrives (or reconciliation finds it).
    """
    provider_name = body.provider if body else "sandbox"
    provider = rt.providers.get(provider_name)
    if provider is None:
        raise NotFound("payment.provider_unknown", f"No payment provider '{provider_name}' is configured.")

    def work(s: Session) -> tuple[int, dict]:
        payment = payments.open_payment(
            s,
            merchant_id=p.tenant,
            order_id=order_id,
            customer_id=p.customer_id,
            provider=provider_name,
            now=now,
        )
        return 201, {"payment_id": payment.id}

    _, stored = idempotency.run(
        db,
        merchant_id=p.tenant,
        scope=p.scope,
        key=idempotency_key,
        operation=f"pay:{order_id}",
        payload={"provider": provider_name},
        work=work,
    )
    payment = payments.attach_trade(
        db,
        provider,
        merchant_id=p.tenant,
        payment_id=stored["payment_id"],
        notify_url=rt.notify_url(provider_name),
    )
    return PaymentOut.model_validate(payment)
