"""Sliding-window attempt counters shared by every server process: Redis when it answers, the database
otherwise (its own short transactions, so a failed request's rollback does not erase the count).

`claim` records an attempt and decides in one step, so concurrent attempts cannot all slip in under the
limit: each one is counted before it is judged. An attempt that turns out not to count (a login that
succeeded) is given back with `release`.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope, utcnow
from app.redis import RedisError, get_redis
from app.users.models import ThrottleHit

log = logging.getLogger(__name__)
_PREFIX = "daoxiang:throttle:"


def _retry_after(oldest_ts: float | None, window_seconds: int, now: float) -> int:
    """Whole seconds until the oldest attempt leaves the window (at least 1)."""
    if oldest_ts is None:
        return window_seconds
    return max(1, math.ceil(oldest_ts + window_seconds - now))


def _retry_after_db(oldest_at: datetime | None, window_seconds: int) -> int:
    return _retry_after(oldest_at.timestamp() if oldest_at else None, window_seconds, utcnow().timestamp())


@dataclass(frozen=True)
class Claim:
    key: str
    allowed: bool
    retry_after: int
    # The Redis member or the database row id of this attempt, for `release`.
    redis_member: str | None = None
    row_id: int | None = None


async def claim(key: str, window_seconds: int, limit: int) -> Claim:
    """Count this attempt and say whether it is within `limit` attempts per window. A refused attempt is
    not kept, so hammering a locked key does not extend the lock."""
    client = get_redis()
    if client is not None:
        try:
            now = time.time()
            rkey = _PREFIX + key
            member = f"{now}:{uuid.uuid4().hex[:12]}"
            pipe = client.pipeline(transaction=True)
            pipe.zremrangebyscore(rkey, 0, now - window_seconds)
            pipe.zadd(rkey, {member: now})
            pipe.zcard(rkey)
            pipe.zrange(rkey, 0, 0, withscores=True)
            pipe.expire(rkey, window_seconds + 1)
            _, _, attempts, oldest, _ = await pipe.execute()
            # MULTI runs atomically, so `attempts` counts this one and every attempt Redis took before it
            # (client clocks may disagree about the order; Redis does not).
            if attempts > limit:
                await client.zrem(rkey, member)
                oldest_ts = oldest[0][1] if oldest else None
                return Claim(key, False, _retry_after(oldest_ts, window_seconds, now))
            return Claim(key, True, 0, redis_member=member)
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    since = utcnow() - timedelta(seconds=window_seconds)
    async with session_scope() as session:
        hit_ = ThrottleHit(key=key)
        session.add(hit_)
        await session.flush()
        row_id = hit_.id
    async with session_scope() as session:
        before, oldest_at = (
            await session.execute(
                select(func.count(), func.min(ThrottleHit.created_at)).where(
                    ThrottleHit.key == key, ThrottleHit.created_at > since, ThrottleHit.id < row_id
                )
            )
        ).one()
        if before >= limit:
            await session.execute(delete(ThrottleHit).where(ThrottleHit.id == row_id))
            return Claim(key, False, _retry_after_db(oldest_at, window_seconds))
    return Claim(key, True, 0, row_id=row_id)


async def release(claim_: Claim) -> None:
    """Give back an attempt that turned out not to count."""
    if claim_.redis_member is not None:
        client = get_redis()
        if client is not None:
            try:
                await client.zrem(_PREFIX + claim_.key, claim_.redis_member)
            except (RedisError, OSError):
                log.warning("redis unavailable; a throttle claim stays until its window ends")
    if claim_.row_id is not None:
        async with session_scope() as session:
            await session.execute(delete(ThrottleHit).where(ThrottleHit.id == claim_.row_id))


async def count(key: str, window_seconds: int) -> tuple[int, int]:
    """(attempts within the window, seconds until the oldest of them leaves it)."""
    client = get_redis()
    if client is not None:
        try:
            now = time.time()
            rkey = _PREFIX + key
            pipe = client.pipeline(transaction=True)
            pipe.zremrangebyscore(rkey, 0, now - window_seconds)
            pipe.zcard(rkey)
            pipe.zrange(rkey, 0, 0, withscores=True)
            _, n, oldest = await pipe.execute()
            oldest_ts = oldest[0][1] if oldest else None
            return int(n), _retry_after(oldest_ts, window_seconds, now)
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    since = utcnow() - timedelta(seconds=window_seconds)
    async with session_scope() as session:
        row = (
            await session.execute(
                select(func.count(), func.min(ThrottleHit.created_at)).where(
                    ThrottleHit.key == key, ThrottleHit.created_at > since
                )
            )
        ).one()
    return int(row[0]), _retry_after_db(row[1], window_seconds)


async def hit(key: str, window_seconds: int) -> None:
    client = get_redis()
    if client is not None:
        try:
            now = time.time()
            rkey = _PREFIX + key
            pipe = client.pipeline(transaction=True)
            pipe.zadd(rkey, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.expire(rkey, window_seconds + 1)
            await pipe.execute()
            return
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    async with session_scope() as session:
        session.add(ThrottleHit(key=key))


async def reset(key: str) -> None:
    client = get_redis()
    if client is not None:
        try:
            await client.delete(_PREFIX + key)
            return
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    async with session_scope() as session:
        await session.execute(delete(ThrottleHit).where(ThrottleHit.key == key))


async def purge_older_than(session: AsyncSession, seconds: int) -> int:
    result = await session.execute(
        delete(ThrottleHit).where(ThrottleHit.created_at < utcnow() - timedelta(seconds=seconds))
    )
    return result.rowcount or 0
