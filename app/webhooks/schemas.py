from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from app.kit.schemas import InputModel, OutputModel

EventType = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$", max_length=64)
]

CREATE_EXAMPLE = {
    "url": "https://erp.example.com/daoxiang/events",
    "event_types": ["order.paid", "order.shipped"],
}


class WebhookCreate(InputModel):
    """`event_types`: CloudEvents `type`s as in docs/event-schemas (`order.paid`, `order.shipped`, …)."""

    model_config = ConfigDict(json_schema_extra={"example": CREATE_EXAMPLE})

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=100)]

    @field_validator("event_types")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class WebhookRead(OutputModel):
    id: int
    url: str
    event_types: list[str]
    is_active: bool
    created_at: datetime
    disabled_at: datetime | None


class WebhookCreated(WebhookRead):
    """The secret is shown once, here: the receiver checks `X-Daoxiang-Signature` with it."""

    secret: str


class DeliveryRead(OutputModel):
    """One attempt to deliver one event."""

    id: int
    message_id: int
    event_id: str
    event_type: str
    attempt: int
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    manual: bool
    attempted_at: datetime


class RedeliveryRead(OutputModel):
    message_id: int
    event_id: str
    status: str
    next_attempt_at: datetime
