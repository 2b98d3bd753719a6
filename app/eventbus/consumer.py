"""`daoxiang consume`: a consumer group on the stream `daoxiang:events`.

Each entry is handled in one database transaction that also records its event id in `processed_events`
(unique per group); only after the commit is the entry acknowledged (XACK). So:
- a crash before the commit: the entry stays pending and is delivered again (to us, or, once idle for
  EVENT_CONSUMER_CLAIM_IDLE_MS, taken over by another consumer with XAUTOCLAIM);
- a crash after the commit but before XACK, or the relay publishing an event twice: the event id is
  already recorded, so the entry is acknowledged without a second effect.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope, utcnow
from app.eventbus.models import ProcessedEvent
from app.events import STREAM_NAME
from app.redis import RedisError

log = logging.getLogger("daoxiang.eventbus.consumer")

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[object]]


def _notifications_handler() -> Handler:
    from app.notifications.service import notify_from_event

    return notify_from_event


def _webhooks_handler() -> Handler:
    from app.webhooks.service import fan_out

    return fan_out


# Consumer group → what it does with each event.
HANDLERS: dict[str, Callable[[], Handler]] = {
    "notifications": _notifications_handler,
    "webhooks": _webhooks_handler,
}


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def already_processed(session: AsyncSession, group: str, event_id: str) -> bool:
    found = await session.scalar(
        select(ProcessedEvent.id).where(ProcessedEvent.consumer == group, ProcessedEvent.event_id == event_id)
    )
    return found is not None


async def handle(session: AsyncSession, group: str, envelope: dict[str, Any], handler: Handler) -> bool:
    """Apply one event once. False when this group has already processed that event id."""
    event_id = str(envelope["id"])
    if await already_processed(session, group, event_id):
        return False
    session.add(ProcessedEvent(consumer=group, event_id=event_id, type=str(envelope.get("type", ""))[:64]))
    await session.flush()  # a concurrent duplicate fails here, on the unique (consumer, event_id)
    await handler(session, envelope)
    return True


async def purge_processed(session: AsyncSession, now: datetime | None = None) -> int:
    """Forget processed-event records older than EVENT_PROCESSED_RETENTION_DAYS. An event redelivered after
    that (a consumer group reset over a stream that still holds it) would be handled again, so the window
    should outlast how long events stay in the stream."""
    cutoff = (now or utcnow()) - timedelta(days=get_settings().event_processed_retention_days)
    result = await session.execute(delete(ProcessedEvent).where(ProcessedEvent.processed_at < cutoff))
    return result.rowcount or 0


def parse_entry(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    raw = fields.get(b"event")
    if raw is None:
        return None
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("id"), str) or not envelope["id"]:
        return None
    if len(envelope["id"]) > 64:
        return None
    return envelope


class Consumer:
    def __init__(
        self,
        redis: Redis,
        *,
        group: str | None = None,
        name: str | None = None,
        handler: Handler | None = None,
        batch_size: int = 50,
        block_ms: int | None = None,
        claim_idle_ms: int | None = None,
    ) -> None:
        settings = get_settings()
        self.redis = redis
        self.group = group or settings.event_consumer_group
        self.name = name or default_consumer_name()
        if handler is None:
            if self.group not in HANDLERS:
                raise ValueError(f"no handler for consumer group {self.group!r}; known: {sorted(HANDLERS)}")
            handler = HANDLERS[self.group]()
        self.handler = handler
        self.batch_size = batch_size
        self.block_ms = _block_within_timeout(
            redis, settings.event_consumer_block_ms if block_ms is None else block_ms
        )
        self.claim_idle_ms = settings.event_consumer_claim_idle_ms if claim_idle_ms is None else claim_idle_ms
        self._autoclaim_cursor = "0-0"
        self._own_pending_checked = False
        self._own_cursor: bytes | str = "0"
        self.stats = {"handled": 0, "duplicates": 0, "skipped": 0, "failed": 0}

    async def ensure_group(self) -> None:
        try:
            # From the start of the stream: events published before the first consumer ran are not lost.
            await self.redis.xgroup_create(STREAM_NAME, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _own_pending(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # Entries delivered to this consumer name earlier but never acknowledged (a restart with --name).
        reply = await self.redis.xreadgroup(
            self.group, self.name, {STREAM_NAME: self._own_cursor}, count=self.batch_size
        )
        entries = _entries(reply, keep_deleted=True)
        if entries:
            self._own_cursor = entries[-1][0]
        return [(entry_id, fields) for entry_id, fields in entries if fields is not None]

    async def _claim_abandoned(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        reply = await self.redis.xautoclaim(
            STREAM_NAME,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._autoclaim_cursor,
            count=self.batch_size,
        )
        next_cursor, claimed = reply[0], reply[1]
        self._autoclaim_cursor = next_cursor.decode() if isinstance(next_cursor, bytes) else str(next_cursor)
        deleted = reply[2] if len(reply) > 2 else []
        # Entries trimmed from the stream (MAXLEN) while pending come back as ids only; XAUTOCLAIM
        # already removed them from the pending list.
        if deleted:
            log.warning("pending events were trimmed before delivery", extra={"count": len(deleted)})
        return [(entry_id, fields) for entry_id, fields in claimed if fields is not None]

    async def _new(self, block_ms: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        reply = await self.redis.xreadgroup(
            self.group, self.name, {STREAM_NAME: ">"}, count=self.batch_size, block=block_ms
        )
        return _entries(reply)

    async def process(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        envelope = parse_entry(fields)
        if envelope is None:
            log.error("malformed stream entry dropped", extra={"entry_id": entry_id.decode()})
            self.stats["skipped"] += 1
        else:
            try:
                async with session_scope() as session:
                    fresh = await handle(session, self.group, envelope, self.handler)
            except IntegrityError:
                fresh = False  # another consumer recorded the same event id first
            self.stats["handled" if fresh else "duplicates"] += 1
        await self.redis.xack(STREAM_NAME, self.group, entry_id)

    async def run_once(self, *, block: bool = True) -> int:
        """One round: our own pending entries, abandoned ones, then new ones. Returns entries processed."""
        entries = []
        if not self._own_pending_checked:
            entries = await self._own_pending()
            self._own_pending_checked = not entries
        if not entries:
            entries = await self._claim_abandoned()
        if not entries:
            entries = await self._new(self.block_ms if block else None)
        for entry_id, fields in entries:
            try:
                await self.process(entry_id, fields)
            except (RedisError, OSError):
                raise
            except Exception:
                # Not acknowledged: it stays pending and is retried once idle (XAUTOCLAIM).
                log.exception("event handler failed", extra={"entry_id": entry_id.decode()})
                self.stats["failed"] += 1
        return len(entries)

    async def run_until_idle(self) -> int:
        """Process everything available now, without blocking (tests, `consume --once`)."""
        total = 0
        while True:
            processed = await self.run_once(block=False)
            if not processed:
                return total
            total += processed

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        await self.ensure_group()
        log.info("consumer started", extra={"group": self.group, "consumer": self.name})
        while not stop.is_set():
            try:
                await self.run_once()
            except (RedisError, OSError) as exc:
                log.warning("redis unavailable; retrying", extra={"error": str(exc)[:200]})
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    await self.ensure_group()  # the stream was deleted under us
                try:
                    await asyncio.wait_for(stop.wait(), timeout=2)
                except TimeoutError:
                    pass


def _block_within_timeout(redis: Redis, block_ms: int) -> int:
    """A blocking read must end before the client's socket timeout, or an idle stream looks like a dead
    Redis (a timeout error, "redis unavailable", a pause). Blocks no longer than the timeout allows."""
    timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    if timeout is None:
        return block_ms
    return max(1, min(block_ms, int(timeout * 1000 * 0.8)))


def _entries(reply: Any, *, keep_deleted: bool = False) -> list[tuple[bytes, Any]]:
    if not reply:
        return []
    # RESP2: [[stream, [(id, fields), ...]]]; RESP3: {stream: [[(id, fields), ...]]}
    if isinstance(reply, dict):
        streams = list(reply.values())
        items = streams[0][0] if streams and streams[0] and isinstance(streams[0][0], list) else []
    else:
        items = reply[0][1]
    return [(entry_id, fields) for entry_id, fields in items if keep_deleted or fields is not None]
