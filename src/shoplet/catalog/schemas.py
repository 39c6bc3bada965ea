from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shoplet.schemas import Code, Fen, Id, In, Name, Out, Price, SmallDict, Tag


class CategoryIn(In):
    code: str = Code
    name: str = Name
    parent_id: Id | None = None


class CategoryOut(Out):
    id: str
    code: str
    name: str
    parent_id: str | None
    created_at: datetime


class SkuIn(In):
    code: str = Code
    name: str = Field("", max_length=200)
    list_price: Price
    member_price: Price | None = Field(None, description="In fen; at most the list price.")
    light_member_price: Price | None = Field(
        None, description="In fen: the price for light members (轻会员)."
    )
    attributes: SmallDict = Field(default_factory=dict)


class SkuPatch(In):
    name: str | None = Field(None, max_length=200)
    list_price: Price | None = None
    member_price: Price | None = None
    light_member_price: Price | None = None
    status: Literal["active", "archived"] | None = None


class SkuOut(Out):
    id: str
    product_id: str
    code: str
    name: str
    list_price: Fen
    member_price: Fen | None
    light_member_price: Fen | None
    attributes: dict[str, Any]
    status: str


class ProductIn(In):
    title: str = Name
    description: str = Field("", max_length=10_000)
    category_id: Id | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    skus: list[SkuIn] = Field(min_length=1, max_length=200)


class ProductPatch(In):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    category_id: Id | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    status: Literal["active", "archived"] | None = None


class ProductOut(Out):
    id: str
    title: str
    description: str
    category_id: str | None
    tags: list[str]
    status: str
    skus: list[SkuOut]
    created_at: datetime
