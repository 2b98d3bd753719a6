"""Two-level read-through cache for the public catalogue (list pages, product details, categories).

* Version: one row in the database (`catalog_version`). A write that changes what a customer sees calls
  `invalidate(session)`, and the version is bumped in that same transaction, just before it commits (a session
  event below). The new rows and the new version become visible together: a reader that sees the new version
  sees the new rows, and a page cached under the old version is never served again. No key scans, no window
  between the commit and the bump, and nothing to lose if Redis is down at the moment of the write.
* Every read learns the version from the database (app.catalog.live): on a product page in the same query as
  the live stock, elsewhere in a one-row primary-key read.
* Level 1: this process's memory, pages of the current version only (at most `L1_MAX_ENTRIES`, each kept for
  `L1_TTL_SECONDS` so figures that change without a staff write, such as sales counts, still refresh). A hit
  costs nothing beyond the version read.
* Level 2: Redis, `daoxiang:catalog:{version}:{key}`, shared by every process; TTL `TTL_SECONDS` plus up to
  `TTL_JITTER_SECONDS` of jitter so pages do not expire together.
* Single flight: within a process one build per key and version (the others await it); across processes one
  request takes a short Redis lock (`SET NX PX`) and rebuilds while the others poll the key for up to
  `WAIT_SECONDS` and then read the database themselves (without writing the cache).
* Stock is never trusted from the cache: detail pages are cached with placeholders where each SKU's stock
  goes, and the live stock is filled in on every read (see service.product_detail_json).
* No REDIS_URL: level 1 only. Redis down: the error is logged, level 2 is skipped for `BACKOFF_SECONDS`, and
  nothing answers 500.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import event, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.catalog.models import CatalogVersion
from app.config import get_settings
from app.db import commit_even_if_idle, session_scope
from app.kit import metrics
from app.redis import RedisError, cluster_client

log = logging.getLogger(__name__)

PREFIX = "daoxiang:catalog:"
TTL_SECONDS = 300
TTL_JITTER_SECONDS = 60
LOCK_MS = 3000
WAIT_SECONDS = 0.25
_POLL_SECONDS = 0.01
BACKOFF_SECONDS = 2.0
L1_MAX_ENTRIES = 2000
L1_TTL_SECONDS = 30.0

MAX_CONNECTIONS = 50
FAILURES_BEFORE_BACKOFF = 3

_CHANGED = "catalog_changed"
_TABLE = CatalogVersion.__table__

_down_until = 0.0
_failures = 0
_redis: Redis | None = None
_redis_loop: asyncio.AbstractEventLoop | None = None

# Level 1: the pages of one version (with the time each was stored); a read that brings another version
# starts afresh.
_l1_version: int | None = None
_l1: dict[str, tuple[float, bytes]] = {}
_building: dict[tuple[int, str], asyncio.Task[bytes]] = {}


# ---------------------------------------------------------------- the version


def invalidate(session: AsyncSession | Session) -> None:
    """Call from any write that changes what a customer sees in the catalogue (other domains too, e.g.
    traceability adding a certificate shown on a product page): the version moves when this transaction
    commits, and not at all if it rolls back."""
    session.info[_CHANGED] = True
    commit_even_if_idle(session)


def new_version() -> int:
    return int(time.time() * 1_000_000)


def _bump(session: Session) -> None:
    bumped = session.execute(update(_TABLE).where(_TABLE.c.id == 1).values(version=_TABLE.c.version + 1))
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(_insert_missing_row())


@event.listens_for(Session, "before_commit")
def _bump_before_commit(session: Session) -> None:
    # The row lock is taken last, just before the commit: staff writes queue here only for an instant.
    if session.info.pop(_CHANGED, False):
        _bump(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint inside it
        session.info.pop(_CHANGED, None)


def _insert_missing_row():
    """INSERT the version row unless it exists (it only goes missing when someone deletes it)."""
    return (
        insert(_TABLE)
        .values(id=1, version=new_version())
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
        .prefix_with("OR IGNORE", dialect="sqlite")
    )


async def ensure_version_row() -> None:
    async with session_scope() as session:
        await session.execute(_insert_missing_row())


async def bump() -> None:
    """Make every cached catalogue page unreachable (new version), in a transaction of its own."""
    async with session_scope() as session:
        await session.run_sync(_bump)


# ---------------------------------------------------------------- level 2: Redis


def get_redis() -> Redis | None:
    """The cache's own client: a bounded, blocking pool, so that a burst of requests reuses a few warm
    connections instead of opening one each (new connections are what time out on a busy machine)."""
    global _redis, _redis_loop
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    if (_redis is None or _redis_loop is not loop) and get_settings().redis_cluster:
        _redis, _redis_loop = cluster_client(url, socket_timeout=1.0, max_connections=MAX_CONNECTIONS), loop
    if _redis is None or _redis_loop is not loop:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=2.0,
            socket_connect_timeout=2.0,
            socket_timeout=1.0,
            health_check_interval=30,
        )
        _redis, _redis_loop = Redis(connection_pool=pool), loop
    return _redis


async def close() -> None:
    global _redis, _redis_loop
    if _redis is not None:
        await _redis.aclose()
        if hasattr(_redis, "connection_pool"):  # a cluster client closes its nodes' pools itself
            await _redis.connection_pool.disconnect()
    _redis = _redis_loop = None
    clear_local()


def _client():
    if time.monotonic() < _down_until:
        return None
    return get_redis()


def _mark_down(exc: BaseException) -> None:
    """One failure sends this request to the database; a few in a row skip Redis for a while (so a dead
    Redis costs nothing per request, and a single slow connect does not)."""
    global _down_until, _failures
    _failures += 1
    if _failures >= FAILURES_BEFORE_BACKOFF:
        _down_until = time.monotonic() + BACKOFF_SECONDS
        _failures = 0
        log.warning(
            "redis unavailable for the catalogue cache; reading the database", extra={"error": str(exc)}
        )


def _ttl() -> int:
    return TTL_SECONDS + random.randint(0, TTL_JITTER_SECONDS)  # noqa: S311 - jitter, not security


async def _shared(version: int, key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
    """Level 2 (Redis) for one version, with one rebuild at a time across processes."""
    global _failures
    client = _client()
    if client is None:
        metrics.CATALOG_CACHE_MISSES.inc()
        return await build()
    full_key = f"{PREFIX}{version}:{key}"
    try:
        value = await client.get(full_key)
        _failures = 0
        if value is not None:
            metrics.CATALOG_CACHE_L2_HITS.inc()
            return value
        lock_key = full_key + ":lock"
        if await client.set(lock_key, secrets.token_hex(8), nx=True, px=LOCK_MS):
            try:
                metrics.CATALOG_CACHE_MISSES.inc()
                value = await build()
                await client.set(full_key, value, ex=_ttl())
            finally:
                await client.delete(lock_key)
            return value
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            value = await client.get(full_key)
            if value is not None:
                return value
    except (RedisError, OSError) as exc:
        _mark_down(exc)
    metrics.CATALOG_CACHE_MISSES.inc()
    return await build()


# ---------------------------------------------------------------- level 1 and the entry point


def clear_local() -> None:
    global _l1_version
    _l1.clear()
    _l1_version = None


async def cached(version: int, key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
    """The bytes of `key` for catalogue `version`: from this process, else from Redis, else built (once)."""
    global _l1_version
    if version != _l1_version:
        _l1.clear()
        _l1_version = version
    entry = _l1.get(key)
    if entry is not None and time.monotonic() - entry[0] < L1_TTL_SECONDS:
        metrics.CATALOG_CACHE_L1_HITS.inc()
        return entry[1]
    loop = asyncio.get_running_loop()
    task = _building.get((version, key))
    if task is None or task.get_loop() is not loop:
        task = loop.create_task(_shared(version, key, build))
        _building[(version, key)] = task
        task.add_done_callback(lambda _t, k=(version, key): _building.pop(k, None))
    value = await asyncio.shield(task)
    if version == _l1_version:
        if len(_l1) >= L1_MAX_ENTRIES and key not in _l1:
            del _l1[next(iter(_l1))]
        _l1[key] = (time.monotonic(), value)
    return value
