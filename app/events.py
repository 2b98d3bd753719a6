"""Domain events: CloudEvents 1.0 envelopes written to the outbox in the same transaction as the change.

Publishing (outbox → Redis stream `daoxiang:events`) is the relay's job; see app.eventbus.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, UTCDateTime, utcnow

EVENT_SOURCE = "/daoxiang"
STREAM_NAME = "daoxiang:events"


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "published_at", "next_attempt_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    subject: Mapped[str | None] = mapped_column(String(128), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Which relay run claimed the row (SQLite claims by a conditional update, see app.eventbus.relay).
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)

    def envelope(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.event_id,
            "source": EVENT_SOURCE,
            "type": self.type,
            "time": self.occurred_at.isoformat(),
            "datacontenttype": "application/json",
            "dataschema": schema_uri(self.type, self.version),
            "data": self.data,
        }
        # CloudEvents: an optional attribute, when present, is a non-empty string.
        if self.subject:
            envelope["subject"] = self.subject
        return envelope


def schema_uri(event_type: str, version: int = 1) -> str:
    return f"https://daoxiang.example/event-schemas/{event_type}.v{version}.json"


async def emit(
    session: AsyncSession,
    event_type: str,
    data: dict[str, Any],
    *,
    subject: str | None = None,
    version: int = 1,
) -> OutboxEvent:
    """Record a domain event in the caller's transaction. `data` must be JSON-ready (ints, strings, ISO times)."""
    event = OutboxEvent(**outbox_row(event_type, data, subject=subject, version=version))
    session.add(event)
    return event


def outbox_row(
    event_type: str, data: dict[str, Any], *, subject: str | None = None, version: int = 1
) -> dict[str, Any]:
    """The column values of a new outbox row (for `emit`, and for writers that bypass the ORM)."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "version": version,
        "subject": subject,
        "occurred_at": utcnow(),
        "data": data,
        "attempts": 0,
    }
