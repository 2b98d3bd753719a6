from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.eventbus import consumer, relay

MAX_BATCHES_PER_TICK = 10


async def relay_events(session: AsyncSession) -> int:
    """Every tick: publish due outbox events to the Redis stream, a batch per transaction."""
    batch_size = get_settings().event_relay_batch_size
    total = 0
    for _ in range(MAX_BATCHES_PER_TICK):
        published = await relay.relay_once(session, limit=batch_size)
        total += published
        if published < batch_size:
            break
        await session.commit()
    return total


async def purge_published_events(session: AsyncSession) -> int:
    return await relay.purge_published(session)


async def purge_processed_events(session: AsyncSession) -> int:
    return await consumer.purge_processed(session)
