"""Tenant scoping is written in one place: ``shoplet/scoping.py``.

Outside it, no code compares ``merchant_id`` itself: tenant filters are ``owned(Model,
merchant_id)`` / ``scoped(...)`` and joins ``same_tenant(A, B)``, so
a reviewer checks one module, and a query that forgets its tenant stands out. Migrations
are frozen history (raw SQL of their day) and are not walked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import shoplet

ROOT = Path(shoplet.__file__).parent
ALLOWED = {ROOT / "scoping.py"}


def violations(source: str, filename: str = "<source>") -> list[str]:
    """``file:line`` of every ``<x>.merchant_id ==`` (or ``!=``) comparison in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        if any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops) and any(
            isinstance(o, ast.Attribute) and o.attr == "merchant_id" for o in operands
        ):
            found.append(f"{filename}:{node.lineno}")
    return found


def test_the_check_sees_an_inline_tenant_filter() -> None:
    source = "stmt = select(Order).where(Order.merchant_id == merchant_id, Order.id == order_id)\n"
    assert violations(source) == ["<source>:1"]
    join = "q = select(A).join(B, B.merchant_id == A.merchant_id)\n"
    assert violations(join) == ["<source>:1"]
    assert violations("stmt = scoped(Order, merchant_id).where(Order.id == order_id)\n") == []
    # A comparison of a plain value (not a column) is not a filter.
    assert violations("same = order['merchant_id'] == merchant_id\n") == []


def test_no_tenant_filter_outside_scoping() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path in ALLOWED or "migrations" in path.relative_to(ROOT).parts:
            continue
        found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, (
        "tenant filters written inline; use shoplet.scoping (owned / scoped / "
        "same_tenant): " + ", ".join(found)
    )
