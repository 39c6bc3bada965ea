"""Which error codes each operation can return, for the OpenAPI document.

Every code a caller can meet is in :data:`shoplet.error_codes.CODES` (status, title, what it
means). This module finds, for each route, the codes its endpoint and its dependencies can
raise: it reads Shoplet's own source once (the AST, never executing it), notes the codes each
function raises directly (``Conflict("order.not_payable", ...)``, ``get_owned(..., what=, code=)``,
``code="..."`` handed to a helper) and the functions it calls, and follows the calls. The
result over-approximates (a branch that cannot happen still counts) and is checked against
reality by the test suite, which records every problem response it sees and fails when one
is not declared for its operation (``tests/conftest.py``).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from shoplet.error_codes import CODES, EVERY_REQUEST, STATUS_TITLES

ERROR_CLASSES = {
    "InvalidInput",
    "Unauthenticated",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Unprocessable",
    "Unavailable",
    "ShopletError",
    "BodyTooLarge",
}
# Method names too common to follow by name alone (``session.get``, ``dict.update``, ...).
_COMMON = {"get", "add", "update", "run", "execute", "close", "items", "values", "keys", "append", "set"}


@dataclass
class _Function:
    codes: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)  # fully qualified names
    methods: set[str] = field(default_factory=set)  # attribute calls we could not resolve


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> str | None:
    for k in call.keywords:
        if k.arg == name:
            return _literal(k.value)
    return None


def _not_found(what: str, code: str | None) -> str:
    return f"{code or what.lower().replace(' ', '_')}.not_found"


def _codes_of_call(call: ast.Call) -> Iterable[str]:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name in ERROR_CLASSES and call.args:
        code = _literal(call.args[0])
        if code:
            yield code
    if name == "of" and isinstance(func, ast.Attribute) and call.args:  # NotFound.of("Order", "order")
        what = _literal(call.args[0])
        if what:
            yield _not_found(what, _literal(call.args[1]) if len(call.args) > 1 else None)
    if name == "get_owned":
        what = _keyword(call, "what")
        if what:
            yield _not_found(what, _keyword(call, "code"))
    # A code handed to a helper that raises it (``_check_pack(..., "tier.unknown_coupon")``,
    # ``stopped_code="promotion.stopped"``): any literal argument that is a known code.
    for argument in [*call.args, *(k.value for k in call.keywords)]:
        text = _literal(argument)
        if text and text in CODES:
            yield text


class _Module(ast.NodeVisitor):
    def __init__(self, name: str, package: str, index: dict[str, _Function], methods: dict[str, set[str]]):
        self.name, self.package, self.index, self.methods = name, package, index, methods
        self.imports: dict[str, str] = {}  # local name -> qualified name (module or symbol)
        self.stack: list[str] = []
        self.constants: dict[str, set[str]] = {}  # module-level name -> the codes its value holds

    def visit_Module(self, node: ast.Module) -> None:
        # Codes kept in module-level tables (``GATE_REFUSALS = {-2: ("coupon.limit_reached", ...)}``)
        # count for every function that reads the table.
        for statement in node.body:
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign) and statement.value is not None
                else []
            )
            value = getattr(statement, "value", None)
            if value is None:
                continue
            codes = {
                text for child in ast.walk(value) if (text := _literal(child)) is not None and text in CODES
            }
            for target in targets:
                if isinstance(target, ast.Name) and codes:
                    self.constants[target.id] = codes
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            self.imports[alias.asname or alias.name] = f"{base}.{alias.name}"

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports[alias.asname or alias.name.split(".")[0]] = alias.name

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        qualified = ".".join([self.name, *self.stack, node.name])
        if self.stack and self.stack[-1][:1].isupper():
            self.methods.setdefault(node.name, set()).add(qualified)
        record = self.index.setdefault(qualified, _Function())
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and child.id in self.constants:
                record.codes.update(self.constants[child.id])
            if not isinstance(child, ast.Call):
                continue
            record.codes.update(_codes_of_call(child))
            target = self._resolve(child.func)
            if target:
                record.calls.add(target)
            elif isinstance(child.func, ast.Attribute):
                record.methods.add(child.func.attr)
        self.stack.append(node.name)
        self.stack.append("<locals>")
        self.generic_visit(node)
        self.stack.pop()
        self.stack.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _resolve(self, func: ast.expr) -> str | None:
        if isinstance(func, ast.Name):
            if func.id in self.imports:
                return self.imports[func.id]
            return f"{self.name}.{func.id}"  # a function of this module (or a builtin: unknown, ignored)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in self.imports:
                return f"{self.imports[owner]}.{func.attr}"
        return None


@cache
def _index() -> tuple[dict[str, _Function], dict[str, set[str]]]:
    root = Path(str(resources.files("shoplet")))
    index: dict[str, _Function] = {}
    methods: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] == "migrations":
            continue
        parts = ["shoplet", *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        _Module(name, package, index, methods).visit(ast.parse(path.read_text(encoding="utf-8")))
    return index, methods


def codes_of(functions: Iterable[str]) -> set[str]:
    """Every code the named functions (``module.qualname``) and what they call can raise."""
    index, methods = _index()
    seen: set[str] = set()
    todo = list(functions)
    codes: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        record = index.get(name)
        if record is None:
            # A class (its constructor is __init__) or a nested function reached by its outer name.
            todo.extend(n for n in (f"{name}.__init__",) if n in index)
            continue
        codes |= record.codes
        todo.extend(record.calls)
        for method in record.methods - _COMMON:
            owners = methods.get(method, set())
            if 0 < len(owners) <= 3:  # an unambiguous method of one of our classes
                todo.extend(owners)
    return {c for c in codes if c in CODES}


def _name(function: Callable[..., Any]) -> str:
    function = inspect.unwrap(function)
    qualname = getattr(function, "__qualname__", None) or type(function).__qualname__  # a callable object
    module = getattr(function, "__module__", None) or type(function).__module__
    return f"{module}.{qualname}"


def _dependencies(dependant: Dependant) -> Iterable[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependencies(sub)


def route_codes(route: APIRoute, dynamic: Iterable[Callable[..., Any]] = ()) -> set[str]:
    """The codes this route can answer with: its endpoint's, its dependencies', the request
    checks every operation has, and ``dynamic`` (functions reached through the runtime, such
    as the credential verifiers, when the route authenticates)."""
    functions = [_name(route.endpoint), *(_name(d) for d in _dependencies(route.dependant))]
    if any(f == "shoplet.auth.authenticate" for f in functions):
        functions += [_name(d) for d in dynamic]
    return codes_of(functions) | set(EVERY_REQUEST)


def _response(status: int, codes: list[str]) -> dict[str, Any]:
    examples = {
        code: {
            "summary": CODES[code].meaning,
            "value": {
                "type": f"https://shoplet.dev/problems/{code}",
                "title": CODES[code].title,
                "status": status,
                "code": code,
                "detail": CODES[code].meaning,
            },
        }
        for code in codes
    }
    return {
        "description": f"{STATUS_TITLES.get(status, 'Error')}: " + ", ".join(f"`{c}`" for c in codes),
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "examples": examples,
            }
        },
    }


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error (RFC 9457 problem details). Branch on `code`: it is stable.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "enum": sorted(CODES)},
        "detail": {"type": "string", "description": "A sentence for a person."},
        "error_id": {"type": "string", "description": "On 500s: quote it when you report the error."},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "On request.invalid."},
    },
}


def document(app: FastAPI, schema: dict[str, Any], dynamic: Iterable[Callable[..., Any]] = ()) -> None:
    """Add each operation's problem responses (by status, every code with its meaning) and
    the ``Problem`` schema to an OpenAPI ``schema`` FastAPI generated for ``app``."""
    dynamic = list(dynamic)
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for context in iter_route_contexts(app.routes):  # flattens included routers
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        by_status: dict[int, list[str]] = {}
        for code in sorted(route_codes(route, dynamic)):
            for status in (CODES[code].status, *CODES[code].also):
                by_status.setdefault(status, []).append(code)
        path = schema["paths"].get(context.path_format or route.path_format, {})
        for method in route.methods or ():
            operation = path.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, codes in sorted(by_status.items()):
                responses[str(status)] = _response(status, codes)
            operation["x-problem-codes"] = sorted({c for codes in by_status.values() for c in codes})
