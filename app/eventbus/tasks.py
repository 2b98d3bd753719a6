from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope
from app.eventbus import consumer, relay

MAX_BATCHES_PER_TICK = 10


async def relay_events(session: AsyncSession) -> int:
    """Every tick: publish due outbox events to the Redis stream, each batch its own transaction (the job's
    own session stays unused: on SQLite a writing second session would wait on it)."""
    batch_size = get_settings().event_relay_batch_size
    total = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        async with session_scope() as batch_session:
            published = await relay.relay_once(batch_session, limit=batch_size)
        total += published
        if published < batch_size:
            break
    return total


async def purge_published_events(session: AsyncSession) -> int:
    return await relay.purge_published(session)


async def purge_processed_events(session: AsyncSession) -> int:
    return await consumer.purge_processed(session)
