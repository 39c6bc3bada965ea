"""The campaigns' reactions to their orders being cancelled, paid or refunded, registered
with :mod:`shoplet.order_hooks` by kind (imported by the composition root)."""

from __future__ import annotations

from shoplet import order_hooks
from shoplet.campaigns import deliveries, flash, groups, plans
from shoplet.campaigns.models import CampaignKind

order_hooks.register(CampaignKind.GROUP, groups.Hooks())
order_hooks.register(CampaignKind.FLASH, flash.Hooks())
order_hooks.register(CampaignKind.PLAN, plans.Hooks())
order_hooks.register(CampaignKind.PLAN_DELIVERY, deliveries.DeliveryHooks())
