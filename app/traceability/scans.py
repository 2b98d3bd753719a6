"""Counting scans: who scanned a code (scanners), how often (scans), without a row lock on the hot path.

Scanner
    The verdict judges scanners, not requests. A scanner is one device: the trace page's own long-lived,
    signed cookie. Without a valid cookie (any API call, a page's first visit, a browser that drops cookies)
    it is the client network (IPv4 /24, IPv6 /48) with one User-Agent. A page's first visit is counted as
    that network scanner, and the cookie then set carries the very same id, so a phone stays one scanner
    when it rescans from another network a month later, and a browser that throws its cookie away is still
    only its network and User-Agent. Ids are 64-bit hashes; nothing in them can be read back.

Two stores, one interface (`ScanStore.record` → the live `Tally`; `flush` → the database catches up), and
one contract suite runs both (tests/traceability/test_scan_store.py):

RedisScanStore (REDIS_URL set)
    One Lua call per scan: the code's logged scans (HINCRBY), its scanner set (SADD/SCARD), its first scan,
    and the scan's record appended to a log list. No database write and no lock. A code seen for the
    first time since Redis lost it is seeded from the database (its counts and scanners) before counting.
    The worker's `traceability.flush_scans` job moves the log to the database in batches: each batch is
    first moved to its own list, then written in one transaction (counts added, scan rows, new scanners,
    one `trace_code.scanned` event per code) together with the batch's id, and only then deleted; a batch
    found again after a crash is recognised by that id and never counted twice.

    What a crash can lose: a kill -9 of Redis without persistence loses the scans not yet flushed, at most
    one worker interval (WORKER_INTERVAL_SECONDS) of counts and history; the live counts then restart from
    the database. A kill -9 of an app process or the worker loses nothing (the scans are in Redis; a batch
    half-written is rolled back and retried). A normal stop loses nothing.

DatabaseScanStore (no Redis, or Redis failing for this scan)
    The same effects written at once, in the scan's own short transaction: an atomic UPDATE of the counts,
    INSERT of the scanner (ignored when known), the scan row and its event. Correct under any concurrency
    (the row lock serialises scans of one code); cheap on SQLite, where writes are serial anyway.

The live count across a Redis outage (the request client's breaker opening mid-burst, app.redis)
    Two cumulative counters that only grow, and no flush moves: the scans the database counted itself
    (`scan_count - flushed_scan_count`, read with the code) and the scans Redis ever logged for the code
    (`logged`, seeded with `flushed_scan_count`). The live count is their sum, whichever store answers:
    - Redis answers `direct + logged`, where `direct` is the largest database-counted figure it has been
      told of. A lookup that brings a larger one (the database counted scans while Redis was away) first
      adds the code's scanners from the database to the Redis set, so counts and scanners include them.
    - The database (Redis unreachable) answers its own `direct` after this scan plus the `logged` this
      process last had from Redis for the code (`_last_seen`), and the larger of its scanner count and the
      one Redis last gave (a lower bound of their union, which Redis gives again when it is back).
    So a reader never sees a count go down when the breaker opens or closes, and once Redis answers again
    the counts are exact whatever happened meanwhile. While Redis is away, the database's answer is exact
    for scans this process sent to Redis; it does not know of scans another process logged in Redis since
    this one last saw the code (it cannot: they are in Redis only), so it may lag by those until Redis is
    back. Concurrent scans at the moment of a flip may both show the same count; the next scan is exact.
    A Redis call that timed out after Redis ran it is counted twice (once in Redis, once by the fallback):
    the client cannot know it ran.

Long because: the two stores, the lean code read and the write they share
(`write_batch`/`_apply`) change together, for one reason (how a scan is counted), and one contract suite
proves them equal; split apart, each half would be read only with the other open.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import get_engine, session_scope, utcnow
from app.events import emit
from app.kit import leandb
from app.kit.time import shop_today
from app.redis import NoScriptError, RedisError, get_redis, hash_tag, pipelined_redis
from app.traceability.models import Batch, TraceCode, TraceCodeScanner, TraceScan, TraceScanFlush

log = logging.getLogger(__name__)

DEVICE_COOKIE = "dx_scanner"
DEVICE_COOKIE_MAX_AGE = 2 * 365 * 86400
# On a Redis Cluster every trace key carries one hash tag: a scan's script touches its code's keys and the
# shared log together (one slot, so one master holds the scan path: docs/scaling.md names it the next limit).
PREFIX = "daoxiang:" + hash_tag("trace") + ":"
LOG_KEY = PREFIX + "log"
FLUSHING_PREFIX = PREFIX + "flushing:"
KEY_TTL_SECONDS = 86400  # renewed by every scan; long after the last flush of the code's scans
FLUSH_BATCH = 2000
FLUSH_BUDGET_SECONDS = 20
# A batch moved aside longer ago than this was left by a worker that died: another one finishes it.
ABANDONED_AFTER_SECONDS = 60
FLUSH_RECORDS_KEPT_DAYS = 7
MAX_SEEDED_SCANNERS = 100_000
# Log records of this layout carry `v2|`: only they count in `flushed_scan_count` (older ones were counted
# by the keys before them, which the v2 keys never saw).
RECORD_V2 = "v2|"
LAST_SEEN_MAX = 50_000


def code_key(code_id: int) -> str:
    return f"{PREFIX}v2:code:{code_id}"


def scanners_key(code_id: int) -> str:
    return f"{PREFIX}v2:scanners:{code_id}"


# ---------------------------------------------------------------- scanners


@lru_cache(maxsize=4096)
def network_scanner(network: str, user_agent: str) -> str:
    """The scanner of a request without a device: its client network and User-Agent (a 64-bit hash)."""
    return hashlib.sha256(f"net\n{network}\n{user_agent}".encode()).hexdigest()[:16]


def _signature(scanner: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"trace-device\n{scanner}".encode(), hashlib.sha256).hexdigest()[:16]


def device_cookie(scanner: str) -> str:
    return f"{scanner}.{_signature(scanner)}"


def scanner_from_cookie(value: str | None) -> str | None:
    """The device's scanner id from its cookie; None when absent, malformed or not signed by us."""
    if not value or len(value) != 33 or value[16] != ".":
        return None
    scanner, signature = value[:16], value[17:]
    if not all(c in "0123456789abcdef" for c in scanner):
        return None
    return scanner if hmac.compare_digest(signature, _signature(scanner)) else None


