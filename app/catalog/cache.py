"""Read-through Redis cache for the public catalogue (list pages, product details, categories).

* Versioned keys: every key carries the catalogue version `daoxiang:catalog:ver`. A write that changes what a
  customer sees registers `invalidate_after_commit(session)`: after its transaction commits and before the
  response is sent, the version is bumped (INCR), so every older page is unreachable at once — no key scans,
  and the writer's next read is never stale. (Bumping before the commit would let a reader cache the old rows
  under the new version.)
* One round trip per hit: a Lua script reads the version and the versioned key together.
* TTL `TTL_SECONDS` plus up to `TTL_JITTER_SECONDS` of random jitter, so pages do not expire together.
* Single flight: on a miss one request takes a short lock (`SET NX PX`) and rebuilds; the others poll the key
  for up to `WAIT_SECONDS` and then read the database themselves (without writing the cache).
* Stock is never trusted from the cache: detail pages are cached with placeholders where each SKU's stock
  goes, and the live stock is filled in from one indexed query on every read (see service.product_detail).
  Orders move stock with atomic SQL updates from another domain, so they need not know about this cache.
* No REDIS_URL: everything reads the database. Redis down: the error is logged, reads go to the database for
  `BACKOFF_SECONDS`, and nothing answers 500.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import after_commit
from app.redis import RedisError

log = logging.getLogger(__name__)

PREFIX = "daoxiang:catalog:"
VERSION_KEY = PREFIX + "ver"
TTL_SECONDS = 300
TTL_JITTER_SECONDS = 60
LOCK_MS = 3000
WAIT_SECONDS = 0.25
_POLL_SECONDS = 0.01
BACKOFF_SECONDS = 2.0

# Returns {version, value-or-nil}. A missing version starts at the current time in ms so that a version is
# never reused after Redis lost the counter.
_GET_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[3], 'NX')
  v = redis.call('GET', KEYS[1])
end
return {v, redis.call('GET', ARGV[1] .. v .. ':' .. ARGV[2])}
"""

MAX_CONNECTIONS = 50
FAILURES_BEFORE_BACKOFF = 3

_script = None
_script_client = None
_down_until = 0.0
_failures = 0
_redis: Redis | None = None
_redis_loop: asyncio.AbstractEventLoop | None = None


def get_redis() -> Redis | None:
    """The cache's own client: a bounded, blocking pool, so that a burst of requests reuses a few warm
    connections instead of opening one each (new connections are what time out on a busy machine)."""
    global _redis, _redis_loop
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
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
        await _redis.connection_pool.disconnect()
    _redis = _redis_loop = None


def _client():
    if time.monotonic() < _down_until:
        return None
    return get_redis()


def _mark_down(exc: BaseException) -> None:
    """One failure sends this request to the database; a few in a row send every request there for a while
    (so a dead Redis costs nothing per request, and a single slow connect does not)."""
    global _down_until, _failures
    _failures += 1
    if _failures >= FAILURES_BEFORE_BACKOFF:
        _down_until = time.monotonic() + BACKOFF_SECONDS
        _failures = 0
        log.warning(
            "redis unavailable for the catalogue cache; reading the database", extra={"error": str(exc)}
        )


def _reset_failures() -> None:
    global _failures
    _failures = 0


def _get_script(client):
    global _script, _script_client
    if _script is None or _script_client is not client:
        _script = client.register_script(_GET_SCRIPT)
        _script_client = client
    return _script


def _ttl() -> int:
    return TTL_SECONDS + random.randint(0, TTL_JITTER_SECONDS)  # noqa: S311 - jitter, not security


async def cached(key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
    """The bytes cached under `key` for the current catalogue version, built (once) on a miss."""
    client = _client()
    if client is None:
        return await build()
    try:
        version, value = await _get_script(client)(
            keys=[VERSION_KEY], args=[PREFIX, key, str(int(time.time() * 1000))]
        )
        _reset_failures()
        if value is not None:
            return value
        full_key = f"{PREFIX}{version.decode()}:{key}"
        lock_key = full_key + ":lock"
        token = secrets.token_hex(8)
        if await client.set(lock_key, token, nx=True, px=LOCK_MS):
            try:
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
    return await build()


async def bump() -> None:
    """Make every cached catalogue page unreachable (new version)."""
    client = get_redis()
    if client is None:
        return
    try:
        await client.incr(VERSION_KEY)
    except (RedisError, OSError) as exc:
        # The pages cached before stay reachable until their TTL: log loudly, the write itself stands.
        # This process stops trusting the cache until every page cached before has expired.
        global _down_until
        log.error("could not bump the catalogue cache version", extra={"error": str(exc)})
        _down_until = time.monotonic() + TTL_SECONDS + TTL_JITTER_SECONDS


def invalidate_after_commit(session: AsyncSession) -> None:
    """Call from any write that changes what a customer sees in the catalogue (other domains too, e.g.
    traceability adding a certificate shown on a product page)."""
    after_commit(session, "catalog.cache.bump", bump)
