"""The request paths' Redis client (app.redis): a frozen or dead Redis costs a request at most one short
timeout and most requests nothing (a circuit breaker), the login throttle keeps counting (in the database),
and a consumer's blocking read never outlasts its socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from app import redis as app_redis
from app.config import get_settings
from app.redis import CircuitBreaker, background_redis, get_redis, redis_status
from tests.conftest import HAS_REDIS
from tests.users.factories import create_user, login


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestCircuitBreaker:
    @pytest.mark.parametrize("threshold", [1, 2, 3, 5])
    def test_opens_after_that_many_failures_in_a_row_and_not_before(self, threshold):
        breaker = CircuitBreaker(failures_to_open=threshold, open_seconds=1, clock=FakeClock())
        for _ in range(threshold - 1):
            breaker.failure(OSError("refused"))
            assert not breaker.is_open
        breaker.failure(OSError("refused"))
        assert breaker.is_open

    def test_a_success_between_failures_keeps_it_closed(self):
        breaker = CircuitBreaker(failures_to_open=3, clock=FakeClock())
        for _ in range(10):
            breaker.failure(OSError())
            breaker.failure(OSError())
            breaker.success()
        assert not breaker.is_open

    def test_stays_open_longer_each_time_redis_is_still_away_then_closes_on_success(self):
        clock = FakeClock()
        breaker = CircuitBreaker(failures_to_open=3, open_seconds=1, max_open_seconds=4, clock=clock)
        for _ in range(3):
            breaker.failure(OSError())
        pauses = []
        for _ in range(5):
            opened_at = clock.now
            while breaker.is_open:
                clock.now += 0.25
            pauses.append(clock.now - opened_at)
            breaker.failure(OSError())  # the one try after the pause fails: open again at once
            assert breaker.is_open
        assert pauses == [1, 2, 4, 4, 4]
        clock.now += 10
        breaker.success()
        breaker.failure(OSError())
        assert not breaker.is_open  # closed again: it takes a full run of failures to reopen


class _FrozenRedis:
    """A server that accepts connections and never answers, like a Redis stopped with SIGSTOP (the kernel
    still completes the TCP handshake)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def redis_at(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator:
    """Point the request paths' client at another Redis (frozen, dead) for one test."""
    clock = FakeClock()
    monkeypatch.setattr(app_redis.breaker, "clock", clock)

    async def point(url: str) -> FakeClock:
        await app_redis.close_redis()
        monkeypatch.setattr(get_settings(), "redis_url", url)
        return clock

    yield point
    await app_redis.close_redis()


def _dead_url() -> str:
    from tests.ops.servers import free_port

    return f"redis://127.0.0.1:{free_port()}/0"


class TestAFrozenRedis:
    async def test_logins_stay_fast_and_the_throttle_keeps_counting(self, client, redis_at):
        frozen = _FrozenRedis()
        clock = await redis_at(await frozen.start())
        try:
            user = await create_user()
            durations, statuses = [], []
            for attempt in range(8):
                started = time.perf_counter()
                response = await login(client, user.phone, "wrong-password-123")
                durations.append(time.perf_counter() - started)
                statuses.append(response.status_code)
                if attempt == 3:
                    clock.now += 60  # the breaker's pause is over: one login tries Redis again
        finally:
            await frozen.stop()
        # Before: 2 s socket timeout x 3 retries = 6 s per login. Now: at most one short timeout per
        # Redis call until the breaker opens, then nothing.
        assert max(durations) < 3 * app_redis.REQUEST_TIMEOUT_SECONDS + 1.0, durations
        slow = [d for d in durations if d > app_redis.REQUEST_TIMEOUT_SECONDS * 0.9]
        assert len(slow) <= 4, durations  # the logins that met the frozen Redis before the breaker opened
        # Counted in the database meanwhile: the 6th wrong password is refused like with Redis up.
        assert statuses[:5] == [401] * 5, statuses
        assert statuses[5:] == [429] * 3, statuses

    @pytest.mark.parametrize("url", ["frozen", "dead"])
    async def test_health_says_down_quickly(self, client, redis_at, url):
        frozen = _FrozenRedis()
        await redis_at(await frozen.start() if url == "frozen" else _dead_url())
        try:
            for _ in range(5):
                started = time.perf_counter()
                response = await client.get("/api/health")
                assert time.perf_counter() - started < app_redis.REQUEST_TIMEOUT_SECONDS + 1.0
                assert response.status_code == 200
                assert response.json()["redis"] == "down"
        finally:
            if frozen.server is not None:
                await frozen.stop()

    async def test_the_client_is_back_once_the_pause_is_over(self, redis_at):
        clock = await redis_at(_dead_url())
        for _ in range(app_redis.FAILURES_TO_OPEN):
            client = get_redis()
            assert client is not None
            with pytest.raises(app_redis.RedisError):
                await client.ping()
        assert get_redis() is None  # open: callers take their no-Redis path
        assert await redis_status() == "down"
        clock.now += app_redis.MAX_OPEN_SECONDS
        assert get_redis() is not None


@pytest.mark.skipif(not HAS_REDIS, reason="needs Redis: set TEST_REDIS_URL")
class TestConsumerTimeouts:
    @pytest.mark.parametrize("block_ms", [100, 600, 2000, 5000])
    async def test_an_idle_stream_is_not_an_error_whatever_the_client(self, block_ms):
        from app.eventbus.consumer import Consumer

        for redis in (get_redis(), background_redis(longest_block_seconds=block_ms / 1000)):
            consumer = Consumer(redis, group="notifications", name="idle-test", block_ms=block_ms)
            await consumer.ensure_group()
            timeout = redis.connection_pool.connection_kwargs["socket_timeout"]
            assert consumer.block_ms / 1000 < timeout
            if block_ms <= 600:
                assert await consumer.run_once() == 0  # blocked, found nothing, no timeout error

    def test_the_consume_command_outwaits_its_block(self):
        settings = get_settings()
        redis = background_redis(longest_block_seconds=settings.event_consumer_block_ms / 1000)
        assert redis.connection_pool.connection_kwargs["socket_timeout"] > (
            settings.event_consumer_block_ms / 1000
        )


class _ScriptedRedis:
    """A server that answers each command only when the test says so (replies in order, like Redis)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.commands: asyncio.Queue[bytes] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        while data := await reader.read(65536):
            for command in data.split(b"*")[1:]:
                await self.commands.put(command)

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    def answer(self, reply: bytes) -> None:
        assert self.writer is not None
        self.writer.write(reply)

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        assert self.server is not None
        self.server.close()


class TestThePipelinedClient:
    """The trace scan's client (app.redis.pipelined_redis): commands of many callers on one connection."""

    async def test_each_caller_gets_its_own_reply_even_after_one_gave_up(self, redis_at):
        server = _ScriptedRedis()
        await redis_at(await server.start())
        try:
            client = app_redis.pipelined_redis()
            first = asyncio.ensure_future(client.execute("ECHO", "first"))
            await server.commands.get()
            second = asyncio.ensure_future(client.execute("ECHO", "second"))
            third = asyncio.ensure_future(client.execute("EVALSHA", "abc", 0))
            await server.commands.get()
            await server.commands.get()
            first.cancel()  # its caller went away (a timeout, a closed request): its reply still comes
            server.answer(b"$5\r\nfirst\r\n$6\r\nsecond\r\n-NOSCRIPT No matching script.\r\n")
            assert await second == b"second"
            with pytest.raises(app_redis.NoScriptError):
                await third
            assert first.cancelled()
        finally:
            await server.stop()

    @pytest.mark.parametrize("url", ["frozen", "dead"])
    async def test_a_frozen_or_dead_redis_opens_the_breaker(self, redis_at, url):
        frozen = _FrozenRedis()
        clock = await redis_at(await frozen.start() if url == "frozen" else _dead_url())
        try:
            for _ in range(app_redis.FAILURES_TO_OPEN):
                client = app_redis.pipelined_redis()
                assert client is not None
                started = time.perf_counter()
                with pytest.raises(app_redis.RedisError):
                    await client.execute("PING")
                assert time.perf_counter() - started < app_redis.REQUEST_TIMEOUT_SECONDS + 0.5
            assert app_redis.pipelined_redis() is None and get_redis() is None
            clock.now += app_redis.MAX_OPEN_SECONDS
            assert app_redis.pipelined_redis() is not None
        finally:
            if frozen.server is not None:
                await frozen.stop()

    @pytest.mark.skipif(not HAS_REDIS, reason="needs Redis: set TEST_REDIS_URL")
    async def test_many_concurrent_callers_on_a_real_redis(self):
        client = app_redis.pipelined_redis()
        replies = await asyncio.gather(*(client.execute("INCR", "pipelined-test") for _ in range(200)))
        assert sorted(replies) == list(range(1, 201))
        assert await client.execute("ECHO", "日本") == "日本".encode()
        with pytest.raises(app_redis.RedisError):
            await client.execute("NOSUCHCOMMAND")
        assert await client.execute("GET", "pipelined-test") == b"200"  # the connection is still in step
