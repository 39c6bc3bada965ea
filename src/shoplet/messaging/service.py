"""Subscription messages (SPEC L3): templates, consents, sends, and the service notices.

A one-time template is sent only against a consent the customer gave: each consent grants
one send, consents accumulate, and a send consumes exactly one by a conditional update
(``remaining > 0``) — no consent, no send, and the report says who had none. Long-term
templates word the service notices Shoplet sends without asking (order paid, ready for
pickup, out for delivery, shipped, refund completed, coupon expiring, a light membership's
period charged, a deduction failed); a merchant may reword each with the same variables.

Every message is a row queued in the transaction that caused it and delivered after commit
through the outbox (``message.send``) by the host app's adapter.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shoplet import outbox
from shoplet.customers.models import Customer, CustomerIdentity, Follower
from shoplet.db import Database, changed, insert_new, new_id
from shoplet.errors import Conflict, InvalidInput, NotFound
from shoplet.messaging.delivery import Messenger, Outgoing
from shoplet.messaging.models import Consent, Message, MessageStatus, MessageTemplate, TemplateKind
from shoplet.outbox import Terminal
from shoplet.scoping import get_owned, owned, scoped

SEND_TOPIC = "message.send"
"""Outbox topic: deliver one queued message ({merchant_id, message_id})."""


@dataclass(frozen=True)
class Notice:
    code: str
    name: str
    title: str
    body: str
    variables: tuple[str, ...]


NOTICES: dict[str, Notice] = {
    n.code: n
    for n in (
        Notice("order_paid", "Order paid", "订单支付成功", "订单 {order_id} 已支付 {amount}，感谢您的购买。",
               ("order_id", "amount")),
        Notice("pickup_ready", "Ready for pickup", "商品已可自提",
               "订单 {order_id} 已在 {store} 备好，取货码 {code}，请于 {deadline} 前取货。",
               ("order_id", "store", "code", "deadline")),
        Notice("out_for_delivery", "Out for delivery", "订单配送中", "订单 {order_id} 已由 {store} 发出，正在配送。",
               ("order_id", "store")),
        Notice("shipped", "Shipped", "订单已发货", "订单 {order_id} 已从 {store} 发货。", ("order_id", "store")),
        Notice("refund_completed", "Refund completed", "退款成功", "订单 {order_id} 的退款 {amount} 已原路退回。",
               ("order_id", "amount")),
        Notice("coupon_expiring", "Coupon expiring", "优惠券即将过期",
               "您的「{coupon}」将于 {expires_at} 过期，别忘了使用。", ("coupon", "expires_at")),
        Notice("light_settled", "Light membership charged", "轻会员本期结算",
               "{plan} 本期扣款 {amount}：取会费 {fee} 与本期已享优惠 {enjoyed} 中的较低者。",
               ("plan", "amount", "fee", "enjoyed")),
        Notice("light_overdue", "Deduction failed", "轻会员扣款失败",
               "{plan} 本期应付 {amount} 扣款失败，请补缴以继续享受会员权益。", ("plan", "amount")),
        Notice("group_succeeded", "Group buy succeeded", "拼团成功",
               "您参加的「{campaign}」已成团，订单 {order_id} 将尽快为您安排。", ("campaign", "order_id")),
        Notice("group_failed", "Group buy failed", "拼团失败",
               "很遗憾，「{campaign}」未能在时限内成团，订单 {order_id} 的 {amount} 将原路退回。",
               ("campaign", "order_id", "amount")),
        Notice("plan_delivered", "Periodic delivery", "周期购配送",
               "「{plan}」第 {period}/{deliveries} 期已安排配送，订单 {order_id}。",
               ("plan", "period", "deliveries", "order_id")),
    )
}  # fmt: skip


def variables_of(text: str) -> list[str]:
    """The ``{name}`` variables a template's text uses (in order, once each)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvalidInput("message.template_invalid", f"The template does not parse: {exc}.") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise InvalidInput(
                "message.template_invalid", "A variable is written {name}: letters, digits and underscores."
            )
        if name not in names:
            names.append(name)
    return names


