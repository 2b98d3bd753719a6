"""One contract for both scan stores (app.traceability.scans): the database store, and the Redis store with
the worker's flush. Each case runs against every store this run has (Redis when TEST_REDIS_URL is set)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from app.db import session_scope, utcnow
from app.redis import background_redis, get_redis, pipelined_redis
from app.traceability import scans
from app.traceability.models import TraceCodeScanner, TraceScan
from tests.conftest import HAS_REDIS
from tests.traceability import factories as f
from tests.traceability.helpers import count_rows, events_of

_NEEDS_REDIS = pytest.mark.skipif(not HAS_REDIS, reason="needs Redis")
STORES = [
    "database",
    pytest.param("redis", marks=_NEEDS_REDIS),
    pytest.param("redis-pipelined", marks=_NEEDS_REDIS),  # the request path's client (app.redis)
]


class _PipelinedStore(scans.RedisScanStore):
    """Records through the request path's pipelined client (scans.record); flushes like the worker."""

    def __init__(self) -> None:
        super().__init__(pipelined_redis())

    async def flush(self) -> int:
        return await scans.RedisScanStore(get_redis()).flush()


@pytest.fixture(params=STORES)
async def store(request) -> scans.ScanStore:
    if request.param == "database":
        return scans.DatabaseScanStore()
    return scans.RedisScanStore(get_redis()) if request.param == "redis" else _PipelinedStore()


async def _code() -> scans.CodeRow:
    [code] = await f.create_codes(await f.create_batch())
    row = await scans.lookup(code)
    assert row is not None
    return row


async def _record(store, scanner: str = "a" * 16, *, code: scans.CodeRow | None = None) -> scans.Tally:
    code = code or await _code()
    fresh = await scans.lookup(code.code)  # what the request sees: the code as committed now
    return await store.record(fresh, scans.Scan(code.id, scanner, "203.0.113.0/24", "UA", utcnow()))


class TestScanStoreContract:
    async def test_counts_scans_and_distinct_scanners(self, store):
        code = await _code()
        tallies = [await _record(store, s * 16, code=code) for s in "abab" + "c"]
        assert [(t.scan_count, t.scanner_count) for t in tallies] == [(1, 1), (2, 2), (3, 2), (4, 2), (5, 3)]
        assert len({t.first_scanned_at for t in tallies}) == 1

    async def test_after_a_flush_the_database_holds_exactly_the_scans_sent(self, store):
        codes = [await _code() for _ in range(3)]
        sent = 0
        for i in range(30):
            await _record(store, f"{i % 4:016x}", code=codes[i % 3])
            sent += 1
        await store.flush()
        rows = [await f.get_code(c.code) for c in codes]
        assert sum(r.scan_count for r in rows) == sent == await count_rows(TraceScan)
        assert [r.scanner_count for r in rows] == [4, 4, 4]
        assert await count_rows(TraceCodeScanner) == 12
        assert all(r.first_scanned_at and r.last_scanned_at >= r.first_scanned_at for r in rows)
        assert sum(e["scans"] for e in await events_of("trace_code.scanned")) == sent
        assert await store.flush() == 0  # nothing twice

    async def test_concurrent_scans_lose_nothing(self, store):
        code = await _code()
        tallies = await asyncio.gather(*(_record(store, f"{i % 7:016x}", code=code) for i in range(50)))
        assert sorted(t.scan_count for t in tallies) == list(range(1, 51))
        assert max(t.scanner_count for t in tallies) == 7
        await store.flush()
        row = await f.get_code(code.code)
        assert (row.scan_count, row.scanner_count) == (50, 7)

    async def test_a_normal_stop_loses_nothing(self, store):
        """The app keeps nothing in memory: after it stops (its Redis and database connections closed), the
        next flush (the worker, on its next tick or its next start) brings every scan to the database."""
        from app.catalog import cache
        from app.db import dispose_engine
        from app.redis import close_redis

        code = await _code()
        for i in range(12):
            await _record(store, f"{i % 3:016x}", code=code)
        await cache.close()
        await close_redis()
        await dispose_engine()
        await scans.flush()
        row = await f.get_code(code.code)
        assert (row.scan_count, row.scanner_count) == (12, 3)


