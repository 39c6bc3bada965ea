"""What happens to an order bought in a campaign when it is cancelled, paid or refunded.

An order placed in a group-buy, a flash sale or a periodic plan holds something of the
campaign (a seat, flash stock, a subscription). The campaign domain sits above orders and
payments, which cancel, mark paid and refund orders; so the campaigns register their
reactions here by ``orders.campaign_kind`` (``shoplet.campaigns`` on import, done by the
composition root through ``shoplet.models``), and the lower domains call them in the same
transaction as the change. An order without a campaign costs one attribute test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session


class Hooks(Protocol):
    def cancelled(self, session: Session, order: Any, now: datetime) -> None:
        """The unpaid order was cancelled (by the customer, staff or its payment deadline)."""

    def paid(self, session: Session, order: Any, now: datetime) -> bool:
        """The order was paid; return whether its fulfilment starts now (False: the campaign
        starts it later, as a group does when it succeeds)."""

    def refunded(self, session: Session, order: Any, full: bool, now: datetime) -> None:
        """Money of the paid order was refunded (``full``: all of it)."""


@dataclass(frozen=True)
class _Registered:
    hooks: dict[str, Hooks]


_registry = _Registered(hooks={})


def register(kind: str, hooks: Hooks) -> None:
    _registry.hooks[kind] = hooks


def _of(order: Any) -> Hooks | None:
    kind = order.campaign_kind
    if kind is None:
        return None
    try:
        return _registry.hooks[kind]
    except KeyError:
        raise LookupError(f"no order hooks for {kind!r}; import shoplet.models first") from None


def cancelled(session: Session, order: Any, now: datetime) -> None:
    hooks = _of(order)
    if hooks is not None:
        hooks.cancelled(session, order, now)


def paid(session: Session, order: Any, now: datetime) -> bool:
    hooks = _of(order)
    return True if hooks is None else hooks.paid(session, order, now)


def refunded(session: Session, order: Any, full: bool, now: datetime) -> None:
    hooks = _of(order)
    if hooks is not None:
        hooks.refunded(session, order, full, now)
