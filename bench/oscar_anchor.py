"""django-oscar 4.2.1's offer engine on the anchor basket, for ``bench/pricing.py``.

Runs in its own process (``pip install -e '.[bench]'`` brings django-oscar; Shoplet is not
imported here): an in-memory SQLite database migrated for Oscar, the same 20 lines / 50
units and prices as ``pricing.anchor_basket()``, and the same rules as Oscar offers:

- 10% off category A: a site offer, condition "1 item from range A", benefit 10% on A;
- buy 2 get the cheapest free in B: condition "3 items from range B", multibuy benefit
  (the cheapest item free), applied as often as it fits;
- ¥20 off over ¥200: condition "value ≥ 200 of all products", absolute benefit 20;
- a 5% coupon: a voucher whose offer is 5% off everything.

Oscar applies offers greedily in priority order; it does not search for the best
combination. Each timed run resets the basket's offer applications and runs Oscar's
``Applicator().apply`` (which reads the site offers and the basket's vouchers, with
Oscar's range product cache). Prints one JSON line: the median in ms and the basket's
total after discounts.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import warnings
from decimal import Decimal

import django
import oscar
from django.conf import settings


def configure() -> None:
    from oscar import defaults

    oscar_defaults = {name: getattr(defaults, name) for name in dir(defaults) if name.isupper()}
    settings.configure(
        **(oscar_defaults | {"OSCAR_DEFAULT_CURRENCY": "CNY"}),
        DEBUG=False,
        SECRET_KEY="bench-only",
        USE_TZ=True,
        SITE_ID=1,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=oscar.INSTALLED_APPS,
        HAYSTACK_CONNECTIONS={"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        LOGGING_CONFIG=None,
    )
    django.setup()


urlpatterns: list = []


def anchor_lines() -> list[tuple[str, int, int, str]]:
    """(sku, quantity, unit price in fen, category): exactly ``pricing.anchor_basket()``'s lines."""
    rng = random.Random(7)
    lines = []
    for i in range(20):
        quantity = 3 if i < 10 else 2
        lines.append((f"sku{i}", quantity, rng.randrange(500, 5000, 10), "A" if i % 2 == 0 else "B"))
    return lines


def build():
    from django.core.management import call_command
    from oscar.core.loading import get_class, get_model

    call_command("migrate", verbosity=0)
    Basket = get_model("basket", "Basket")
    Category = get_model("catalogue", "Category")
    ProductClass = get_model("catalogue", "ProductClass")
    Product = get_model("catalogue", "Product")
    ProductCategory = get_model("catalogue", "ProductCategory")
    Partner = get_model("partner", "Partner")
    Range = get_model("offer", "Range")
    Condition = get_model("offer", "Condition")
    Benefit = get_model("offer", "Benefit")
    ConditionalOffer = get_model("offer", "ConditionalOffer")
    Voucher = get_model("voucher", "Voucher")
    Default = get_class("partner.strategy", "Default")

    kind = ProductClass.objects.create(name="Goods", track_stock=False)
    partner = Partner.objects.create(name="Shop")
    categories = {name: Category.add_root(name=name) for name in ("A", "B")}
    ranges = {}
    for name, category in categories.items():
        ranges[name] = Range.objects.create(name=f"Range {name}")
        ranges[name].included_categories.add(category)
    everything = Range.objects.create(name="Everything", includes_all_products=True)

    basket = Basket.objects.create()
    basket.strategy = Default()
    for sku, quantity, fen, category in anchor_lines():
        product = Product.objects.create(product_class=kind, title=sku, upc=sku)
        ProductCategory.objects.create(product=product, category=categories[category])
        product.stockrecords.create(
            partner=partner, partner_sku=sku, price_currency="CNY", price=Decimal(fen) / 100
        )
        basket.add_product(product, quantity=quantity)

    def offer(name, offer_type, condition, benefit, priority):
        return ConditionalOffer.objects.create(
            name=name,
            offer_type=offer_type,
            condition=Condition.objects.create(**condition),
            benefit=Benefit.objects.create(**benefit),
            priority=priority,
        )

    site = ConditionalOffer.SITE
    offer(
        "10% off A",
        site,
        {"range": ranges["A"], "type": Condition.COUNT, "value": 1},
        {"range": ranges["A"], "type": Benefit.PERCENTAGE, "value": 10},
        3,
    )
    offer(
        "Buy 2 get the cheapest free in B",
        site,
        {"range": ranges["B"], "type": Condition.COUNT, "value": 3},
        {"range": ranges["B"], "type": Benefit.MULTIBUY},
        2,
    )
    offer(
        "¥20 off over ¥200",
        site,
        {"range": everything, "type": Condition.VALUE, "value": 200},
        {"range": everything, "type": Benefit.FIXED, "value": 20},
        1,
    )
    voucher_offer = offer(
        "5% coupon",
        ConditionalOffer.VOUCHER,
        {"range": everything, "type": Condition.COUNT, "value": 1},
        {"range": everything, "type": Benefit.PERCENTAGE, "value": 5},
        0,
    )
    from django.utils import timezone

    now = timezone.now()
    voucher = Voucher.objects.create(
        name="Five",
        code="FIVE",
        start_datetime=now - timezone.timedelta(days=1),
        end_datetime=now + timezone.timedelta(days=30),
    )
    voucher.offers.add(voucher_offer)
    basket.vouchers.add(voucher)
    return basket


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    warnings.simplefilter("ignore")  # haystack's and treebeard's notices, on stderr of every run
    configure()
    from oscar.core.loading import get_class

    Applicator = get_class("offer.applicator", "Applicator")
    basket = build()

    def apply() -> None:
        basket.reset_offer_applications()
        Applicator().apply(basket)

    for _ in range(5):
        apply()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        apply()
        times.append((time.perf_counter() - started) * 1000)
    total = basket.total_incl_tax if basket.is_tax_known else basket.total_excl_tax
    print(
        json.dumps(
            {
                "oscar_version": oscar.get_version(),
                "oscar_anchor_median_ms": round(statistics.median(times), 3),
                "oscar_total_fen": int(total * 100),
                "oscar_applied": [d["name"] for d in basket.offer_discounts + basket.voucher_discounts],
            }
        )
    )


if __name__ == "__main__":
    main()
