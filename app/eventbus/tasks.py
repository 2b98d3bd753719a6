import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope
from app.eventbus import consumer, relay
from app.events import STREAM_NAME
from app.redis import get_redis
from app.webhooks import repository as webhooks_repository

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
    async with session_scope() as own:  # the job's session is not used: the consumer opens its own
        subscribed = bool(await webhooks_repository.active(own))
    if not subscribed:
        # Nobody subscribed: move the group past what is in the stream in one command instead of reading and
        # recording every event (a database write each, beside every checkout's own). A webhook made now gets
        # the events from now on, as it would anyway.
        await redis.xgroup_setid(STREAM_NAME, "webhooks", "$")
        return 0
    await reader.run_until_idle()
    return reader.stats["handled"]  # events turned into messages by this run (not duplicates)