def render(text: str, values: dict[str, str]) -> str:
    return text.format_map(values)


def fen(amount: int) -> str:
    return f"¥{amount / 100:.2f}"


# -- templates ----------------------------------------------------------------------------


def create_template(
    session: Session, *, merchant_id: str, name: str, title: str, body: str, now: datetime
) -> MessageTemplate:
    """A one-time template (the merchant's own; long-term ones are the notices)."""
    template = MessageTemplate(
        merchant_id=merchant_id,
        id=new_id("mt"),
        name=name,
        kind=TemplateKind.ONE_TIME,
        notice=None,
        title=title,
        body=body,
        variables=_variables(title, body),
        created_at=now,
    )
    session.add(template)
    session.flush()
    return template


def _variables(title: str, body: str) -> list[str]:
    found = variables_of(title)
    return found + [v for v in variables_of(body) if v not in found]


def get_template(session: Session, merchant_id: str, template_id: str) -> MessageTemplate:
    return get_owned(session, MessageTemplate, merchant_id, template_id, what="Message template")


def notice_wording(session: Session, merchant_id: str) -> dict[str, MessageTemplate | None]:
    """The merchant's rewording of each notice (None: Shoplet's default)."""
    own = {
        t.notice: t
        for t in session.scalars(
            scoped(MessageTemplate, merchant_id).where(MessageTemplate.notice.is_not(None))
        )
    }
    return {code: own.get(code) for code in NOTICES}


@dataclass(frozen=True)
class NoticeText:
    """A notice as the merchant's customers read it: Shoplet's wording or the merchant's."""

    code: str
    name: str
    title: str
    body: str
    variables: tuple[str, ...]
    customised: bool


def notice_texts(session: Session, merchant_id: str) -> list[NoticeText]:
    own = notice_wording(session, merchant_id)
    return [
        NoticeText(n.code, n.name, t.title, t.body, n.variables, True)
        if (t := own[n.code]) is not None
        else NoticeText(n.code, n.name, n.title, n.body, n.variables, False)
        for n in NOTICES.values()
    ]


def reword_notice(
    session: Session, *, merchant_id: str, code: str, title: str, body: str, now: datetime
) -> MessageTemplate:
    """The merchant's wording of a service notice; it may use only the notice's variables."""
    notice = NOTICES.get(code)
    if notice is None:
        raise NotFound("message.notice_not_found", f"There is no service notice {code!r}.")
    used = _variables(title, body)
    unknown = [v for v in used if v not in notice.variables]
    if unknown:
        raise InvalidInput(
            "message.variable_unknown",
            f"This notice has no {', '.join(unknown)}; it offers {', '.join(notice.variables)}.",
            parameter="body",
        )
    template = session.scalars(
        scoped(MessageTemplate, merchant_id).where(MessageTemplate.notice == code)
    ).one_or_none()
    if template is None:
        template = MessageTemplate(
            merchant_id=merchant_id, id=new_id("mt"), name=notice.name, kind=TemplateKind.LONG_TERM,
            notice=code, created_at=now,
        )  # fmt: skip
        session.add(template)
    template.title, template.body, template.variables = title, body, used
    session.flush()
    return template


# -- consents -----------------------------------------------------------------------------


