"""What every command shares: the Alembic configuration and closing the pools when a command is done."""

from __future__ import annotations

from app.config import PROJECT_ROOT


def alembic_config(database_url: str | None = None):
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


async def with_cleanup(coro):
    """Await `coro`, then close Redis and the database engine (asyncio.run's loop is about to close)."""
    from app.db import dispose_engine
    from app.redis import close_redis

    try:
        return await coro
    finally:
        await close_redis()
        await dispose_engine()
