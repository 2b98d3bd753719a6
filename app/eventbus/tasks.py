import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope
from app.eventbus import consumer, relay
from app.redis import get_redis

MAX_BATCHES = 1000  # --once ends even while checkout keeps adding events


async def relay_continuously(stop: asyncio.Event) -> None:
    """`daoxiang worker`: publish outbox events as they come, batch after batch while there is a backlog."""
    await relay.relay_forever(stop)


async def relay_events(session: AsyncSession) -> int:
    """`daoxiang worker --once`: publish every due outbox event, each batch its own transaction (the job's
    own session stays unused: on SQLite a writing second session would wait on it)."""
    batch_size = get_settings().event_relay_batch_size
    total = 0
    for _ in range(MAX_BATCHES):
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


async def fan_out_webhooks(session: AsyncSession) -> int:
    """`webhooks.fan_out`: the consumer group `webhooks` reads what the relay published and turns each event
    into messages for the subscribed webhooks (app.webhooks.service.fan_out), once per event id. Without
    Redis there is no stream: events wait in the outbox. Two workers share the group's entries."""
    redis = get_redis()
    if redis is None:
        return 0
    reader = consumer.Consumer(redis, group="webhooks", name=f"worker-{consumer.default_consumer_name()}")
    await reader.ensure_group()
    await reader.run_until_idle()
    return reader.stats["handled"]  # events turned into messages by this run (not duplicates)