def grant_consent(
    session: Session, *, merchant_id: str, customer_id: str, template_id: str, now: datetime
) -> Consent:
    """The customer agreed to receive this one-time template once more (consents add up)."""
    template = get_template(session, merchant_id, template_id)
    if template.kind != TemplateKind.ONE_TIME or template.archived_at is not None:
        raise Conflict("message.consent_not_needed", "Only an active one-time template asks for consent.")
    key = {"merchant_id": merchant_id, "template_id": template_id, "customer_id": customer_id}
    if not insert_new(session, Consent, [{**key, "remaining": 1, "granted": 1, "updated_at": now}]):
        session.execute(
            update(Consent)
            .where(
                owned(Consent, merchant_id),
                Consent.template_id == template_id,
                Consent.customer_id == customer_id,
            )
            .values(remaining=Consent.remaining + 1, granted=Consent.granted + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return session.get_one(Consent, (merchant_id, template_id, customer_id), populate_existing=True)


_CONSUME = (
    update(Consent)
    .where(
        owned(Consent, bindparam("m")),
        Consent.template_id == bindparam("t"),
        Consent.customer_id.in_(bindparam("ids", expanding=True)),
        Consent.remaining > 0,
    )
    .values(remaining=Consent.remaining - 1, updated_at=bindparam("at"))
    .returning(Consent.customer_id)
    .execution_options(synchronize_session=False)
)


# -- messages -----------------------------------------------------------------------------


@dataclass
class SendReport:
    queued: list[str] = field(default_factory=list)
    no_consent: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def reachable(
    session: Session, merchant_id: str, customer_ids: list[str], prefer: str | None = None
) -> dict[str, tuple[str, str]]:
    """(host app, user id) each customer can be reached at: the host app named, else the one
    they follow the account in, else any they signed in with."""
    found: dict[str, dict[str, str]] = {}
    for customer_id, host_app, host_user_id in session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.host_app, CustomerIdentity.host_user_id).where(
            owned(CustomerIdentity, merchant_id), CustomerIdentity.customer_id.in_(customer_ids)
        )
    ):
        found.setdefault(customer_id, {}).setdefault(host_app, host_user_id)
    follows = dict(
        session.execute(
            select(Follower.customer_id, Follower.host_app).where(
                owned(Follower, merchant_id), Follower.customer_id.in_(list(found))
            )
        ).all()
    ) if found else {}  # fmt: skip
    out: dict[str, tuple[str, str]] = {}
    for customer_id, apps in found.items():
        for app in (prefer, follows.get(customer_id)):
            if app in apps:
                out[customer_id] = (app, apps[app])
                break
        else:
            app = sorted(apps)[0]
            out[customer_id] = (app, apps[app])
    return out


def queue(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str,
    key: str,
    title: str,
    body: str,
    now: datetime,
    link: str | None = None,
    template_id: str | None = None,
    notice: str | None = None,
    host: tuple[str, str] | None,
) -> bool:
    """Queue one message (once per ``key``): delivered after commit, or kept as unreachable
    when the customer has no user id in any host app. Returns whether it was new."""
    message_id = new_id("ms")
    row = {
        "merchant_id": merchant_id,
        "id": message_id,
        "customer_id": customer_id,
        "key": key[:120],
        "template_id": template_id,
        "notice": notice,
        "title": title[:120],
        "body": body[:1000],
        "link": link,
        "host_app": host[0] if host else None,
        "host_user_id": host[1] if host else None,
        "status": (MessageStatus.QUEUED if host else MessageStatus.UNREACHABLE).value,
        "error": None if host else "no user id in any host app",
        "created_at": now,
        "sent_at": None,
    }
    if not insert_new(session, Message, [row]):
        return False
    if host:
        outbox.emit(
            session,
            merchant_id=merchant_id,
            topic=SEND_TOPIC,
            payload={"merchant_id": merchant_id, "message_id": message_id},
            now=now,
        )
    return True


