"""The list of time zone names is read from disk once per process, however many requests
need it at the same moment (each listing opens every file of the time zone database)."""

from __future__ import annotations

import threading
import zoneinfo

from shoplet import schemas


def test_zone_names_are_listed_once_under_concurrency(monkeypatch):
    calls = []
    real = zoneinfo.available_timezones

    def counting() -> set[str]:
        calls.append(1)
        return real()

    monkeypatch.setattr(zoneinfo, "available_timezones", counting)
    monkeypatch.setattr(schemas, "_ZONES", None)
    start = threading.Barrier(16)
    seen: list[frozenset[str]] = []

    def ask() -> None:
        start.wait()
        seen.append(schemas.known_zones())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(seen) == 16 and all(s is seen[0] for s in seen)
    assert "Asia/Shanghai" in seen[0]
    assert str(schemas.zone_named("Asia/Shanghai")) == "Asia/Shanghai"
    assert str(schemas.zone_named("Not/AZone")) == "UTC"
