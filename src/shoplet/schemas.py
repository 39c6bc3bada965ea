"""Schema pieces shared by every domain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Fen = int  # money, in fen (1/100 yuan)


class Out(BaseModel):
    """Base of response models: read straight from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    """Base of request models: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Name = Field(min_length=1, max_length=200)
Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
