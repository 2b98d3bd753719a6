from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.eventbus import consumer, relay
from app.worker import job

MAX_BATCHES_PER_TICK = 10


@job("events.relay")
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


@job("events.purge_published", every_seconds=3600)
async def purge_published_events(session: AsyncSession) -> int:
    return await relay.purge_published(session)


@job("events.purge_processed", every_seconds=3600)
async def purge_processed_events(session: AsyncSession) -> int:
    return await consumer.purge_processed(session)
