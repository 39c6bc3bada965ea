"""Group buys, flash sales and periodic plans in the console over HTTP: create each from its
form, the figures in the lists, pause / resume / stop, a campaign's groups; roles, CSRF,
form errors that change nothing, and another merchant's campaigns."""

from __future__ import annotations

from sqlalchemy import func, select

from shoplet.campaigns.models import FlashSale, GroupCampaign, Plan
from shoplet.scoping import owned
from tests.campaigns.helpers import customers, group_campaign, headers, open_group
from tests.console.helpers import add_staff, csrf_of, sign_in


def _count(runtime, model, merchant_id) -> int:
    with runtime.db.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(model).where(owned(model, merchant_id)))


def test_an_operator_creates_a_group_buy_a_flash_sale_and_a_plan(shop, client, runtime):
    add_staff(shop, "operator", "zhou")
    person = sign_in(client, shop, "zhou")
    page = person.get("/console/campaigns")
    assert page.status_code == 200 and 'id="new-group-campaign"' in page.text
    csrf = csrf_of(page.text)
    made = person.post(
        "/console/campaigns/groups",
        data={"csrf": csrf, "name": "两人团", "sku_id": shop.skus["BEANS"], "price": "59.90", "group_size": "2",
              "hours": "24", "stock": "100", "limit": "1", "starts": "2026-01-01T10:00", "ends": "2036-01-01T10:00"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    made = person.post(
        "/console/campaigns/flash",
        data={"csrf": csrf, "name": "每日必抢", "sku_id": shop.skus["BEANS"], "price": "19.90", "stock": "50",
              "limit": "2", "pay_minutes": "5", "starts": "2026-01-01T10:00", "ends": "2036-01-01T10:00",
              "slots": "10:00-12:00, 20:00-21:00"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    made = person.post(
        "/console/campaigns/plans",
        data={"csrf": csrf, "name": "每周咖啡豆", "sku_id": shop.skus["BEANS"], "quantity": "1", "interval": "week",
              "deliveries": "4", "price": "199.00", "mode": "express", "location_id": shop.warehouse_id,
              "delivery_day": "1"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    with runtime.db.unit_of_work(write=False) as s:
        sale = s.scalars(select(FlashSale).where(owned(FlashSale, shop.merchant_id))).one()
        assert sale.daily_slots == [["10:00", "12:00"], ["20:00", "21:00"]]
        plan = s.scalars(select(Plan).where(owned(Plan, shop.merchant_id))).one()
        assert plan.price == 19900 and plan.deliveries == 4
    page = person.get("/console/campaigns")
    assert "两人团" in page.text and "每日必抢" in page.text and "每周咖啡豆" in page.text
    # A plan whose price does not split evenly: the sentence next to the form, nothing saved.
    bad = person.post(
        "/console/campaigns/plans",
        data={"csrf": csrf, "name": "x", "sku_id": shop.skus["BEANS"], "quantity": "1", "interval": "week",
              "deliveries": "3", "price": "100.00", "mode": "express", "location_id": shop.warehouse_id,
              "delivery_day": "1"},
    )  # fmt: skip
    assert bad.status_code == 422 and "split evenly" in bad.text
    bad = person.post(
        "/console/campaigns/groups",
        data={"csrf": csrf, "name": "x", "sku_id": shop.skus["BEANS"], "price": "abc", "group_size": "2",
              "stock": "1", "limit": "1", "starts": "2026-01-01T10:00", "ends": "2036-01-01T10:00"},
    )  # fmt: skip
    assert bad.status_code == 422 and "yuan" in bad.text
    assert (
        _count(runtime, Plan, shop.merchant_id) == 1 and _count(runtime, GroupCampaign, shop.merchant_id) == 1
    )
    # Without the CSRF token nothing is created.
    forged = person.post("/console/campaigns/flash", data={"name": "x"})
    assert forged.status_code == 403 and _count(runtime, FlashSale, shop.merchant_id) == 1


def test_pause_stop_the_groups_page_and_another_merchants_campaigns(shop, other_shop, client, runtime):
    campaign = group_campaign(shop)
    (leader,) = customers(shop, 1)
    order = open_group(shop, campaign["id"], headers(leader))
    shop.pay(order["id"], customer=headers(leader))
    add_staff(shop, "operator", "wu")
    person = sign_in(client, shop, "wu")
    csrf = csrf_of(person.get("/console/campaigns").text)
    groups_page = person.get(f"/console/campaigns/group/{campaign['id']}")
    assert groups_page.status_code == 200 and order["campaign_ref"] in groups_page.text
    assert "**" in groups_page.text  # members by masked name
    assert (
        person.post(f"/console/campaigns/group/{campaign['id']}/pause", data={"csrf": csrf}).status_code
        == 303
    )
    with runtime.db.unit_of_work(write=False) as s:
        assert s.get(GroupCampaign, (shop.merchant_id, campaign["id"])).status == "paused"
    assert (
        person.post(f"/console/campaigns/group/{campaign['id']}/stop", data={"csrf": csrf}).status_code == 303
    )
    assert (
        person.post(f"/console/campaigns/group/{campaign['id']}/resume", data={"csrf": csrf}).status_code
        == 409
    )
    # Another merchant's operator sees none of it and changes nothing.
    theirs = group_campaign(other_shop)
    assert person.get(f"/console/campaigns/group/{theirs['id']}").status_code == 404
    assert (
        person.post(f"/console/campaigns/group/{theirs['id']}/stop", data={"csrf": csrf}).status_code == 404
    )
    with runtime.db.unit_of_work(write=False) as s:
        assert s.get(GroupCampaign, (other_shop.merchant_id, theirs["id"])).status == "active"
    assert theirs["id"] not in person.get("/console/campaigns").text
    # A clerk has no such screen.
    add_staff(shop, "clerk", "qian")
    clerk = sign_in(client, shop, "qian")
    assert clerk.get("/console/campaigns").status_code == 403
