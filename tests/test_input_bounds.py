"""Every request model is strict and bounded: the build checks it, so a new field cannot
forget its upper bound (a 2**63 stock once reached the database and answered 500)."""

from __future__ import annotations

import types
import typing
from datetime import datetime

import annotated_types
import pytest
from pydantic import BaseModel

import shoplet.app  # noqa: F401  (imports every domain's schemas)
from shoplet.schemas import In


def _request_models() -> list[type[In]]:
    found, stack = [], [In]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.append(sub)
            stack.append(sub)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _strip_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _metadata(annotation, field_metadata):
    meta = list(field_metadata)
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        meta.extend(extra)
    expanded = []
    for m in meta:  # Field(...) inside Annotated carries its constraints as metadata
        expanded.extend([m, *getattr(m, "metadata", [])])
    return annotation, expanded


def _has_upper(meta) -> bool:
    return any(
        isinstance(m, (annotated_types.Le, annotated_types.Lt, annotated_types.MaxLen))
        or getattr(m, "le", None) is not None
        or getattr(m, "lt", None) is not None
        or getattr(m, "max_length", None) is not None
        for m in meta
    )


def _problems(model: type[BaseModel]) -> list[str]:
    problems = []
    for name, field in model.model_fields.items():
        annotation, meta = _metadata(_strip_optional(field.annotation), field.metadata)
        annotation = _strip_optional(annotation)
        annotation, meta2 = _metadata(annotation, [])
        meta += meta2
        origin = typing.get_origin(annotation)
        if annotation is int and not _has_upper(meta):
            problems.append(f"{name}: an int without an upper bound")
        if origin in (list, set, tuple) and not _has_upper(meta):
            problems.append(f"{name}: a list without max_length")
        if origin is list:
            item, item_meta = _metadata(typing.get_args(annotation)[0], [])
            if item is int and not _has_upper(item_meta):
                problems.append(f"{name}: list items without an upper bound")
        if annotation is datetime or getattr(annotation, "__name__", "") == "AwareDatetime":
            if not any(getattr(m, "func", None).__name__ == "_in_range" for m in meta if hasattr(m, "func")):
                problems.append(f"{name}: a time that is not an Instant (2000–2100, with an offset)")
    return problems


@pytest.mark.parametrize("model", _request_models(), ids=lambda m: m.__qualname__)
def test_every_request_field_is_bounded(model):
    assert model.model_config.get("strict") is True
    assert _problems(model) == []