# ---------------------------------------------------------------- the code, as one lean read


@dataclass(frozen=True)
class CodeRow:
    id: int
    code: str
    batch_id: int
    scan_count: int
    scanner_count: int
    first_scanned_at: datetime | None
    flagged_at: datetime | None
    revoked_at: datetime | None
    catalog_version: int | None
    flushed_scan_count: int = 0

    @property
    def direct_scan_count(self) -> int:
        """The scans the database counted itself (not brought from Redis by a flush)."""
        return self.scan_count - self.flushed_scan_count


_LOOKUP_SQL = (
    "SELECT c.id, c.batch_id, c.scan_count, c.scanner_count, c.first_scanned_at, c.flagged_at, c.revoked_at, "
    "v.version, c.flushed_scan_count FROM trace_codes c LEFT JOIN catalog_version v ON v.id = 1 WHERE c.code = %s"
)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def lookup(code: str) -> CodeRow | None:
    """The code's row and the catalogue version in one round trip (MariaDB: a lean autocommit connection)."""
    pool = leandb.get_pool()
    row: Any = None
    if pool is not None:
        for attempt in (1, 2):
            try:
                async with pool.cursor() as cursor:
                    await cursor.execute(_LOOKUP_SQL, (code,))
                    row = await cursor.fetchone()
                break
            except Exception as exc:  # noqa: BLE001 - the engine below answers with its own errors
                if attempt == 2:
                    log.warning("lean trace lookup failed; using the engine", extra={"error": repr(exc)})
                    pool = None
    if pool is None:
        from app.catalog.models import CatalogVersion

        query = (
            select(
                TraceCode.id,
                TraceCode.batch_id,
                TraceCode.scan_count,
                TraceCode.scanner_count,
                TraceCode.first_scanned_at,
                TraceCode.flagged_at,
                TraceCode.revoked_at,
                CatalogVersion.version,
                TraceCode.flushed_scan_count,
            )
            .outerjoin(CatalogVersion, CatalogVersion.id == 1)
            .where(TraceCode.code == code)
        )
        async with get_engine().connect() as conn:
            row = (await conn.execute(query)).first()
    if row is None:
        return None
    code_id, batch_id, scans, scanners, first, flagged, revoked, version, flushed = row
    return CodeRow(
        id=int(code_id),
        code=code,
        batch_id=int(batch_id),
        scan_count=int(scans),
        scanner_count=int(scanners),
        first_scanned_at=_aware(first),
        flagged_at=_aware(flagged),
        revoked_at=_aware(revoked),
        catalog_version=None if version is None else int(version),
        flushed_scan_count=int(flushed),
    )


