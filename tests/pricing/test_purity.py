"""``shoplet.pricing`` is pure: it imports nothing from the rest of the project, no ORM, no I/O."""

import ast
from pathlib import Path

import shoplet.pricing

# pure: no I/O, no clock
ALLOWED = {"__future__", "collections", "dataclasses", "datetime", "math", "operator", "typing"}


def test_pricing_imports_only_itself_and_the_standard_library():
    package = Path(shoplet.pricing.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.startswith("shoplet.pricing") or name.split(".")[0] in ALLOWED, (
                    f"{path.name}: {name}"
                )