def send_template(
    session: Session,
    *,
    merchant_id: str,
    template_id: str,
    customer_ids: list[str],
    values: dict[str, str],
    key: str,
    link: str | None,
    now: datetime,
) -> SendReport:
    """Send a one-time template to customers, each against one of their consents."""
    template = get_template(session, merchant_id, template_id)
    if template.kind != TemplateKind.ONE_TIME or template.archived_at is not None:
        raise Conflict("message.template_not_sendable", "Only an active one-time template is sent this way.")
    missing = [v for v in template.variables if v not in values]
    if missing:
        raise InvalidInput(
            "message.variable_missing",
            f"The template needs {', '.join(missing)}.",
            parameter="values",
        )
    title, body = render(template.title, values), render(template.body, values)
    wanted = list(dict.fromkeys(customer_ids))
    known = set(
        session.scalars(select(Customer.id).where(owned(Customer, merchant_id), Customer.id.in_(wanted)))
    )
    report = SendReport(unknown=[c for c in wanted if c not in known])
    hosts = reachable(session, merchant_id, [c for c in wanted if c in known])
    report.unreachable = [c for c in wanted if c in known and c not in hosts]
    # Already sent under this key (a retried request): no second consent is taken.
    done = set(
        session.scalars(
            select(Message.customer_id).where(
                owned(Message, merchant_id), Message.key.in_([f"{key}:{c}"[:120] for c in hosts])
            )
        )
    )
    report.already = [c for c in hosts if c in done]
    candidates = sorted(c for c in hosts if c not in done)
    consumed = set(
        session.scalars(_CONSUME, {"m": merchant_id, "t": template_id, "ids": candidates, "at": now})
        if candidates
        else []
    )
    report.no_consent = [c for c in candidates if c not in consumed]
    for customer_id in candidates:
        if customer_id in consumed:
            queue(
                session, merchant_id=merchant_id, customer_id=customer_id, key=f"{key}:{customer_id}",
                title=title, body=body, link=link, template_id=template_id, now=now, host=hosts[customer_id],
            )  # fmt: skip
            report.queued.append(customer_id)
    return report


def notify(
    session: Session,
    *,
    merchant_id: str,
    customer_id: str | None,
    code: str,
    key: str,
    values: dict[str, Any],
    now: datetime,
    prefer: str | None = None,
    link: str | None = None,
    wording: dict[str, MessageTemplate | None] | None = None,
) -> bool:
    """Queue a service notice (long-term: no consent needed), in the merchant's wording."""
    if customer_id is None:
        return False
    notice = NOTICES[code]
    own = (wording if wording is not None else notice_wording(session, merchant_id)).get(code)
    title, body = (own.title, own.body) if own else (notice.title, notice.body)
    text = {k: str(v) for k, v in values.items()}
    hosts = reachable(session, merchant_id, [customer_id], prefer)
    return queue(
        session, merchant_id=merchant_id, customer_id=customer_id, key=key, title=render(title, text),
        body=render(body, text), link=link, template_id=own.id if own else None, notice=code, now=now,
        host=hosts.get(customer_id),
    )  # fmt: skip


def deliver(
    db: Database, messengers: dict[str, Messenger], *, merchant_id: str, message_id: str, now: datetime
) -> None:
    """Send a queued message through its host app (the outbox calls this after commit)."""
    with db.unit_of_work(write=False) as session:
        message = session.get(Message, (merchant_id, message_id))
        if message is None:
            raise Terminal(f"message {message_id} does not exist")
        if message.status != MessageStatus.QUEUED:
            return
        assert message.host_app is not None and message.host_user_id is not None
        item = Outgoing(
            message.id, message.host_user_id, "message", message.title, message.body, message.link
        )
        host_app = message.host_app
    messenger = messengers.get(host_app)
    if messenger is None:
        raise Terminal(f"no messenger for host app {host_app}")
    failed = messenger.send(merchant_id, host_app, [item], now=now)
    if failed:
        raise RuntimeError(f"{host_app} did not take message {message_id}")  # retried by the outbox
    with db.unit_of_work() as session:
        changed(
            session.execute(
                update(Message)
                .where(
                    owned(Message, merchant_id),
                    Message.id == message_id,
                    Message.status == MessageStatus.QUEUED,
                )
                .values(status=MessageStatus.SENT, sent_at=now)
            )
        )