# ---------------------------------------------------------------- the verdict


def judge(*, scanner_count: int, revoked: bool, best_before_on: date | None, today: date) -> list[str]:
    """The reasons a code is suspicious (none: genuine). Requests never count, only distinct scanners."""
    reasons = []
    if scanner_count > get_settings().trace_suspicious_scanners:
        reasons.append("scanned_too_widely")
    if revoked:
        reasons.append("revoked")
    if best_before_on is not None and today > best_before_on:
        reasons.append("past_best_before")
    return reasons


@dataclass(frozen=True)
class CodeState:
    code: str
    batch_id: int
    product_id: int
    scan_count: int
    scanner_count: int
    first_scanned_at: datetime | None
    reasons: list[str]
    flushed_scan_count: int = 0


async def emit_scanned(session: AsyncSession, scans: list[Scan]) -> dict[int, CodeState]:
    """One `trace_code.scanned` event per code of these scans, with the code's counts as now written."""
    latest: dict[int, datetime] = {}
    covered: dict[int, int] = defaultdict(int)
    for scan in scans:
        latest[scan.code_id] = max(latest.get(scan.code_id, scan.at), scan.at)
        covered[scan.code_id] += 1
    rows = await session.execute(
        select(
            TraceCode.id,
            TraceCode.code,
            TraceCode.batch_id,
            TraceCode.scan_count,
            TraceCode.scanner_count,
            TraceCode.first_scanned_at,
            TraceCode.revoked_at,
            TraceCode.flushed_scan_count,
            Batch.product_id,
            Batch.best_before_on,
        )
        .join(Batch, Batch.id == TraceCode.batch_id)
        .where(TraceCode.id.in_(sorted(latest)))
        .order_by(TraceCode.id)
    )
    today, states = shop_today(), {}
    for row in rows:
        reasons = judge(
            scanner_count=row.scanner_count,
            revoked=row.revoked_at is not None,
            best_before_on=row.best_before_on,
            today=today,
        )
        states[row.id] = CodeState(
            row.code,
            row.batch_id,
            row.product_id,
            row.scan_count,
            row.scanner_count,
            row.first_scanned_at,
            reasons,
            row.flushed_scan_count,
        )
        await emit(
            session,
            "trace_code.scanned",
            {
                "code": row.code,
                "batch_id": row.batch_id,
                "product_id": row.product_id,
                "scan_count": row.scan_count,
                "scanner_count": row.scanner_count,
                "scans": covered[row.id],
                "verdict": "suspicious" if reasons else "genuine",
                "reasons": reasons,
                "scanned_at": latest[row.id].isoformat(),
            },
            subject=f"code/{row.code}",
            version=2,
        )
    return states


# ---------------------------------------------------------------- the stores


@dataclass(frozen=True)
class Scan:
    code_id: int
    scanner: str
    network: str
    user_agent: str
    at: datetime
    logged: bool = False  # read back from the Redis log (v2): counts in `flushed_scan_count` when flushed


@dataclass(frozen=True)
class Tally:
    """A code's live counts, this scan included."""

    scan_count: int
    scanner_count: int
    first_scanned_at: datetime


class ScanStore(Protocol):
    async def record(self, code: CodeRow, scan: Scan) -> Tally: ...

    async def flush(self) -> int: ...


