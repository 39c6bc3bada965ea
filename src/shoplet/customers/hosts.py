"""Host-app sign-in adapters: turn a host app's one-time auth code into its user id.

A real adapter (Alipay ``alipay.system.oauth.token``, Taobao, ...) calls its host; the
sandbox adapter accepts codes of the form ``sandbox:<host user id>[:<phone>[:verified]]`` so
the whole sign-in flow runs without a network.

A phone links a host user to an existing customer only when the host vouches for it
(``phone_verified``: the host app verified the number, as Alipay's phone authorisation
does); otherwise anyone could sign in as a customer by typing their number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shoplet.errors import Unauthenticated


@dataclass(frozen=True)
class HostUser:
    host_user_id: str
    phone: str | None = None
    phone_verified: bool = False


class HostApp(Protocol):
    def resolve(self, auth_code: str) -> HostUser: ...


class SandboxHostApp:
    """Deterministic stand-in for every host app."""

    def resolve(self, auth_code: str) -> HostUser:
        parts = auth_code.split(":")
        if (
            len(parts) not in (2, 3, 4)
            or parts[0] != "sandbox"
            or not parts[1]
            or (len(parts) == 4 and parts[3] != "verified")
        ):
            raise Unauthenticated("auth.code_invalid", "The host app's sign-in code is not valid.")
        phone = parts[2] if len(parts) >= 3 and parts[2] else None
        return HostUser(
            host_user_id=parts[1], phone=phone, phone_verified=phone is not None and len(parts) == 4
        )
