"""Redis is optional. Unset REDIS_URL: `get_redis()` is None. Set but down: callers catch RedisError and
fall back (the shop keeps selling).

`get_redis()` is the client of the request paths (the login throttle, health): a Redis that is down or frozen
must cost a request little and most requests nothing. So its commands time out after REQUEST_TIMEOUT_SECONDS
and are not retried, and a circuit breaker counts failures: after FAILURES_TO_OPEN in a row it opens and
`get_redis()` answers None (the callers' no-Redis path: the throttle counts in the database) for
OPEN_SECONDS, doubling up to MAX_OPEN_SECONDS while Redis stays away; then one request tries again. Like the
catalogue cache's own client (app.catalog.cache).

Background processes with blocking reads (the event consumer) take `background_redis()`: no breaker, and a
socket timeout longer than their longest blocking read, so an idle stream is not taken for a dead Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config import get_settings

log = logging.getLogger("daoxiang.redis")

REQUEST_TIMEOUT_SECONDS = 0.5
FAILURES_TO_OPEN = 3
OPEN_SECONDS = 1.0
MAX_OPEN_SECONDS = 15.0
# A blocking read (XREADGROUP BLOCK) may last its block time; the socket waits this much longer.
BLOCKING_READ_MARGIN_SECONDS = 5.0

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

__all__ = [
    "NoScriptError",
    "RedisError",
    "get_redis",
    "background_redis",
    "close_redis",
    "redis_status",
    "breaker",
]


class CircuitBreaker:
    """Consecutive failures open it for a while (longer each time it reopens); a success closes it.
    `clock` is injectable so tests move time instead of sleeping."""

    def __init__(
        self,
        *,
        failures_to_open: int = FAILURES_TO_OPEN,
        open_seconds: float = OPEN_SECONDS,
        max_open_seconds: float = MAX_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = failures_to_open
        self.base_open_seconds = open_seconds
        self.max_open_seconds = max_open_seconds
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.failures = 0
        self.open_until = 0.0
        self.open_seconds = self.base_open_seconds

    @property
    def is_open(self) -> bool:
        return self.clock() < self.open_until

    def success(self) -> None:
        if self.open_until:
            log.info("redis reachable again")
        if self.failures or self.open_until:
            self.reset()

    def trip(self, reason: str = "tripped") -> None:
        """Open it now, as enough failures in a row would (tests drive an outage with it, no sleeping)."""
        self.failures = self.failures_to_open - 1
        self.failure(RuntimeError(reason))

    def failure(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures < self.failures_to_open or self.is_open:
            return
        self.open_until = self.clock() + self.open_seconds
        log.warning(
            "redis unreachable; requests skip it",
            extra={"seconds": self.open_seconds, "error": f"{type(exc).__name__}: {exc}"[:200]},
        )
        self.open_seconds = min(self.open_seconds * 2, self.max_open_seconds)
        # After the pause one failed try reopens it at once; a success closes it.
        self.failures = self.failures_to_open - 1


breaker = CircuitBreaker()


class _GuardedConnection(Connection):
    """Tells the breaker how each round trip went."""

    async def connect(self) -> None:
        try:
            await super().connect()
        except _UNREACHABLE as exc:
            breaker.failure(exc)
            raise

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except _UNREACHABLE as exc:
            breaker.failure(exc)
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)
        except _UNREACHABLE as exc:
            breaker.failure(exc)
            raise
        breaker.success()
        return response


_client: Redis | None = None


def get_redis() -> Redis | None:
    """The request paths' client; None without REDIS_URL or while the breaker is open."""
    global _client
    url = get_settings().redis_url
    if not url or breaker.is_open:
        return None
    if _client is None:
        kwargs: dict[str, Any] = {}
        if not url.startswith(("rediss://", "unix://")):
            kwargs["connection_class"] = _GuardedConnection
        _client = Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=REQUEST_TIMEOUT_SECONDS,
            socket_timeout=REQUEST_TIMEOUT_SECONDS,
            # No retries: a request falls back at once rather than waiting several timeouts in a row.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
            **kwargs,
        )
    return _client


def background_redis(*, longest_block_seconds: float = 0.0) -> Redis | None:
    """A client of its own for a background process whose reads may block up to `longest_block_seconds`."""
    url = get_settings().redis_url
    if not url:
        return None
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=2.0,
        socket_timeout=longest_block_seconds + BLOCKING_READ_MARGIN_SECONDS,
        health_check_interval=30,
    )


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None
    breaker.reset()


async def redis_status() -> str:
    if not get_settings().redis_url:
        return "disabled"
    client = get_redis()
    if client is None:
        return "down"  # the breaker is open: Redis failed just now
    try:
        await client.ping()
    except (RedisError, OSError):
        return "down"
    return "ok"
