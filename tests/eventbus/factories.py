"""Plain factory functions for events, stream access and consumers in tests."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from app.db import session_scope
from app.eventbus.consumer import Consumer
from app.events import STREAM_NAME, OutboxEvent, emit
from app.redis import get_redis

# Nothing listens here: connecting is refused at once, like a Redis that is down.
DOWN_REDIS_URL = "redis://127.0.0.1:1/0"


def real_redis() -> Redis:
    client = get_redis()
    if client is None:
        pytest.skip("needs Redis: set TEST_REDIS_URL")
    return client


def down_redis() -> Redis:
    return Redis.from_url(DOWN_REDIS_URL, socket_connect_timeout=0.2, socket_timeout=0.2)


async def emit_registered(user_id: int = 1, **data: Any) -> OutboxEvent:
    """A user.registered event in its own committed transaction."""
    payload = {"user_id": user_id, "role": "customer", "registered_at": "2026-11-25T13:05:00+00:00"} | data
    async with session_scope() as session:
        event = await emit(session, "user.registered", payload, subject=f"user/{user_id}")
    return event


async def outbox() -> list[OutboxEvent]:
    async with session_scope() as session:
        return list((await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all())


async def stream_envelopes(redis: Redis) -> list[dict[str, Any]]:
    entries = await redis.xrange(STREAM_NAME)
    return [orjson.loads(fields[b"event"]) for _entry_id, fields in entries]


async def add_entry(redis: Redis, envelope: dict[str, Any] | bytes) -> bytes:
    raw = envelope if isinstance(envelope, bytes) else orjson.dumps(envelope)
    return await redis.xadd(STREAM_NAME, {"event": raw})


def envelope(event_type: str, data: dict[str, Any], event_id: str = "e-1") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/daoxiang",
        "type": event_type,
        "time": "2026-11-25T13:05:00+00:00",
        "dataschema": f"https://daoxiang.example/event-schemas/{event_type}.v1.json",
        "data": data,
    }


async def consumer(redis: Redis, name: str = "c1", **kwargs: Any) -> Consumer:
    c = Consumer(redis, group="notifications", name=name, **kwargs)
    await c.ensure_group()
    return c
