"""Redis is optional. Unset REDIS_URL: `get_redis()` is None. Set but down: callers catch RedisError and
fall back (the shop keeps selling)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.config import get_settings

_client: Redis | None = None

__all__ = ["RedisError", "get_redis", "close_redis", "redis_status"]


def get_redis() -> Redis | None:
    global _client
    url = get_settings().redis_url
    if not url:
        return None
    if _client is None:
        _client = Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=2.0,
            socket_timeout=2.0,
            health_check_interval=30,
        )
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None


async def redis_status() -> str:
    client = get_redis()
    if client is None:
        return "disabled"
    try:
        await client.ping()
    except (RedisError, OSError):
        return "down"
    return "ok"
