"""What light membership needs from the outside world: a credit provider that admits or
refuses a customer, and a deduction-agreement (withholding, 代扣) provider that charges a
signed agreement. Both are interfaces; the sandbox implements them, real providers are
adapters. Charges are idempotent on ``out_request_no``: asking again for the same number
answers with the first outcome instead of charging again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CreditDecision:
    admitted: bool
    score: int
    reason: str = ""


class CreditProvider(Protocol):
    def assess(
        self, *, merchant_id: str, customer_id: str, tags: list[str], min_score: int
    ) -> CreditDecision: ...


@dataclass(frozen=True)
class ChargeRequest:
    merchant_id: str
    agreement_no: str
    out_request_no: str
    amount: int


@dataclass(frozen=True)
class ChargeResult:
    out_request_no: str
    succeeded: bool
    message: str = ""


class AgreementProvider(Protocol):
    def sign_agreement(self, *, merchant_id: str, customer_id: str, plan_id: str) -> str: ...

    def charge_agreements(self, requests: list[ChargeRequest]) -> list[ChargeResult]: ...


class SandboxCreditScorer:
    """A deterministic credit score in 0..1000 from the customer's id (a test can pin one
    with a ``credit:NNN`` tag on the customer)."""

    def assess(
        self, *, merchant_id: str, customer_id: str, tags: list[str], min_score: int
    ) -> CreditDecision:
        pinned = [t.split(":", 1)[1] for t in tags if t.startswith("credit:") and t[7:].isdigit()]
        if pinned:
            score = min(int(pinned[0]), 1000)
        else:
            digest = hashlib.sha256(f"{merchant_id}:{customer_id}".encode()).digest()
            score = int.from_bytes(digest[:4], "big") % 1001
        if score < min_score:
            return CreditDecision(False, score, f"A credit score of {min_score} is needed; yours is {score}.")
        return CreditDecision(True, score)
