"""Every error code Shoplet answers with: its HTTP status, title and what it means.

Clients branch on ``code`` (stable; a code is never reused for another meaning). The OpenAPI
document lists, for each operation, the codes it can return with these meanings
(``shoplet.problems``); ``tests/test_error_codes.py`` fails when code raises a code that is
not here, or when an entry here is raised nowhere. Add a code here when you add its raise.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    status: int
    title: str
    meaning: str
    also: tuple[int, ...] = ()  # other statuses the same code is sent with (a race lost, say)


CODES: dict[str, Code] = {
    "analytics.bad_date": Code(
        422, "Invalid input", "'since', 'until' and 'date' are dates, YYYY-MM-DD, between 2000 and 2100."
    ),
    "analytics.bad_offsets": Code(
        422,
        "Invalid input",
        "Retention offsets are 1 to 10 day counts between 1 and 30, separated by commas.",
    ),
    "analytics.bad_range": Code(422, "Invalid input", "'until' must be after 'since'."),
    "analytics.bad_steps": Code(422, "Invalid input", "A funnel has 1 to 8 steps."),
    "analytics.other_time_zone": Code(
        422,
        "Invalid input",
        "Figures are kept by the shop's local days: ask in its time zone or leave tz out.",
    ),
    "analytics.range_too_long": Code(
        422, "Invalid input", "A range by day covers at most 366 days (by week or month, five years)."
    ),
    "analytics.repeated_step": Code(422, "Invalid input", "A funnel step cannot follow itself."),
    "analytics.unknown_dimension": Code(422, "Invalid input", "Sales are by store, host_app, guide or all."),
    "analytics.unknown_figure": Code(422, "Invalid input", "That is not one of the dashboard's figures."),
    "analytics.unknown_grain": Code(422, "Invalid input", "'grain' is day, week or month."),
    "analytics.unknown_step": Code(
        422, "Invalid input", "A funnel step must be an event kind (visit, coupon.claimed, order.paid, ...)."
    ),
    "analytics.unknown_time_zone": Code(422, "Invalid input", "There is no time zone of that name."),
    "api_key.last_admin": Code(
        409,
        "Conflict",
        "This is the shop's last working admin key: create another admin key before revoking it.",
    ),
    "api_key.not_found": Code(404, "Not found", "No such api key."),
    "auth.code_invalid": Code(401, "Not authenticated", "The host app's sign-in code is not valid."),
    "auth.customer_only": Code(403, "Not allowed", "This needs a customer session."),
    "auth.host_unavailable": Code(401, "Not authenticated", "Sign-in through … is not configured."),
    "auth.invalid": Code(401, "Not authenticated", "The credential is not valid, expired or revoked."),
    "auth.missing": Code(401, "Not authenticated", "Send a credential as 'Authorization: Bearer <token>'."),
    "auth.platform_only": Code(403, "Not allowed", "Only the platform operator can do this."),
    "auth.role": Code(403, "Not allowed", "The role '…' cannot do this; it needs …."),
    "auth.staff_only": Code(403, "Not allowed", "This needs a merchant API key."),
    "cart.bad_quantity": Code(422, "Invalid input", "The quantity must be between 0 and …."),
    "category.code_taken": Code(409, "Conflict", "A category with code '…' already exists."),
    "category.not_found": Code(404, "Not found", "No such category."),
    "commission.rule_not_found": Code(404, "Not found", "There is no such commission rule."),
    "commission.target_not_found": Code(404, "Not found", "Say which … the rule is for."),
    "coupon.already_used": Code(409, "Conflict", "This coupon has already been used."),
    "coupon.batch_size": Code(422, "Invalid input", "A batch has 1 to … codes."),
    "coupon.budget_below_committed": Code(
        422, "Cannot be done", "The budget cannot be lower than what is committed."
    ),
    "coupon.budget_exhausted": Code(409, "Conflict", "This coupon's budget is used up."),
    "coupon.budget_needs_cap": Code(422, "Invalid input", "A percent coupon with a budget needs 'max_off'."),
    "coupon.claim_ended": Code(422, "Cannot be done", "The time to claim this coupon has passed."),
    "coupon.clerk_only": Code(403, "Not allowed", "Coupons are verified by a clerk at their store."),
    "coupon.code_invalid": Code(422, "Cannot be done", "That code is not valid; check it for typos."),
    "coupon.code_unknown": Code(422, "Cannot be done", "That discount code is not valid."),
    "coupon.code_used": Code(409, "Conflict", "This code has already been used."),
    "coupon.codes_busy": Code(409, "Conflict", "Could not generate unique codes; try again."),
    "coupon.daily_limit_reached": Code(
        409, "Conflict", "The customer claimed as many of this coupon today as allowed."
    ),
    "coupon.expired": Code(422, "Cannot be done", "This coupon has expired."),
    "coupon.in_use": Code(409, "Conflict", "This coupon is set aside for an unpaid online order."),
    "coupon.invalid": Code(422, "Invalid input", "The coupon is not valid: …."),
    "coupon.kind": Code(422, "Invalid input", "Unknown coupon kind '…'."),
    "coupon.limit_reached": Code(409, "Conflict", "The customer holds as many of this coupon as allowed."),
    "coupon.not_available": Code(
        409, "Conflict", "One of the coupons was just used elsewhere; please try again."
    ),
    "coupon.not_claimable": Code(409, "Conflict", "This coupon is not being given out right now."),
    "coupon.not_editable": Code(
        422, "Invalid input", "'…' cannot be changed once issued; create a new coupon."
    ),
    "coupon.not_eligible": Code(403, "Not allowed", "See the detail."),
    "coupon.not_found": Code(404, "Not found", "No such coupon."),
    "coupon.not_verified": Code(
        409, "Conflict", "Only a coupon verified in store can have its verification reversed."
    ),
    "coupon.not_yet_claimable": Code(422, "Cannot be done", "This coupon cannot be claimed yet."),
    "coupon.not_yet_valid": Code(422, "Cannot be done", "This coupon cannot be used yet."),
    "coupon.public_code_taken": Code(409, "Conflict", "Another coupon already uses this discount code."),
    "coupon.reversal_window_passed": Code(409, "Conflict", "Verifications can be reversed for … hours only."),
    "coupon.rule_needs_amount": Code(
        422, "Invalid input", "An 'order_at_least' rule needs 'min_order_amount'."
    ),
    "coupon.sold_out": Code(409, "Conflict", "All of these coupons have been claimed."),
    "coupon.stock_below_issued": Code(
        422, "Cannot be done", "… coupons are already issued; the stock cannot be lower."
    ),
    "coupon.stopped": Code(
        409, "Conflict", "The coupon template is stopped for good; it cannot be paused or resumed."
    ),
    "coupon.unknown_category": Code(422, "Invalid input", "A category in the scope is not in this shop."),
    "coupon.unknown_sku": Code(422, "Invalid input", "No SKU '…' in this shop."),
    "coupon.unknown_store": Code(422, "Invalid input", "No store '…' in this shop."),
    "coupon.validity": Code(422, "Invalid input", "A fixed-window coupon needs 'valid_until'."),
    "coupon.wrong_store": Code(422, "Cannot be done", "This coupon cannot be used at this store."),
    "coupon_event_rule.not_found": Code(404, "Not found", "No such coupon event rule."),
    "coupon_issue_job.not_found": Code(404, "Not found", "No such issue job."),
    "coupon_template.not_found": Code(404, "Not found", "No such coupon template."),
    "customer.identity_taken": Code(409, "Conflict", "This … user is already linked to another customer."),
    "customer.not_found": Code(404, "Not found", "No such customer."),
    "customer.phone_taken": Code(409, "Conflict", "Another customer already has this phone number."),
    "delivery.address_required": Code(
        422, "Invalid input", "Give the delivery address with its coordinates."
    ),
    "delivery.bad_slot": Code(
        422,
        "Cannot be done",
        "That delivery slot is not offered by this store; list the store's delivery slots and choose one.",
    ),
    "delivery.outside_radius": Code(
        422, "Cannot be done", "The address is … m away; this store delivers within … m."
    ),
    "delivery.slot_full": Code(409, "Conflict", "That delivery slot is full; choose another."),
    "delivery.slot_required": Code(422, "Invalid input", "Choose a delivery slot."),
    "fulfilment.bad_routing": Code(422, "Invalid input", "Routing must be one of …."),
    "fulfilment.mode_unavailable": Code(
        422, "Cannot be done", "Stores hand over by pickup or delivery; express ships from the warehouse."
    ),
    "fulfilment.not_found": Code(404, "Not found", "No such fulfilment."),
    "fulfilment.pickup_code_required": Code(
        409, "Conflict", "A pickup is handed over by verifying its pickup code."
    ),
    "guide.binding_changed": Code(409, "Conflict", "The customer's guide changed a moment ago; look again."),
    "guide.binding_kept": Code(409, "Conflict", "This customer stays with the guide who served them first."),
    "guide.binding_protected": Code(409, "Conflict", "This customer is bound to another guide until …."),
    "guide.force_needs_admin": Code(403, "Not allowed", "Only an admin can reassign a protected binding."),
    "guide.no_quota": Code(403, "Not allowed", "You have no quota for this coupon."),
    "guide.not_found": Code(404, "Not found", "No such shopping guide."),
    "guide.not_your_customer": Code(403, "Not allowed", "This customer is not bound to you."),
    "guide.quota_below_issued": Code(
        422, "Cannot be done", "This guide has already issued …; the quota cannot be lower."
    ),
    "guide.quota_exhausted": Code(409, "Conflict", "The group has … customers and your quota has … left."),
    "guide.workbench_only": Code(403, "Not allowed", "The workbench needs a shopping guide's key."),
    "guide_binding.not_found": Code(404, "Not found", "This customer has no guide."),
    "guide_group.empty": Code(422, "Cannot be done", "The group has no customers."),
    "guide_group.name_taken": Code(409, "Conflict", "You already have a group called “…”."),
    "guide_group.not_found": Code(404, "Not found", "No such group."),
    "guide_group.not_member": Code(404, "Not found", "This customer is not in the group."),
    "guide_group.too_large": Code(
        422, "Cannot be done", "A group coupon reaches at most … customers at once."
    ),
    "guide_group.too_many": Code(422, "Cannot be done", "A guide can keep at most … groups."),
    "http.405": Code(
        405, "Method not allowed", "The path exists but not with this method; `Allow` lists the methods."
    ),
    "http.not_found": Code(404, "Not found", "No such path."),
    "idempotency.in_progress": Code(409, "Conflict", "A request with this Idempotency-Key is still running."),
    "idempotency.key_invalid": Code(
        422, "Invalid input", "The Idempotency-Key header must be 1 to … characters."
    ),
    "idempotency.key_reused": Code(
        409, "Conflict", "This Idempotency-Key was already used with a different request."
    ),
    "internal": Code(
        500,
        "Internal error",
        "Something went wrong on Shoplet's side; nothing was changed; quote `error_id`.",
    ),
    "invite.expired": Code(409, "Conflict", "The invite link has expired; the admin can send a new one."),
    "invite.not_found": Code(404, "Not found", "The invite link is not valid."),
    "invite.used": Code(409, "Conflict", "The invite link was already used."),
    "light_membership.already_member": Code(409, "Conflict", "You already have a light membership here."),
    "light_membership.not_active": Code(409, "Conflict", "This light membership is not active."),
    "light_membership.not_eligible": Code(403, "Not allowed", "See the detail."),
    "light_membership.not_found": Code(404, "Not found", "No such light membership."),
    "light_membership.nothing_due": Code(422, "Cannot be done", "Nothing is owed on this light membership."),
    "light_membership.overdue": Code(
        409, "Conflict", "A previous light membership is unpaid; pay it before joining again."
    ),
    "light_membership.unavailable": Code(
        503, "Temporarily unavailable", "Deduction agreements are not configured."
    ),
    "light_plan.closed": Code(409, "Conflict", "This light membership plan is no longer open."),
    "light_plan.no_auto_renew": Code(422, "Invalid input", "This plan does not renew automatically."),
    "light_plan.not_editable": Code(422, "Invalid input", "'…' cannot be changed; create a new plan."),
    "light_plan.not_found": Code(404, "Not found", "No such light membership plan."),
    "light_plan.unknown_coupon": Code(
        422, "Invalid input", "A plan's coupon pack names a coupon template this shop does not have."
    ),
    "member.not_found": Code(
        404, "Not found", "This customer is not a member yet (the first paid order makes one)."
    ),
    "merchant.suspended": Code(403, "Not allowed", "The shop is suspended by the platform operator."),
    "merchant.not_found": Code(404, "Not found", "No such shop."),
    "order.bad_quantity": Code(422, "Invalid input", "Each quantity must be between 1 and …."),
    "order.coupons_invalid": Code(422, "Cannot be done", "The chosen coupons cannot be used: …."),
    "order.empty": Code(422, "Invalid input", "The order has no items."),
    "order.location_unavailable": Code(
        422, "Cannot be done", "That store or warehouse is not taking orders."
    ),
    "order.not_cancellable": Code(
        409, "Conflict", "Only unpaid orders can be cancelled; ask for a refund instead."
    ),
    "order.not_found": Code(404, "Not found", "No such order."),
    "order.not_fulfillable": Code(409, "Conflict", "An order that is … has nothing here to hand over."),
    "order.not_payable": Code(409, "Conflict", "This order is … and cannot be paid."),
    "order.payment_expired": Code(409, "Conflict", "The time to pay for this order has run out."),
    "order.sku_unavailable": Code(422, "Cannot be done", "'…' is no longer sold."),
    "order.too_large": Code(
        422, "Cannot be done", "An order can be worth at most ¥…; split it into several orders."
    ),
    "order.too_many_lines": Code(422, "Invalid input", "An order can have at most … different items."),
    "order.unknown_sku": Code(422, "Cannot be done", "There is no item '…' in this shop."),
    "order.zero_total": Code(422, "Cannot be done", "This shop does not accept orders that cost nothing."),
    "payment.amount_mismatch": Code(
        422, "Cannot be done", "The provider reports another amount for this payment."
    ),
    "payment.in_progress": Code(
        409, "Conflict", "A payment with another method is already open for this order."
    ),
    "payment.not_found": Code(404, "Not found", "No such payment."),
    "payment.notification_invalid": Code(422, "Invalid input", "The notification was refused: …."),
    "payment.provider_amount_mismatch": Code(
        409, "Conflict", "The provider already holds this trade with another amount."
    ),
    "payment.provider_busy": Code(409, "Conflict", "The payment provider is busy; try again."),
    "payment.provider_unknown": Code(404, "Not found", "This payment's provider is not configured."),
    "pickup.cancelled": Code(409, "Conflict", "That pickup was cancelled and refunded."),
    "pickup.code_used": Code(409, "Conflict", "That pickup code was already used at … UTC."),
    "pickup.code_wrong": Code(422, "Cannot be done", "No order at this store has that pickup code."),
    "pickup.codes_exhausted": Code(409, "Conflict", "Could not allocate a pickup code; try again."),
    "pickup.expired": Code(409, "Conflict", "That pickup expired uncollected and was refunded."),
    "pickup.not_paid": Code(409, "Conflict", "That order has not been paid yet."),
    "pickup.store_required": Code(422, "Invalid input", "Say at which store the code is verified."),
    "points.busy": Code(409, "Conflict", "Points changed at the same moment; try again."),
    "points.inconsistent": Code(409, "Conflict", "The points ledger does not add up; nothing was taken."),
    "points.insufficient": Code(409, "Conflict", "Not enough points."),
    "points.not_member": Code(422, "Cannot be done", "Only members collect points."),
    "points.zero": Code(422, "Invalid input", "An adjustment moves at least one point."),
    "points_mall.item_closed": Code(409, "Conflict", "This item is no longer in the points mall."),
    "points_mall_item.not_found": Code(404, "Not found", "No such points mall item."),
    "product.not_found": Code(404, "Not found", "No such product."),
    "promotion.invalid": Code(422, "Invalid input", "The promotion is not valid: …."),
    "promotion.kind": Code(422, "Invalid input", "Unknown promotion kind '…'."),
    "promotion.not_editable": Code(422, "Invalid input", "'…' cannot be changed."),
    "promotion.not_found": Code(404, "Not found", "No such promotion."),
    "promotion.stopped": Code(
        409, "Conflict", "The promotion is stopped for good; it cannot be paused or resumed."
    ),
    "promotion.unknown_category": Code(422, "Invalid input", "No category '…' in this shop."),
    "promotion.unknown_sku": Code(422, "Invalid input", "No SKU '…' in this shop."),
    "promotion.unknown_store": Code(422, "Invalid input", "No store '…' in this shop."),
    "promotion.window": Code(422, "Invalid input", "The promotion must end after it starts."),
    "refund.already_refunded": Code(409, "Conflict", "Everything on this order has already been refunded."),
    "refund.bad_quantity": Code(422, "Invalid input", "Each refunded quantity must be at least 1."),
    "refund.empty": Code(
        422, "Invalid input", "Say which lines to refund, or leave 'lines' out to refund everything."
    ),
    "refund.exceeds_paid": Code(409, "Conflict", "That is more than remains of what was paid."),
    "refund.exceeds_quantity": Code(
        409, "Conflict", "More units than remain unrefunded on a line.", also=(422,)
    ),
    "refund.no_payment": Code(409, "Conflict", "This order has no captured payment to refund."),
    "refund.not_found": Code(404, "Not found", "No such refund."),
    "refund.nothing_to_refund": Code(
        422, "Cannot be done", "These items were free: there is no money to return."
    ),
    "refund.order_not_paid": Code(409, "Conflict", "Only paid orders can be refunded."),
    "refund.unknown_line": Code(422, "Invalid input", "Line '…' is not on this order."),
    "request.bad_time": Code(
        422,
        "Invalid input",
        "A time filter must be a date (YYYY-MM-DD) or an ISO 8601 time with an offset, "
        "between 2000 and 2100.",
    ),
    "request.conflict": Code(
        409,
        "Conflict",
        "A concurrent change won a race the checks did not see; nothing was changed; try again.",
    ),
    "request.control_character": Code(
        422, "Invalid input", "The address contains a control character; remove it and try again."
    ),
    "request.invalid": Code(
        422, "Invalid input", "The request does not match the operation's schema; `errors` lists each field."
    ),
    "request.null_field": Code(422, "Invalid input", "'…' cannot be cleared; give it a value."),
    "request.too_large": Code(413, "Request body too large", "The request body is over … bytes."),
    "request.unreadable_body": Code(
        400, "Bad request", "The body could not be read as JSON (malformed, or nested too deep)."
    ),
    "request.value_out_of_range": Code(
        422, "Invalid input", "A number in the request, or a total it leads to, is too large."
    ),
    "sandbox.disabled": Code(404, "Not found", "The sandbox provider is not enabled."),
    "sandbox.trade_closed": Code(409, "Conflict", "This trade is closed and can no longer be paid."),
    "sandbox.trade_not_found": Code(404, "Not found", "No such sandbox trade."),
    "service.database_busy": Code(503, "Temporarily unavailable", "The database is busy; try again shortly."),
    "service.database_down": Code(503, "Temporarily unavailable", "The database cannot be reached."),
    "sku.code_taken": Code(409, "Conflict", "A SKU with code '…' already exists."),
    "sku.light_member_price_above_list": Code(
        422, "Invalid input", "The light-member price cannot be higher than the list price."
    ),
    "sku.member_price_above_list": Code(
        422, "Invalid input", "The member price cannot be higher than the list price."
    ),
    "sku.not_found": Code(404, "Not found", "No such sku."),
    "signin.failed": Code(
        401, "Not authenticated", "The shop, login or password (or the platform key) is wrong."
    ),
    "signin.locked": Code(
        429, "Too many attempts", "Five failed sign-ins in a row lock a login for 15 minutes."
    ),
    "staff.clerk_needs_store": Code(422, "Invalid input", "A clerk must be bound to a store."),
    "staff.login_invalid": Code(
        422,
        "Invalid input",
        "A login has 2 to 64 letters, digits or . _ @ + - and starts with a letter or digit.",
    ),
    "staff.login_missing": Code(409, "Conflict", "An invite needs the staff member to have a login first."),
    "staff.login_taken": Code(409, "Conflict", "Another staff member of the shop has that login."),
    "staff.password_wrong": Code(422, "Invalid input", "The current password given to change it is wrong."),
    "staff.password_weak": Code(
        422, "Invalid input", "A password has 10 to 128 characters, at least four of them different."
    ),
    "staff.last_admin": Code(
        409,
        "Conflict",
        "This is the shop's last admin: make someone else an admin (or create an admin key) before deactivating them.",
    ),
    "staff.not_found": Code(404, "Not found", "No such staff member."),
    "stock.adjustment_below_reserved": Code(
        422, "Cannot be done", "That would leave fewer units on hand than are reserved for orders."
    ),
    "stock.commit_mismatch": Code(409, "Conflict", "The reservation to fulfil is not there."),
    "stock.insufficient": Code(422, "Cannot be done", "Not enough stock at this store for one of the items."),
    "stock.out_everywhere": Code(
        422, "Cannot be done", "Some items are out of stock at this store and at the warehouse."
    ),
    "stock.release_mismatch": Code(409, "Conflict", "The reservation to release is not there."),
    "stock.transfer_same_place": Code(422, "Cannot be done", "A transfer needs two different locations."),
    "stock.transfer_short": Code(
        422, "Cannot be done", "The source does not have that many available to move."
    ),
    "stock_transfer.not_found": Code(404, "Not found", "No such stock transfer."),
    "store.bad_skus": Code(422, "Invalid input", "Give skus as sku_id:quantity pairs separated by commas."),
    "store.code_taken": Code(409, "Conflict", "A store or warehouse with code '…' already exists."),
    "store.not_found": Code(404, "Not found", "No such store."),
    "tier.base_threshold": Code(422, "Invalid input", "The base tier starts at 0 growth."),
    "tier.code_taken": Code(409, "Conflict", "There is already a tier '…'."),
    "tier.not_editable": Code(422, "Invalid input", "'…' cannot be changed; create another tier."),
    "tier.not_found": Code(404, "Not found", "No such tier."),
    "tier.threshold_taken": Code(409, "Conflict", "Another tier starts at the same growth value."),
    "tier.unknown_coupon": Code(
        422, "Invalid input", "A tier's coupon pack names a coupon template this shop does not have."
    ),
    "visit.bad_time": Code(
        422, "Invalid input", "A page view's 'at' must be within the last 7 days and not in the future."
    ),
    "visit.unknown_store": Code(422, "Invalid input", "A page view names a store this shop does not have."),
    "image.not_found": Code(404, "Not found", "No such image."),
    "media.not_an_image": Code(
        422, "Invalid input", "The upload is not a PNG, JPEG, GIF or WebP image (or is empty)."
    ),
    "media.too_large": Code(422, "Invalid input", "An image is at most 2 MB."),
    "message.consent_not_needed": Code(409, "Conflict", "Only an active one-time template asks for consent."),
    "message.notice_not_found": Code(404, "Not found", "There is no service notice with that code."),
    "message.template_invalid": Code(
        422, "Invalid input", "The template's text does not parse: write variables as {name}."
    ),
    "message.template_not_sendable": Code(
        409, "Conflict", "Only an active one-time template is sent to customers against their consents."
    ),
    "message.variable_missing": Code(
        422, "Invalid input", "A variable the template uses has no value: nothing was sent."
    ),
    "message.variable_unknown": Code(
        422, "Invalid input", "The notice's wording uses a variable the notice does not offer."
    ),
    "message_template.not_found": Code(404, "Not found", "No such message template."),
    "post.link_invalid": Code(
        422, "Invalid input", "A link names its target; a mini-program page is a path starting with /."
    ),
    "post.link_target_not_found": Code(
        404, "Not found", "The product or coupon template linked to does not exist."
    ),
    "campaign.bad_window": Code(422, "Cannot be done", "A campaign ends after it starts."),
    "campaign.not_running": Code(
        409, "Conflict", "The campaign has not started, is paused, or is between its daily time slots."
    ),
    "campaign.over": Code(409, "Conflict", "The campaign is over (ended or stopped)."),
    "campaign.sku_unavailable": Code(
        422, "Cannot be done", "The campaign's SKU or its product is not on sale."
    ),
    "campaign.stopped": Code(409, "Conflict", "A stopped campaign stays stopped."),
    "campaign.unknown_sku": Code(422, "Cannot be done", "The SKU named is not in this shop."),
    "delivery.no_slot": Code(409, "Conflict", "The store has no delivery slot left in the coming days."),
    "flash.bad_slot": Code(422, "Cannot be done", "A daily time slot ends after it starts."),
    "flash.duplicate_sku": Code(422, "Cannot be done", "Each SKU appears once in a flash sale."),
    "flash.over_limit": Code(409, "Conflict", "The customer would hold more than the per-customer limit."),
    "flash.sold_out": Code(409, "Conflict", "The flash stock is gone (it may come back from unpaid orders)."),
    "flash_item.not_found": Code(404, "Not found", "No such flash item."),
    "flash_sale.not_found": Code(404, "Not found", "No such flash sale."),
    "group.already_leading": Code(
        409, "Conflict", "The customer already leads an unfinished group in this campaign."
    ),
    "group.already_member": Code(409, "Conflict", "The customer is already in this group."),
    "group.closed": Code(
        409, "Conflict", "The group is no longer taking members (its time is up, or it ended)."
    ),
    "group.full": Code(409, "Conflict", "Every seat of the group is taken."),
    "group.not_found": Code(404, "Not found", "No such group."),
    "group.over_limit": Code(409, "Conflict", "The customer would hold more than the per-customer limit."),
    "group.sold_out": Code(409, "Conflict", "The campaign's stock is taken."),
    "group_campaign.not_found": Code(404, "Not found", "No such group-buy campaign."),
    "plan.bad_delivery_day": Code(
        422, "Invalid input", "A delivery day is a weekday 1–7 or a day of the month 1–28."
    ),
    "plan.changed": Code(409, "Conflict", "A delivery was made meanwhile; try again."),
    "plan.ended": Code(409, "Conflict", "The plan is completed, cancelled or expired."),
    "plan.not_found": Code(404, "Not found", "No such plan."),
    "plan.not_paid": Code(409, "Conflict", "The plan has not been paid for yet."),
    "plan.period_delivered": Code(409, "Conflict", "That period's delivery has already been made."),
    "plan.period_not_next": Code(422, "Cannot be done", "Only the next period can be skipped."),
    "plan.price_not_divisible": Code(
        422, "Cannot be done", "A plan's price splits evenly over its deliveries, to the fen."
    ),
    "plan_subscription.not_found": Code(404, "Not found", "No such plan subscription."),
    "post.not_found": Code(404, "Not found", "No such post."),
    "post.publish_at_past": Code(422, "Invalid input", "A scheduled post is published in the future."),
    "post.withdrawn": Code(409, "Conflict", "A withdrawn post cannot be changed or published again."),
    "push.content_missing": Code(422, "Invalid input", "A push has a title and a body, or a post."),
    "push.not_found": Code(404, "Not found", "No such push."),
    "push.post_unpublished": Code(422, "Cannot be done", "Only a published post can be pushed."),
    "push.segment_empty": Code(
        422, "Cannot be done", "No follower is in the segment: nothing would be sent."
    ),
    "push.segment_invalid": Code(
        422,
        "Invalid input",
        "A segment is all, tags, tiers, light_members, store or guide_group, with its values.",
    ),
    "push.segment_target_not_found": Code(
        404, "Not found", "The tier, store or guide group named does not exist."
    ),
    "push.send_at_past": Code(422, "Invalid input", "A scheduled push is sent in the future."),
    "push.started": Code(409, "Conflict", "The push has started or ended; it can no longer be cancelled."),
    "webhook.delivery_pending": Code(
        409, "Conflict", "The delivery is still being tried; replay a finished one."
    ),
    "webhook.endpoint_disabled": Code(409, "Conflict", "The endpoint is disabled; enable it first."),
    "webhook.event_type_unknown": Code(422, "Invalid input", "An event type is not in the catalogue."),
    "webhook.url_invalid": Code(422, "Invalid input", "The URL is not http:// or https:// with a host name."),
    "webhook.url_private": Code(
        422,
        "Invalid input",
        "The URL leads to a loopback, private or link-local address (refused unless allowed).",
    ),
    "webhook.url_unresolvable": Code(422, "Invalid input", "The URL's host name does not resolve."),
    "webhook_delivery.not_found": Code(404, "Not found", "No such webhook delivery."),
    "webhook_endpoint.not_found": Code(404, "Not found", "No such webhook endpoint."),
}

# Codes any operation can answer with, whatever it does: the request itself is unusable, a
# concurrent change won a race, the database is busy, or Shoplet failed.
EVERY_REQUEST = (
    "request.invalid",
    "request.control_character",
    "request.too_large",
    "request.unreadable_body",
    "request.value_out_of_range",
    "request.conflict",
    "service.database_busy",
    "internal",
)

STATUS_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid input or refused by the business rules",
    500: "Internal error",
    503: "Temporarily unavailable",
}
