"""The payment-provider interface. The sandbox implements it; an Alipay adapter will too.

A provider is an external system: its calls run outside Shoplet's transactions, and
each is idempotent on the id Shoplet gives it (``out_trade_no``, ``out_refund_no``),
so a call retried after a crash never charges or refunds twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class TradeCreated:
    trade_no: str
    pay_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TradeStatus:
    """What the provider says of a trade: ``pending``, ``paid`` or ``closed``."""

    status: str
    trade_no: str
    amount: int
    paid_at: datetime | None = None


@dataclass(frozen=True)
class RefundResult:
    refund_no: str
    succeeded: bool
    message: str = ""


@dataclass(frozen=True)
class Notification:
    """A verified asynchronous notification about one trade."""

    notify_id: str
    event: str  # "trade.paid" | "trade.closed"
    merchant_id: str
    out_trade_no: str
    trade_no: str
    amount: int
    paid_at: datetime | None
    raw: dict[str, Any]


class InvalidNotification(Exception):
    """The notification's signature or body does not verify; nothing was applied."""


class PaymentProvider(Protocol):
    name: str

    def create_trade(
        self, *, merchant_id: str, out_trade_no: str, amount: int, subject: str, notify_url: str
    ) -> TradeCreated: ...

    def query_trade(self, *, merchant_id: str, out_trade_no: str) -> TradeStatus | None: ...

    def close_trade(self, *, merchant_id: str, out_trade_no: str) -> None: ...

    def refund(
        self, *, merchant_id: str, out_trade_no: str, out_refund_no: str, amount: int
    ) -> RefundResult: ...

    def verify_notification(self, headers: dict[str, str], body: bytes) -> Notification: ...