@pytest.mark.skipif(not HAS_REDIS, reason="needs Redis")
class TestRedisStoreAfterTrouble:
    async def test_redis_losing_its_keys_restarts_from_the_database_without_double_counting(self):
        store = scans.RedisScanStore(get_redis())
        code = await _code()
        for s in "abc":
            await _record(store, s * 16, code=code)
        await store.flush()
        await get_redis().delete(scans.code_key(code.id), scans.scanners_key(code.id))
        again = await _record(store, "a" * 16, code=code)  # an old scanner: not a new one
        assert (again.scan_count, again.scanner_count) == (4, 3)
        new = await _record(store, "d" * 16, code=code)
        assert (new.scan_count, new.scanner_count) == (5, 4)
        await store.flush()
        row = await f.get_code(code.code)
        assert (row.scan_count, row.scanner_count) == (5, 4)

    async def test_a_batch_written_twice_is_counted_once(self):
        code = await _code()
        batch = [scans.Scan(code.id, "e" * 16, "203.0.113.0/24", "UA", utcnow()) for _ in range(3)]
        assert await scans.write_batch("crash-after-commit", batch) == 3
        assert await scans.write_batch("crash-after-commit", batch) == 0
        assert (await f.get_code(code.code)).scan_count == 3

    async def test_a_batch_left_by_a_dead_worker_is_finished_by_the_next_flush(self):
        client = get_redis()
        store = scans.RedisScanStore(client)
        code = await _code()
        for s in "abcd":
            await _record(store, s * 16, code=code)
        # A worker took the log aside and died before writing it (two minutes ago).
        dead = f"{int(time.time()) - 120}-deadbeefdeadbeef"
        moved = await client.eval(scans._TAKE, 2, scans.LOG_KEY, scans.FLUSHING_PREFIX + dead, 1000)  # noqa: SLF001
        assert len(moved) == 4
        # One still being written by a live worker (just now) is left alone.
        live = f"{int(time.time())}-livelivelivelive"
        await _record(store, "e" * 16, code=code)
        await client.eval(scans._TAKE, 2, scans.LOG_KEY, scans.FLUSHING_PREFIX + live, 1000)  # noqa: SLF001
        assert await store.flush() == 4
        assert (await f.get_code(code.code)).scan_count == 4
        assert await client.exists(scans.FLUSHING_PREFIX + dead) == 0
        assert await client.exists(scans.FLUSHING_PREFIX + live) == 1

    async def test_redis_down_the_scan_is_written_to_the_database(self, monkeypatch):
        from app.redis import RedisError

        code = await _code()

        async def broken(*_args, **_kwargs):
            raise RedisError("connection refused")

        monkeypatch.setattr(scans.RedisScanStore, "record", broken)
        tally = await scans.record(code, scans.Scan(code.id, "f" * 16, "203.0.113.0/24", "UA", utcnow()))
        assert (tally.scan_count, tally.scanner_count) == (1, 1)
        async with session_scope() as session:
            assert (await session.execute(select(TraceScan.scanner))).scalars().all() == ["f" * 16]


@pytest.fixture
def breaker_clock(monkeypatch):
    """The request client's circuit breaker on a clock the test moves (no sleeping); closed again after."""
    from app.redis import breaker

    now = [1000.0]
    monkeypatch.setattr(breaker, "clock", lambda: now[0])
    breaker.reset()
    yield now
    breaker.reset()


async def _scan(code: str, network: int) -> tuple[int, int]:
    from app.traceability import verification

    outcome = await verification.scan(code, client_ip=f"198.51.{network}.7", user_agent="UA")
    return outcome.verdict.scan_count, outcome.verdict.scanner_count


@pytest.mark.skipif(not HAS_REDIS, reason="needs Redis")
class TestTheBreakerOpeningMidBurst:
    """Redis times out under load, the breaker opens and scans fall back to the database, then it closes:
    the counts a reader sees never go down, and they are exact before, during and after."""

    async def test_a_reader_sees_every_scan_counted_through_an_outage_a_flush_and_back(self, breaker_clock):
        from app.redis import breaker

        code = (await _code()).code
        client = get_redis()
        seen = [await _scan(code, n) for n in (0, 1, 2, 3, 0)]
        breaker.trip("test: redis timed out")
        assert get_redis() is None
        seen += [await _scan(code, n) for n in (1, 4, 2)]  # network 4 is new, seen by the database only
        # The worker (another process: its own client, no request breaker) flushes meanwhile; the counts
        # the database answers must not move.
        worker_client = background_redis()
        try:
            assert await scans.RedisScanStore(worker_client).flush() == 5
        finally:
            await worker_client.aclose()
        assert get_redis() is None
        seen += [await _scan(code, n) for n in (3, 0)]
        breaker_clock[0] += 60
        assert get_redis() is not None
        seen += [await _scan(code, n) for n in (4, 5, 1)]
        assert [count for count, _ in seen] == list(range(1, 14))
        scanners = [n for _, n in seen]
        assert scanners == sorted(scanners) and scanners[:5] == [1, 2, 3, 4, 4] and scanners[-1] == 6
        await scans.RedisScanStore(client).flush()
        row = await f.get_code(code)
        assert (row.scan_count, row.scanner_count, row.flushed_scan_count) == (13, 6, 8)

    async def test_a_burst_with_the_breaker_opening_midway(self, breaker_clock):
        from app.redis import breaker

        code = (await _code()).code
        client = get_redis()
        readers, each, answered = 6, 10, []

        async def reader(network: int) -> list[int]:
            counts = []
            for _ in range(each):
                counts.append((await _scan(code, network))[0])
                answered.append(1)
                if len(answered) == 25:
                    breaker.trip("test: redis timed out")
            return counts

        seen = await asyncio.gather(*(reader(n) for n in range(readers)))
        assert all(counts == sorted(set(counts)) for counts in seen), seen  # each reader: always up
        assert max(max(counts) for counts in seen) <= readers * each
        breaker_clock[0] += 60
        assert await _scan(code, 0) == (readers * each + 1, readers)  # exact again at once
        await scans.RedisScanStore(client).flush()
        row = await f.get_code(code)
        assert (row.scan_count, row.scanner_count) == (readers * each + 1, readers)
        assert row.scan_count == await count_rows(TraceScan)
