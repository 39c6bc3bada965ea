"""Ids: ``prefix_`` + 26 Crockford base32 characters of (milliseconds << 80 | 80 random
bits), most significant first, so they sort by creation time."""

from __future__ import annotations

import random

from shoplet import db
from shoplet.db import new_id

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _digits(value: int) -> str:
    """The definition, one 5-bit digit at a time."""
    out = []
    for _ in range(26):
        out.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def test_the_encoding_is_base32_of_the_value(monkeypatch):
    rng = random.Random(7)
    times = [
        0,
        1,
        1_700_000_000_000,
        *(rng.randrange(1_600_000_000_000, 3_000_000_000_000) for _ in range(2000)),
    ]
    for millis in times:
        if int(millis / 1000 * 1000) != millis:
            continue  # the float clock cannot give this millisecond
        noise = rng.choice([0, 2**80 - 1, rng.getrandbits(80)])
        value = millis << 80 | noise
        monkeypatch.setattr(db.time, "time", lambda m=millis: m / 1000)
        monkeypatch.setattr(db.os, "urandom", lambda n, r=noise: r.to_bytes(n, "big"))
        assert new_id("ev") == f"ev_{_digits(value)}"


def test_ids_sort_by_time_and_differ(monkeypatch):
    ids = []
    for millis in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000):
        monkeypatch.setattr(db.time, "time", lambda m=millis: m / 1000)
        ids += [new_id("ord") for _ in range(50)]
    assert len(set(ids)) == 150
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)
    assert all(len(i) == 30 and set(i[4:]) <= set(ALPHABET) for i in ids)
