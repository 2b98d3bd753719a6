"""Redis is optional. Unset REDIS_URL: `get_redis()` is None. Set but down: callers catch RedisError and
fall back (the shop keeps selling).

`get_redis()` is the client of the request paths (the login throttle, health): a Redis that is down or frozen
must cost a request little and most requests nothing. So its commands time out after REQUEST_TIMEOUT_SECONDS
and are not retried, and a circuit breaker counts failures: after FAILURES_TO_OPEN in a row it opens and
`get_redis()` answers None (the callers' no-Redis path: the throttle counts in the database) for
OPEN_SECONDS, doubling up to MAX_OPEN_SECONDS while Redis stays away; then one request tries again. Like the
catalogue cache's own client (app.catalog.cache).

The hottest request path (a trace scan: one script call per request) takes `pipelined_redis()`: the same
server, timeout and breaker, but one connection per event loop on which every caller's command is written at
once and the replies are read in order by one reader (hiredis), instead of redis-py's pool checkout, health
check and per-command bookkeeping, which cost more than the command itself.

Background processes with blocking reads (the event consumer) take `background_redis()`: no breaker, and a
socket timeout longer than their longest blocking read, so an idle stream is not taken for a dead Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
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
    "pipelined_redis",
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


def cluster_client(url: str, *, socket_timeout: float, max_connections: int = 100) -> Any:
    """A Redis Cluster client (REDIS_CLUSTER=true; REDIS_URL names any one master): the commands route by
    key slot, so every multi-key script and transaction of ours keeps its keys in one slot with a hash tag
    (`hash_tag`). redis-py's cluster client keeps its own pool per node; the breaker is not wired into it
    (its own retries across nodes decide), which docs/scaling.md states."""
    return RedisCluster.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=max(socket_timeout, REQUEST_TIMEOUT_SECONDS),
        socket_timeout=socket_timeout,
        max_connections=max_connections,
        health_check_interval=30,
    )


def hash_tag(name: str) -> str:
    """`{name}` on a Redis Cluster (the keys that carry it share one slot), `name` itself otherwise, so a
    standalone shop keeps its key names across upgrades."""
    return "{" + name + "}" if get_settings().redis_cluster else name


def get_redis() -> Redis | None:
    """The request paths' client; None without REDIS_URL or while the breaker is open."""
    global _client
    url = get_settings().redis_url
    if not url or breaker.is_open:
        return None
    if _client is None and get_settings().redis_cluster:
        _client = cluster_client(url, socket_timeout=REQUEST_TIMEOUT_SECONDS)
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
    if get_settings().redis_cluster:
        return cluster_client(url, socket_timeout=longest_block_seconds + BLOCKING_READ_MARGIN_SECONDS)
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=2.0,
        socket_timeout=longest_block_seconds + BLOCKING_READ_MARGIN_SECONDS,
        health_check_interval=30,
    )


def _pack(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int | float):
            arg = repr(arg).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


class PipelinedRedis:
    """One connection, every caller's command written at once, replies matched in order (see the module's
    docstring). Errors are redis-py's (ConnectionError, TimeoutError, ResponseError, NoScriptError) and feed
    the same breaker. A caller that times out leaves its reply to be read and dropped: the order holds."""

    def __init__(self, host: str, port: int, db: int, password: str | None, username: str | None) -> None:
        self._address = (host, port)
        self._setup: list[tuple[Any, ...]] = []
        if password:
            self._setup.append(("AUTH", username, password) if username else ("AUTH", password))
        if db:
            self._setup.append(("SELECT", db))
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._connecting = asyncio.Lock()
        self._reading: asyncio.Task[None] | None = None
        # Commands of one turn of the event loop go out in one write (one system call for many scans).
        self._outgoing: list[bytes] = []
        self._outgoing_to: asyncio.StreamWriter | None = None

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None:
                return self._writer
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    reader, writer = await asyncio.open_connection(*self._address)
            except (OSError, TimeoutError) as exc:
                error = RedisConnectionError(f"redis unreachable: {exc!r}")
                breaker.failure(error)
                raise error from exc
            waiting: deque[asyncio.Future[Any]] = deque()
            self._waiting = waiting
            self._reading = asyncio.get_running_loop().create_task(self._read(reader, writer, waiting))
            try:
                for command in self._setup:
                    await self._send(writer, command)
            except BaseException:
                writer.close()
                raise
            self._writer = writer
            return writer

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, waiting: deque[asyncio.Future[Any]]
    ) -> None:
        parser = hiredis.Reader()
        error: Exception = RedisConnectionError("redis closed the connection")
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = waiting.popleft()
                    if future.done():
                        continue  # its caller timed out
                    if isinstance(reply, hiredis.ReplyError):
                        text = str(reply)
                        kind = NoScriptError if text.startswith("NOSCRIPT") else ResponseError
                        future.set_exception(kind(text))
                    else:
                        future.set_result(reply)
        except Exception as exc:  # noqa: BLE001 - whatever broke the connection fails every waiting caller
            error = RedisConnectionError(f"redis connection lost: {exc!r}")
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            while waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_exception(error)

    def _write_out(self) -> None:
        writer, data = self._outgoing_to, b"".join(self._outgoing)
        self._outgoing, self._outgoing_to = [], None
        if writer is not None and not writer.is_closing():
            writer.write(data)

    async def _send(self, writer: asyncio.StreamWriter, args: tuple[Any, ...]) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append(future)
        if self._outgoing_to is not writer:
            if self._outgoing_to is not None:
                self._write_out()
            self._outgoing_to = writer
            loop.call_soon(self._write_out)
        self._outgoing.append(_pack(args))
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                reply = await future
        except TimeoutError as exc:
            error = RedisTimeoutError("redis did not answer in time")
            breaker.failure(error)
            raise error from exc
        except RedisConnectionError as exc:
            breaker.failure(exc)
            raise
        breaker.success()
        return reply

    async def execute(self, *args: Any) -> Any:
        writer = self._writer or await self._connect()
        return await self._send(writer, args)

    async def evalsha(self, sha: str, numkeys: int, *args: Any) -> Any:
        return await self.execute("EVALSHA", sha, numkeys, *args)

    async def eval(self, script: str, numkeys: int, *args: Any) -> Any:
        return await self.execute("EVAL", script, numkeys, *args)

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self._reading is not None:
            self._reading.cancel()


_pipelined: PipelinedRedis | None = None
_pipelined_loop: asyncio.AbstractEventLoop | None = None


def pipelined_redis() -> PipelinedRedis | Redis | None:
    """The hottest request path's client (one script call per request): pipelined on a plain redis:// URL,
    `get_redis()` otherwise (TLS, sockets); None without REDIS_URL or while the breaker is open."""
    global _pipelined, _pipelined_loop
    url = get_settings().redis_url
    if not url or breaker.is_open:
        return None
    if not url.startswith("redis://") or get_settings().redis_cluster:
        return get_redis()
    loop = asyncio.get_running_loop()
    if _pipelined is None or _pipelined_loop is not loop:
        from redis.asyncio.connection import parse_url

        options = parse_url(url)
        _pipelined = PipelinedRedis(
            options.get("host", "localhost"),
            int(options.get("port", 6379)),
            int(options.get("db", 0)),
            options.get("password"),
            options.get("username"),
        )
        _pipelined_loop = loop
    return _pipelined


async def close_redis() -> None:
    global _client, _pipelined, _pipelined_loop
    if _client is not None:
        await _client.aclose()
    _client = None
    if _pipelined is not None:
        await _pipelined.aclose()
    _pipelined = _pipelined_loop = None
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
