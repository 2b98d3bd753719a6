"""The outbox relay: unpublished outbox rows → the Redis stream `daoxiang:events`, at least once.

One relay run is one transaction: claim a batch, XADD every envelope (one pipelined round trip), mark the
batch published (one UPDATE), commit. The worker runs them back to back while there is a backlog (a full
batch: `relay_forever`), so publishing keeps up with checkout; once a batch comes back short of full (the
backlog is out), it looks again after EVENT_RELAY_POLL_SECONDS, so that under steady load events gather into
batches instead of a transaction per handful of events competing with checkout for the CPU.
A process killed after XADD but before the commit leaves the rows unpublished (the transaction rolls back),
so the next run publishes them again: a duplicate, never a loss. Consumers drop duplicates by event `id`.

Claims are safe with several workers: on MariaDB the batch is read `FOR UPDATE SKIP LOCKED` (each worker
gets other rows); on SQLite the claim is a conditional UPDATE, which takes the database's single write
lock until the commit, so a second relay waits and then finds the rows already published. One relay
publishes in outbox order; with several, batches may interleave in the stream (consumers do not rely on
the order: each event is handled on its own and de-duplicated by id).

Redis down: the rows get `attempts + 1` and `next_attempt_at` with exponential backoff, and stay in the
outbox. No Redis configured: nothing is claimed; the outbox keeps everything until one is.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from redis.asyncio import Redis
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope, utcnow
from app.events import STREAM_NAME, OutboxEvent
from app.redis import RedisError, get_redis

log = logging.getLogger("daoxiang.eventbus.relay")

PUBLISH_ERRORS = (RedisError, OSError, TimeoutError)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones: base, 2×base, 4×base, … up to the cap."""
    settings = get_settings()
    seconds = settings.event_relay_backoff_seconds * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.event_relay_backoff_max_seconds))


def _due(now: datetime):
    return and_(
        OutboxEvent.published_at.is_(None),
        or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= now),
    )


async def claim(session: AsyncSession, *, limit: int, now: datetime | None = None) -> list[OutboxEvent]:
    """Lock a batch of due, unpublished events for this transaction, oldest first."""
    now = now or utcnow()
    if session.get_bind().dialect.name == "sqlite":
        token = secrets.token_hex(16)
        oldest_due = select(OutboxEvent.id).where(_due(now)).order_by(OutboxEvent.id).limit(limit)
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(oldest_due.scalar_subquery()))
            .values(claim_token=token)
            .execution_options(synchronize_session=False)
        )
        query = select(OutboxEvent).where(OutboxEvent.claim_token == token)
    else:
        query = select(OutboxEvent).where(_due(now)).limit(limit).with_for_update(skip_locked=True)
    rows = (
        await session.scalars(query.order_by(OutboxEvent.id).execution_options(populate_existing=True))
    ).all()
    return list(rows)


def serialize(event: OutboxEvent) -> bytes:
    return orjson.dumps(event.envelope())


async def publish(redis: Redis, events: Sequence[OutboxEvent]) -> list[bytes]:
    """XADD each envelope (one entry per event, a single field `event`); returns the stream entry ids."""
    maxlen = get_settings().event_stream_maxlen
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(STREAM_NAME, {"event": serialize(event)}, maxlen=maxlen, approximate=True)
        return await pipe.execute()


async def mark_published(session: AsyncSession, events: Sequence[OutboxEvent], now: datetime) -> None:
    # One statement for the batch (an executemany by primary key was one round trip per row).
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([e.id for e in events]))
        .values(published_at=now, attempts=OutboxEvent.attempts + 1, last_error=None, claim_token=None)
        .execution_options(synchronize_session=False)
    )


async def record_failure(
    session: AsyncSession, attempts_by_id: dict[int, int], error: BaseException, now: datetime
) -> None:
    message = f"{type(error).__name__}: {error}"[:255]
    for event_id, attempts in attempts_by_id.items():
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id, OutboxEvent.published_at.is_(None))
            .values(
                attempts=attempts + 1,
                next_attempt_at=now + backoff(attempts + 1),
                last_error=message,
                claim_token=None,
            )
        )


async def relay_once(
    session: AsyncSession,
    redis: Redis | None = None,
    *,
    limit: int | None = None,
    now: datetime | None = None,
) -> int:
    """Publish one batch in the caller's transaction; returns how many events were published."""
    redis = redis if redis is not None else get_redis()
    if redis is None:
        return 0
    now = now or utcnow()
    events = await claim(session, limit=limit or get_settings().event_relay_batch_size, now=now)
    if not events:
        return 0
    attempts_by_id = {e.id: e.attempts for e in events}
    try:
        await publish(redis, events)
    except PUBLISH_ERRORS as exc:
        # Note the failed try; clearing claim_token gives the claim back, and the caller's commit releases
        # the row locks.
        await record_failure(session, attempts_by_id, exc, now)
        log.warning(
            "event publish failed; will retry", extra={"events": len(attempts_by_id), "error": str(exc)[:200]}
        )
        return 0
    await mark_published(session, events, now)
    return len(events)


async def relay_forever(stop: asyncio.Event, redis: Redis | None = None) -> None:
    """The worker's relay: publish batch after batch, each in its own transaction, as long as there is a
    backlog (each batch full); after a batch short of full, or none, look again after
    EVENT_RELAY_POLL_SECONDS (an event waits at most about that long). Several workers may run
    it at once (the claims skip each other's rows). A failure (database down) is logged and retried after a
    pause; Redis down is handled per batch by `relay_once` (backoff on the rows)."""
    settings = get_settings()
    pause = settings.event_relay_poll_seconds
    while not stop.is_set():
        try:
            async with session_scope() as session:
                published = await relay_once(session, redis, limit=settings.event_relay_batch_size)
            pause = settings.event_relay_poll_seconds
        except Exception as exc:  # noqa: BLE001 - the loop must outlive a database outage
            log.warning("event relay failed; retrying", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
            published, pause = 0, min(max(pause * 2, 1.0), 30.0)
        if published >= settings.event_relay_batch_size:
            continue  # a backlog: the next batch at once
        try:
            await asyncio.wait_for(stop.wait(), timeout=pause)
        except TimeoutError:
            pass


async def drain(redis: Redis | None = None, *, max_batches: int = 1000) -> int:
    """Run the relay until nothing is due (each batch in its own transaction). For the CLI and tests."""
    total = 0
    for _ in range(max_batches):
        async with session_scope() as session:
            published = await relay_once(session, redis)
        total += published
        if not published:
            break
    return total


async def purge_published(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete published outbox rows older than EVENT_OUTBOX_RETENTION_DAYS (the stream has them)."""
    cutoff = (now or utcnow()) - timedelta(days=get_settings().event_outbox_retention_days)
    result = await session.execute(
        delete(OutboxEvent).where(OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < cutoff)
    )
    return result.rowcount or 0
