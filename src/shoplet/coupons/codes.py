"""Coupon codes: unguessable, easy to read out, with a check symbol that catches typos.

Twelve Crockford base-32 symbols (60 random bits) plus the Crockford mod-37 check symbol,
shown as ``XXXX-XXXX-XXXX-C``. Reading is forgiving: case, hyphens, spaces, and the
look-alikes O→0, I/L→1 are normalised before the check.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK = ALPHABET + "*~$=U"
DATA_LENGTH = 12


def _check_symbol(data: str) -> str:
    value = 0
    for char in data:
        value = value * 32 + ALPHABET.index(char)
    return CHECK[value % 37]


def new_code() -> str:
    data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_LENGTH))
    return data + _check_symbol(data)


def display(code: str) -> str:
    return f"{code[0:4]}-{code[4:8]}-{code[8:12]}-{code[12:]}"


def normalise(text: str) -> str | None:
    """The canonical code, or None when it is malformed or its check symbol is wrong."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != DATA_LENGTH + 1:
        return None
    data, check = cleaned[:DATA_LENGTH], cleaned[DATA_LENGTH:]
    if any(c not in ALPHABET for c in data) or _check_symbol(data) != check:
        return None
    return cleaned
