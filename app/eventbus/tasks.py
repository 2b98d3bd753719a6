import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.eventbus import consumer, relay
from app.worker import job, loop

MAX_BATCHES = 1000  # --once ends even while checkout keeps adding events


@loop("events.relay")
async def relay_continuously(stop: asyncio.Event) -> None:
    """`daoxiang worker`: publish outbox events as they come, batch after batch while there is a backlog."""
    await relay.relay_forever(stop)


@job("events.relay")
async def relay_events(session: AsyncSession) -> int:
    """`daoxiang worker --once`: publish every due outbox event, a batch per transaction."""
    batch_size = get_settings().event_relay_batch_size
    total = 0
    for _ in range(MAX_BATCHES):
        published = await relay.relay_once(session, limit=batch_size)
        total += published
        if published < batch_size:
            return total
        await session.commit()
    return total


@job("events.purge_published", every_seconds=3600)
async def purge_published_events(session: AsyncSession) -> int:
    return await relay.purge_published(session)


@job("events.purge_processed", every_seconds=3600)
async def purge_processed_events(session: AsyncSession) -> int:
    return await consumer.purge_processed(session)