# KEYS: the code's hash, its scanner set, the log. ARGV: scanner, at (µs), record, ttl, the database's own
# count `direct` (from the lookup), fresh ('1': the database never saw the code scanned, nothing to seed).
# Returns {live scans, scanners, first (µs), logged}; {-1} when the code is not in Redis and must be seeded;
# {-2} when the database counted scans that Redis has not heard of (their scanners must be added first).
_RECORD = """
local h, s = KEYS[1], KEYS[2]
local direct = tonumber(ARGV[5])
if redis.call('EXISTS', h) == 0 then
  if ARGV[6] ~= '1' then return {-1} end
  redis.call('HSET', h, 'logged', 0, 'direct', direct, 'first', '')
end
local seen = tonumber(redis.call('HGET', h, 'direct') or '0')
if direct > seen then return {-2} end
redis.call('SADD', s, ARGV[1])
local logged = redis.call('HINCRBY', h, 'logged', 1)
local first = redis.call('HGET', h, 'first')
if first == false or first == '' then
  first = ARGV[2]
  redis.call('HSET', h, 'first', first)
end
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('EXPIRE', h, ARGV[4])
redis.call('EXPIRE', s, ARGV[4])
return {seen + logged, redis.call('SCARD', s), first, logged}
"""

# Brings Redis up to the database for one code: seeds a code Redis does not have (logged = the flushed
# scans), or, for one it has, raises `direct` and takes an earlier first scan; adds the database's scanners.
# ARGV: flushed, direct, first (µs or ''), scanners...
_SYNC = """
local h, s = KEYS[1], KEYS[2]
if redis.call('EXISTS', h) == 0 then
  redis.call('DEL', s)
  redis.call('HSET', h, 'logged', ARGV[1], 'direct', ARGV[2], 'first', ARGV[3])
else
  if tonumber(ARGV[2]) > tonumber(redis.call('HGET', h, 'direct') or '0') then
    redis.call('HSET', h, 'direct', ARGV[2])
  end
  local first = redis.call('HGET', h, 'first')
  if ARGV[3] ~= '' and (first == false or first == '' or tonumber(ARGV[3]) < tonumber(first)) then
    redis.call('HSET', h, 'first', ARGV[3])
  end
end
for i = 4, #ARGV, 500 do
  redis.call('SADD', s, unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return 1
"""

