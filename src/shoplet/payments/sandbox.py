"""The built-in sandbox payment provider.

It behaves like a real wallet: a trade is created and waits for the buyer; the buyer
pays (``POST /api/v1/sandbox/trades/{trade_no}/pay`` stands in for the wallet's
screen); the provider then notifies the merchant's notify URL asynchronously with an
HMAC-SHA256 signed body, retrying with backoff until it is acknowledged — so
notifications can arrive late, twice, or after the order timed out. Its book of trades
and refunds lives in its own tables, written in its own transactions, as an external
system's would; ``query_trade`` answers reconciliation from that book.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from shoplet.db import Clock, Database, bulk_insert, changed, one_of
from shoplet.errors import Conflict, NotFound
from shoplet.membership.agreements import ChargeRequest, ChargeResult
from shoplet.outbox import emit
from shoplet.payments.models import (
    InstallationSecret,
    SandboxAgreement,
    SandboxAgreementCharge,
    SandboxRefund,
    SandboxTrade,
)
from shoplet.payments.provider import (
    InvalidNotification,
    Notification,
    RefundResult,
    TradeCreated,
    TradeStatus,
)
from shoplet.scoping import owned, owned_by_keys

SIGNATURE_HEADER = "x-sandbox-signature"
NOTIFY_TOPIC = "sandbox.notify"
TOLERANCE_SECONDS = 15 * 60
_STATUS = {"WAIT_BUYER_PAY": "pending", "TRADE_SUCCESS": "paid", "TRADE_CLOSED": "closed"}


def installation_secret(db: Database, name: str) -> str:
    """The secret of that name, created once per installation; concurrent first uses agree."""
    with db.unit_of_work() as session:
        found = session.get(InstallationSecret, name)
        if found is None:
            try:
                with session.begin_nested():
                    found = InstallationSecret(name=name, value=secrets.token_urlsafe(32))
                    session.add(found)
                    session.flush()
            except IntegrityError:
                found = session.get_one(InstallationSecret, name)
        return found.value


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# The wallet's hot path, built once (every simulated or demo payment passes here).
_BY_OUT_TRADE_NO = select(SandboxTrade).where(
    owned(SandboxTrade, bindparam("m")), SandboxTrade.out_trade_no == bindparam("o")
)
_STATUS_OF = select(
    SandboxTrade.status, SandboxTrade.trade_no, SandboxTrade.amount, SandboxTrade.paid_at
).where(owned(SandboxTrade, bindparam("m")), SandboxTrade.out_trade_no == bindparam("o"))
_PAY = (
    update(SandboxTrade)
    .where(
        owned(SandboxTrade, bindparam("m")),
        SandboxTrade.trade_no == bindparam("t"),
        SandboxTrade.status == "WAIT_BUYER_PAY",
    )
    .values(status="TRADE_SUCCESS", paid_at=bindparam("at"))
    .returning(SandboxTrade)
    .execution_options(populate_existing=True, synchronize_session=False)
)


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self, db: Database, *, secret: str | None, clock: Clock, agreement_failure_rate: float = 0.0
    ) -> None:
        self.db = db
        self._secret = secret
        self.clock = clock
        self.agreement_failure_rate = agreement_failure_rate

    @property
    def secret(self) -> str:
        """The configured secret, else this installation's own (generated on first use, kept in the database)."""
        if self._secret is None:
            self._secret = installation_secret(self.db, "sandbox_signing")
        return self._secret

    # --- the merchant-facing API -------------------------------------------------------
    def create_trade(
        self, *, merchant_id: str, out_trade_no: str, amount: int, subject: str, notify_url: str
    ) -> TradeCreated:
        for _ in range(2):
            try:
                with self.db.unit_of_work() as session:
                    trade = session.scalar(_BY_OUT_TRADE_NO, {"m": merchant_id, "o": out_trade_no})
                    if trade is None:
                        trade = SandboxTrade(
                            merchant_id=merchant_id,
                            trade_no="sbx" + secrets.token_hex(12),
                            out_trade_no=out_trade_no,
                            amount=amount,
                            subject=subject[:256],
                            notify_url=notify_url,
                            created_at=self.clock(),
                        )
                        session.add(trade)
                        session.flush()
                    elif trade.amount != amount:
                        raise Conflict(
                            "payment.provider_amount_mismatch",
                            "The provider already holds this trade with another amount.",
                        )
                    return TradeCreated(
                        trade_no=trade.trade_no,
                        pay_params={"provider": "sandbox", "trade_no": trade.trade_no, "amount": amount},
                    )
            except IntegrityError:
                continue  # created concurrently: read it back
        raise Conflict("payment.provider_busy", "The payment provider is busy; try again.")

    def query_trade(self, *, merchant_id: str, out_trade_no: str) -> TradeStatus | None:
        with self.db.read_once() as connection:  # one row: no transaction needed
            trade = connection.execute(_STATUS_OF, {"m": merchant_id, "o": out_trade_no}).first()
        if trade is None:
            return None
        return TradeStatus(
            status=_STATUS[trade.status],
            trade_no=trade.trade_no,
            amount=trade.amount,
            paid_at=trade.paid_at,
        )

    def close_trade(self, *, merchant_id: str, out_trade_no: str) -> None:
        now = self.clock()
        with self.db.unit_of_work() as session:
            trade = session.scalar(
                select(SandboxTrade).where(
                    owned(SandboxTrade, merchant_id), SandboxTrade.out_trade_no == out_trade_no
                )
            )
            if trade is None:
                return
            closed = changed(
                session.execute(
                    update(SandboxTrade)
                    .where(
                        owned(SandboxTrade, merchant_id),
                        SandboxTrade.trade_no == trade.trade_no,
                        SandboxTrade.status == "WAIT_BUYER_PAY",
                    )
                    .values(status="TRADE_CLOSED")
                )
            )
            if closed:
                emit(
                    session,
                    merchant_id=merchant_id,
                    topic=NOTIFY_TOPIC,
                    payload={"merchant_id": merchant_id, "trade_no": trade.trade_no, "event": "trade.closed"},
                    now=now,
                )

    def refund(self, *, merchant_id: str, out_trade_no: str, out_refund_no: str, amount: int) -> RefundResult:
        now = self.clock()
        with self.db.unit_of_work() as session:
            done = session.get(SandboxRefund, (merchant_id, out_refund_no))
            if done is not None:  # the same refund asked again: answer as before
                return RefundResult(
                    refund_no=out_refund_no,
                    succeeded=done.amount == amount,
                    message="" if done.amount == amount else "amount differs from the first request",
                )
            trade = session.scalar(
                select(SandboxTrade).where(
                    owned(SandboxTrade, merchant_id), SandboxTrade.out_trade_no == out_trade_no
                )
            )
            if trade is None or trade.status != "TRADE_SUCCESS":
                return RefundResult(refund_no=out_refund_no, succeeded=False, message="trade not paid")
            taken = changed(
                session.execute(
                    update(SandboxTrade)
                    .where(
                        owned(SandboxTrade, merchant_id),
                        SandboxTrade.trade_no == trade.trade_no,
                        SandboxTrade.refunded_amount + amount <= SandboxTrade.amount,
                    )
                    .values(refunded_amount=SandboxTrade.refunded_amount + amount)
                )
            )
            if not taken:
                return RefundResult(
                    refund_no=out_refund_no, succeeded=False, message="refund exceeds the amount paid"
                )
            session.add(
                SandboxRefund(
                    merchant_id=merchant_id,
                    out_refund_no=out_refund_no,
                    trade_no=trade.trade_no,
                    amount=amount,
                    created_at=now,
                )
            )
        return RefundResult(refund_no=out_refund_no, succeeded=True)

    def verify_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        header = headers.get(SIGNATURE_HEADER, "")
        try:
            fields = dict(part.split("=", 1) for part in header.split(","))
            timestamp = int(fields["t"])
            given = fields["v1"]
        except (ValueError, KeyError) as exc:
            raise InvalidNotification("missing or malformed signature header") from exc
        expected = sign(self.secret, timestamp, body).split("v1=", 1)[1]
        if not hmac.compare_digest(given, expected):
            raise InvalidNotification("signature does not match")
        if abs(self.clock().timestamp() - timestamp) > TOLERANCE_SECONDS:
            raise InvalidNotification("signature timestamp outside the tolerance")
        try:
            data = json.loads(body)
            paid_at = datetime.fromisoformat(data["paid_at"]) if data.get("paid_at") else None
            return Notification(
                notify_id=str(data["notify_id"]),
                event=str(data["event"]),
                merchant_id=str(data["merchant_id"]),
                out_trade_no=str(data["out_trade_no"]),
                trade_no=str(data["trade_no"]),
                amount=int(data["amount"]),
                paid_at=paid_at,
                raw=data,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidNotification("body is not a sandbox notification") from exc

    # --- deduction agreements (代扣): light membership settles through these ----------
    def sign_agreement(self, *, merchant_id: str, customer_id: str, plan_id: str) -> str:
        agreement_no = "sba" + secrets.token_hex(12)
        with self.db.unit_of_work() as session:
            session.add(
                SandboxAgreement(
                    merchant_id=merchant_id,
                    agreement_no=agreement_no,
                    customer_id=customer_id,
                    plan_id=plan_id,
                    signed_at=self.clock(),
                )
            )
        return agreement_no

    def _declines(self, out_request_no: str, attempt: int) -> bool:
        """Whether this attempt fails (insufficient balance, say): decided by a hash, so a
        run is reproducible and each retry is a fresh draw at the configured rate."""
        digest = hashlib.sha256(f"{out_request_no}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") < self.agreement_failure_rate * 2**32

    def charge_agreements(self, requests: list[ChargeRequest]) -> list[ChargeResult]:
        """Charge a batch in one transaction of the provider's book. A request number that
        already succeeded answers "succeeded" again without charging; a failed one is tried anew."""
        for _ in range(5):
            try:
                return self._charge_batch(requests)
            except IntegrityError:
                continue  # the same numbers were being charged concurrently: read their outcome
        raise Conflict("payment.provider_busy", "The payment provider is busy; try again.")

    def _charge_batch(self, requests: list[ChargeRequest]) -> list[ChargeResult]:
        now = self.clock()
        results: dict[tuple[str, str], ChargeResult] = {}
        with self.db.unit_of_work() as session:
            charges = cast(Table, SandboxAgreementCharge.__table__)
            dialect = session.get_bind().dialect.name
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for merchant_id in sorted({r.merchant_id for r in requests}):
                mine = [r for r in requests if owned(r, merchant_id)]
                known = {
                    row.out_request_no: row
                    for row in owned_by_keys(
                        session,
                        charges,
                        merchant_id,
                        charges.c.out_request_no,
                        [r.out_request_no for r in mine],
                    )
                }
                agreements = cast(Table, SandboxAgreement.__table__)
                signed = {
                    row.agreement_no
                    for row in owned_by_keys(
                        session,
                        agreements,
                        merchant_id,
                        agreements.c.agreement_no,
                        {r.agreement_no for r in mine},
                    )
                }
                for r in mine:
                    key, row = (merchant_id, r.out_request_no), known.get(r.out_request_no)
                    if r.agreement_no not in signed:
                        results[key] = ChargeResult(r.out_request_no, False, "no such agreement")
                    elif row is not None and row.status == "succeeded":
                        same = row.amount == r.amount
                        results[key] = ChargeResult(r.out_request_no, same, "" if same else "amount differs")
                    else:
                        attempt = (row.attempts if row is not None else 0) + 1
                        ok = not self._declines(r.out_request_no, attempt)
                        values = {
                            "m": merchant_id,
                            "n": r.out_request_no,
                            "status": "succeeded" if ok else "failed",
                            "attempts": attempt,
                        }
                        if row is None:
                            inserts.append(
                                {
                                    "merchant_id": merchant_id,
                                    "out_request_no": r.out_request_no,
                                    "agreement_no": r.agreement_no,
                                    "amount": r.amount,
                                    "status": values["status"],
                                    "attempts": attempt,
                                    "charged_at": now if ok else None,
                                    "updated_at": now,
                                }
                            )
                        else:
                            updates.append(values)
                        results[key] = ChargeResult(
                            r.out_request_no, ok, "" if ok else "insufficient balance"
                        )
            connection = session.connection()
            bulk_insert(connection, charges, inserts)
            groups: dict[tuple[str, str, int], list[str]] = {}
            for values in updates:  # one statement per (merchant, outcome, attempt)
                groups.setdefault((values["m"], values["status"], values["attempts"]), []).append(values["n"])
            for (merchant_id, status, attempts), numbers in groups.items():
                connection.execute(
                    charges.update()
                    .where(
                        owned(charges.c, merchant_id),
                        one_of(dialect, charges.c.out_request_no, numbers),
                        charges.c.status == "failed",
                    )
                    .values(
                        status=status,
                        attempts=attempts,
                        charged_at=now if status == "succeeded" else None,
                        updated_at=now,
                    )
                )
        return [results[(r.merchant_id, r.out_request_no)] for r in requests]

    # --- the wallet side: what the buyer and the provider's own machinery do ----------
    def buyer_pays(self, trade_no: str) -> SandboxTrade:
        """The buyer confirms in the wallet: the trade succeeds and a notification is queued."""
        now = self.clock()
        with self.db.unit_of_work() as session:
            trade = session.scalar(select(SandboxTrade).where(SandboxTrade.trade_no == trade_no))
            if trade is None:
                raise NotFound("sandbox.trade_not_found", "No such sandbox trade.")
            paid = session.execute(_PAY, {"m": trade.merchant_id, "t": trade_no, "at": now}).scalar()
            if paid is None:
                session.refresh(trade)
                if trade.status == "TRADE_SUCCESS":
                    return trade
                raise Conflict("sandbox.trade_closed", "This trade is closed and can no longer be paid.")
            emit(
                session,
                merchant_id=trade.merchant_id,
                topic=NOTIFY_TOPIC,
                payload={"merchant_id": trade.merchant_id, "trade_no": trade_no, "event": "trade.paid"},
                now=now,
            )
            return trade

    def notification_for(
        self, merchant_id: str, trade_no: str, event: str
    ) -> tuple[str, bytes, dict[str, str]]:
        """The signed request (url, body, headers) the provider sends for a trade event."""
        with self.db.unit_of_work(write=False) as session:
            trade = session.get(SandboxTrade, (merchant_id, trade_no))
            if trade is None:
                raise NotFound("sandbox.trade_not_found", "No such sandbox trade.")
            data: dict[str, Any] = {
                "notify_id": f"{trade_no}:{event}",
                "event": event,
                "merchant_id": merchant_id,
                "out_trade_no": trade.out_trade_no,
                "trade_no": trade_no,
                "amount": trade.amount,
                "paid_at": trade.paid_at.isoformat() if trade.paid_at else None,
                "sent_at": datetime.now(UTC).isoformat(),
            }
            url = trade.notify_url
        body = json.dumps(data, separators=(",", ":")).encode()
        timestamp = int(self.clock().timestamp())
        return (
            url,
            body,
            {"content-type": "application/json", SIGNATURE_HEADER: sign(self.secret, timestamp, body)},
        )
