"""Base models for request and response bodies, and the checks every update body shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class InputModel(BaseModel):
    """Request bodies: unknown fields are rejected, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def reject_nulls(data: Any, allowed: frozenset[str] | set[str] = frozenset()) -> Any:
    """For a partial update's `model_validator(mode="before")`: a field may be left out but not sent as null,
    except the `allowed` ones where null means "remove it"."""
    if isinstance(data, dict):
        nulls = [k for k, v in data.items() if v is None and k not in allowed]
        if nulls:
            raise ValueError(f"fields may be left out but not set to null: {', '.join(nulls)}")
    return data
