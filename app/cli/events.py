"""`daoxiang consume`, `daoxiang relay-events`, `daoxiang event-schemas`."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from app.cli.common import with_cleanup


def consume(
    group: Annotated[str | None, typer.Option(help="consumer group (EVENT_CONSUMER_GROUP)")] = None,
    name: Annotated[str | None, typer.Option(help="consumer name (default: host-pid)")] = None,
    once: Annotated[bool, typer.Option(help="process what is there now, then exit")] = False,
) -> None:
    """Consume daoxiang:events as a consumer group: turn events into customer notifications."""
    from app.config import get_settings
    from app.eventbus.consumer import Consumer
    from app.kit.logging import configure_logging
    from app.redis import background_redis

    settings = get_settings()
    configure_logging(settings.log_level)
    # Its socket outwaits the blocking read: an idle stream is not a dead Redis.
    redis = background_redis(longest_block_seconds=settings.event_consumer_block_ms / 1000)
    if redis is None:
        typer.echo("REDIS_URL is not set: there is no stream to consume", err=True)
        raise typer.Exit(2)

    async def run() -> None:
        consumer = Consumer(redis, group=group, name=name)
        if once:
            await consumer.ensure_group()
            await consumer.run_until_idle()
            typer.echo(" ".join(f"{k}={v}" for k, v in consumer.stats.items()))
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows
                pass
        await consumer.run_forever(stop)

    asyncio.run(with_cleanup(run()))


def relay_events() -> None:
    """Publish every due outbox event to the Redis stream now (the worker does this every tick)."""
    from app.eventbus.relay import drain
    from app.redis import get_redis

    if get_redis() is None:
        typer.echo("REDIS_URL is not set: events stay in the outbox", err=True)
        raise typer.Exit(2)
    published = asyncio.run(with_cleanup(drain()))
    typer.echo(f"published {published} events")


def event_schemas() -> None:
    """Record new docs/event-schemas files in manifest.json and regenerate the catalogue table."""
    from app.eventbus import catalog

    added, refused = catalog.update()
    for name in added:
        typer.echo(f"recorded {name}")
    for problem in refused:
        typer.echo(f"refused: {problem}", err=True)
    raise typer.Exit(1 if refused else 0)