# Moves up to ARGV[1] records from the log to the batch's own list, and returns them.
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return items end
for i = 1, #items, 500 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 499, #items)))
end
redis.call('LTRIM', KEYS[1], #items, -1)
return items
"""


_RECORD_SHA = hashlib.sha1(_RECORD.encode()).hexdigest()  # noqa: S324 - the name Redis gives the script


async def _record_script(client: Any, *args: Any) -> Any:
    """_RECORD by its SHA (Redis keeps scripts it has run): the script's text is sent once, not per scan."""
    try:
        return await client.evalsha(_RECORD_SHA, 3, *args)
    except NoScriptError:
        return await client.eval(_RECORD, 3, *args)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _from_micros(value: int | str | bytes) -> datetime:
    return datetime.fromtimestamp(int(value) / 1_000_000, UTC)


def _record_text(scan: Scan) -> str:
    return f"{RECORD_V2}{scan.code_id}|{_micros(scan.at)}|{scan.scanner}|{scan.network}|{scan.user_agent}"


def _parse_record(raw: bytes | str) -> Scan | None:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    logged = text.startswith(RECORD_V2)
    parts = text.removeprefix(RECORD_V2).split("|", 4)
    if len(parts) != 5:
        return None
    code_id, micros, scanner, network, user_agent = parts
    if not code_id.isdigit() or not micros.isdigit():
        return None
    return Scan(int(code_id), scanner, network, user_agent, _from_micros(micros), logged)


# What this process last had from Redis for a code: (logged, scanners, first scan). The database's answer
# while Redis is away builds on it (see the module's docstring); bounded, the oldest entries go first.
_last_seen: dict[str, tuple[int, int, datetime]] = {}


def _remember(code: str, logged: int, scanners: int, first: datetime) -> None:
    known = _last_seen.pop(code, None)
    if known is not None:
        logged, scanners, first = max(logged, known[0]), max(scanners, known[1]), min(first, known[2])
    elif len(_last_seen) >= LAST_SEEN_MAX:
        del _last_seen[next(iter(_last_seen))]
    _last_seen[code] = (logged, scanners, first)


def forget_last_seen() -> None:
    _last_seen.clear()


class RedisScanStore:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def record(self, row: CodeRow, scan: Scan) -> Tally:
        keys = [code_key(row.id), scanners_key(row.id), LOG_KEY]
        args = [scan.scanner, _micros(scan.at), _record_text(scan), KEY_TTL_SECONDS, row.direct_scan_count]
        # A code the database never saw scanned has nothing to seed: Redis starts it at once.
        fresh = "1" if row.scanner_count == 0 and row.scan_count == 0 else "0"
        result = await _record_script(self.client, *keys, *args, fresh)
        for _ in range(3):  # the database may count again between the sync and the retry: sync again
            if result[0] >= 0:
                break
            args[-1] = max(await self._sync(row, keys), args[-1])
            result = await _record_script(self.client, *keys, *args, "0")
        if result[0] < 0:  # not counted in Redis: the database counts it
            raise RedisError("trace scan: Redis kept falling behind the database")
        scans, scanners, first_micros, logged = result
        first = _from_micros(first_micros)
        _remember(row.code, int(logged), int(scanners), first)
        return Tally(int(scans), int(scanners), first)

    async def _sync(self, row: CodeRow, keys: list[str]) -> int:
        """Redis brought up to the database for this code (after Redis lost or expired it, or after the
        database counted scans while Redis was away); returns the database's own count it read."""
        async with session_scope() as session:
            # The counts before the scanners: under READ COMMITTED the scanners read second are at least
            # those of the counts (a scanner more is harmless: the next sync adds it anyway).
            fresh = (
                await session.execute(
                    select(
                        TraceCode.scan_count, TraceCode.flushed_scan_count, TraceCode.first_scanned_at
                    ).where(TraceCode.id == row.id)
                )
            ).one()
            scanners = (
                (
                    await session.execute(
                        select(TraceCodeScanner.scanner)
                        .where(TraceCodeScanner.code_id == row.id)
                        .limit(MAX_SEEDED_SCANNERS)
                    )
                )
                .scalars()
                .all()
            )
        first = _micros(fresh.first_scanned_at) if fresh.first_scanned_at else ""
        direct = fresh.scan_count - fresh.flushed_scan_count
        await self.client.eval(_SYNC, 2, keys[0], keys[1], fresh.flushed_scan_count, direct, first, *scanners)
        return direct

    async def flush(self) -> int:
        """Move the scan log to the database; returns how many scans were written."""
        written, deadline = 0, time.monotonic() + FLUSH_BUDGET_SECONDS
        written += await self._finish_abandoned()
        while time.monotonic() < deadline:
            batch_id = f"{int(time.time())}-{uuid.uuid4().hex[:16]}"
            records = await self.client.eval(_TAKE, 2, LOG_KEY, FLUSHING_PREFIX + batch_id, FLUSH_BATCH)
            if not records:
                break
            written += await self._write(batch_id, records)
            if len(records) < FLUSH_BATCH:
                break
        return written

    async def _finish_abandoned(self) -> int:
        written = 0
        now = time.time()
        async for key in self.client.scan_iter(match=FLUSHING_PREFIX + "*", count=100):
            name = key.decode() if isinstance(key, bytes) else key
            batch_id = name.removeprefix(FLUSHING_PREFIX)
            started = batch_id.split("-", 1)[0]
            if not started.isdigit() or now - int(started) < ABANDONED_AFTER_SECONDS:
                continue
            written += await self._write(batch_id, await self.client.lrange(name, 0, -1))
        return written

    async def _write(self, batch_id: str, records: list[bytes]) -> int:
        scans = [s for s in (_parse_record(r) for r in records) if s is not None]
        written = await write_batch(batch_id[-32:], scans)
        await self.client.delete(FLUSHING_PREFIX + batch_id)
        return written


async def write_batch(batch_id: str, scans: list[Scan]) -> int:
    """One transaction: the batch's scans added to the database, unless this batch was written before."""
    from sqlalchemy.exc import IntegrityError

    if not scans:
        return 0
    try:
        async with session_scope() as session:
            session.add(TraceScanFlush(id=batch_id, flushed_at=utcnow()))
            await session.flush()  # the batch's id first: a second writer of this batch stops here
            await _apply(session, scans)
            await emit_scanned(session, scans)
    except IntegrityError:
        log.info("scan batch already written", extra={"batch": batch_id})
        return 0
    return len(scans)


async def _apply(session: AsyncSession, scans: list[Scan]) -> None:
    """Counts, first/last scan, scan rows and new scanners of these scans (any codes, any order)."""
    by_code: dict[int, list[Scan]] = defaultdict(list)
    for scan in scans:
        by_code[scan.code_id].append(scan)
    for code_id in sorted(by_code):  # one order for every writer: no deadlocks between flushes
        mine = by_code[code_id]
        first, last = min(s.at for s in mine), max(s.at for s in mine)
        await session.execute(
            update(TraceCode)
            .where(TraceCode.id == code_id)
            .values(
                scan_count=TraceCode.scan_count + len(mine),
                flushed_scan_count=TraceCode.flushed_scan_count + sum(s.logged for s in mine),
                first_scanned_at=func.coalesce(TraceCode.first_scanned_at, first),
                last_scanned_at=case(
                    (TraceCode.last_scanned_at.is_(None), last),
                    (TraceCode.last_scanned_at < last, last),
                    else_=TraceCode.last_scanned_at,
                ),
            )
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        insert(TraceScan),
        [
            {
                "code_id": s.code_id,
                "scanned_at": s.at,
                "client_network": s.network[:64],
                "user_agent": s.user_agent[:255],
                "scanner": s.scanner,
            }
            for s in scans
        ],
    )
    firsts: dict[tuple[int, str], datetime] = {}
    for s in scans:
        key = (s.code_id, s.scanner)
        firsts[key] = min(firsts.get(key, s.at), s.at)
    new_scanners = [
        {"code_id": code_id, "scanner": scanner, "first_seen_at": at}
        for (code_id, scanner), at in sorted(firsts.items())
    ]
    await session.execute(
        insert(TraceCodeScanner)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
        .prefix_with("OR IGNORE", dialect="sqlite"),
        new_scanners,
    )
    counted = (
        select(func.count())
        .select_from(TraceCodeScanner)
        .where(TraceCodeScanner.code_id == TraceCode.id)
        .scalar_subquery()
    )
    await session.execute(
        update(TraceCode)
        .where(TraceCode.id.in_(sorted(by_code)))
        .values(scanner_count=counted)
        .execution_options(synchronize_session=False)
    )


class DatabaseScanStore:
    """Writes each scan at once, in its own short transaction (see the module's docstring)."""

    async def record(self, code: CodeRow, scan: Scan) -> Tally:
        async with session_scope() as session:
            await _apply(session, [scan])
            states = await emit_scanned(session, [scan])
        state = states[scan.code_id]
        first = state.first_scanned_at or scan.at
        logged, scanners = 0, state.scanner_count
        known = _last_seen.get(code.code)
        if known is not None:  # what Redis counted for the code, as this process last heard (a lower bound)
            logged, scanners, first = known[0], max(scanners, known[1]), min(first, known[2])
        return Tally(state.scan_count - state.flushed_scan_count + logged, scanners, first)

    async def flush(self) -> int:
        return 0


def store() -> ScanStore:
    client = get_redis()
    return RedisScanStore(client) if client is not None else DatabaseScanStore()


async def record(code: CodeRow, scan: Scan) -> Tally:
    """Count a scan: in Redis when it is configured and answers, otherwise in the database at once."""
    client = pipelined_redis()
    if client is not None:
        try:
            return await RedisScanStore(client).record(code, scan)
        except (RedisError, OSError) as exc:
            log.warning(
                "redis unavailable for scan counting; writing the scan to the database",
                extra={"error": str(exc)},
            )
    return await DatabaseScanStore().record(code, scan)


async def flush() -> int:
    client = get_redis()
    if client is None:
        return 0
    return await RedisScanStore(client).flush()


async def purge_flush_records(session: AsyncSession) -> int:
    cutoff = utcnow() - timedelta(days=FLUSH_RECORDS_KEPT_DAYS)
    result = await session.execute(delete(TraceScanFlush).where(TraceScanFlush.flushed_at < cutoff))
    return result.rowcount or 0
