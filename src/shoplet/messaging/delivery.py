"""Host-app message adapters: send to a customer's user id in a host app.

A real adapter calls its host's message API (Alipay's life-account push and subscription
messages, ...); the sandbox adapter writes to the sandbox inbox (``SandboxInboxItem``),
which the sandbox API reads and the console shows for the demo customer. Sends are
idempotent on the message id: an item sent twice is one item in the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select

from shoplet.db import Database, insert_new
from shoplet.messaging.models import SandboxInboxItem
from shoplet.scoping import owned


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    host_user_id: str
    kind: str  # "push" or "message"
    title: str
    body: str
    link: str | None


class Messenger(Protocol):
    def send(self, merchant_id: str, host_app: str, items: list[Outgoing], *, now: datetime) -> set[str]:
        """Deliver ``items`` to users of ``host_app``; returns the message ids that failed."""
        ...


class SandboxMessenger:
    """Every host app's stand-in: the message lands in the sandbox inbox."""

    def __init__(self, db: Database, *, unreachable: frozenset[str] = frozenset()) -> None:
        self.db = db
        # Host user ids whose sends fail (tests and the benchmark make failures with them).
        self.unreachable = set(unreachable)

    def send(self, merchant_id: str, host_app: str, items: list[Outgoing], *, now: datetime) -> set[str]:
        failed = {i.message_id for i in items if i.host_user_id in self.unreachable}
        rows = [
            {
                "merchant_id": merchant_id,
                "host_app": host_app,
                "host_user_id": i.host_user_id,
                "message_id": i.message_id,
                "kind": i.kind,
                "title": i.title,
                "body": i.body,
                "link": i.link,
                "received_at": now,
            }
            for i in items
            if i.message_id not in failed
        ]
        if rows:
            with self.db.unit_of_work() as session:
                insert_new(session, SandboxInboxItem, rows)
        return failed


def inbox(
    db: Database, *, merchant_id: str | None, host_app: str, host_user_id: str, limit: int
) -> list[SandboxInboxItem]:
    """What a sandbox user received, newest first (of one merchant, or of all)."""
    with db.unit_of_work(write=False) as session:
        query = select(SandboxInboxItem).where(
            SandboxInboxItem.host_app == host_app, SandboxInboxItem.host_user_id == host_user_id
        )
        if merchant_id is not None:
            query = query.where(owned(SandboxInboxItem, merchant_id))
        return list(
            session.scalars(
                query.order_by(SandboxInboxItem.received_at.desc(), SandboxInboxItem.message_id.desc()).limit(
                    limit
                )
            )
        )
