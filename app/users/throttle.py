"""Attempt counters shared by every server process, and the login rule built on them.

Counters live in Redis when it answers, in the database otherwise (`throttle_hits`, its own short
transactions, so a failed request's rollback does not erase the count). `claim` and `claim_spaced` record
an attempt and decide in one step, so concurrent attempts cannot all slip in: each one is counted before it
is judged, and one that turns out not to count (a login that succeeded) is given back with `release`.
Time comes from `clock()` (seconds since the epoch), which tests replace.

## Logins: slow the attacker, never lock out the owner

Locking a phone after N failures hands the lock to anyone who knows the phone number, and counting per
address locks out a whole campus or carrier NAT. Instead a login attempt passes four checks, all keyed by the
client's *network* (IPv4 /24, IPv6 /48: one household, office or NAT pool; an IPv6 client owns far more
than one address) from app.users.dependencies.client_ip:

1. **Per phone and network, growing delays.** The first LOGIN_FREE_FAILURES failures for a phone from a
   network are free; after that each attempt must wait LOGIN_BACKOFF_BASE_SECONDS × 2^k after the previous
   one (k = failures beyond the free ones), at most LOGIN_BACKOFF_MAX_SECONDS, else 429 `too_many_attempts`
   with Retry-After. Failures are remembered for LOGIN_FAILURE_WINDOW_SECONDS; a success from that network
   forgets them. An attacker on another network never delays the owner; one guessing from the owner's own
   network delays the owner at most one step (the cap), never indefinitely.
2. **Networks that logged in before.** A network from which the phone logged in successfully within
   LOGIN_KNOWN_NETWORK_DAYS is *known* for that phone; the two ceilings below never refuse a known network.
3. **Per phone across all networks, a ceiling.** More than LOGIN_MAX_FAILURES_PER_PHONE failures within the
   window, from anywhere (guessing spread over many networks), and unknown networks are refused until the
   oldest failure leaves the window: a botnet cannot out-guess rule 1 by moving, and the owner's usual
   networks still log in.
4. **Per network across phones, a higher ceiling.** Credential stuffing tries many phones a few times
   each. A network counts one point per phone that starts failing there (its first failure in the window);
   past LOGIN_MAX_PHONES_PER_NETWORK phones within LOGIN_NETWORK_WINDOW_SECONDS, that network may log into
   no account it is not known for. People behind the same NAT who mistype their own passwords add a point
   each, so an ordinary campus stays far below it, and those who logged in from there before are never
   refused.

A refused attempt is not recorded, so hammering a delayed or refused login does not extend the delay.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope
from app.redis import RedisError, get_redis
from app.users.models import ThrottleHit

log = logging.getLogger(__name__)
_PREFIX = "daoxiang:throttle:"
# No limit: the attempt is recorded (and may be given back) but never refused.
UNLIMITED = 2**62


def clock() -> float:
    """Now, in seconds since the epoch. Tests replace it to move time without sleeping."""
    return time.time()


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _seconds(wait: float) -> int:
    """A wait in whole seconds for Retry-After: at least 1, rounded up (ignoring the sub-millisecond noise
    of times stored by the database at microsecond precision)."""
    return max(1, math.ceil(wait - 0.001))


def _retry_after(oldest_ts: float | None, window_seconds: float, now: float) -> int:
    """Whole seconds until the oldest attempt leaves the window (at least 1)."""
    if oldest_ts is None:
        return _seconds(window_seconds)
    return _seconds(oldest_ts + window_seconds - now)


def backoff_seconds(extra_failures: int, base: float, cap: float) -> float:
    """The wait after `extra_failures` failures beyond the free ones: base × 2^extra, at most cap."""
    if extra_failures < 0:
        return 0.0
    if extra_failures >= 64:
        return cap
    return min(base * 2**extra_failures, cap)


def network_of(ip: str) -> str:
    """The client network an address belongs to: IPv4 /24, IPv6 /48 (an IPv4-mapped IPv6 address counts as
    its IPv4). Anything that is not an address is kept as it is (bounded)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network((int(address), prefix), strict=False))


@dataclass(frozen=True)
class Claim:
    key: str
    allowed: bool
    retry_after: int
    # The Redis member or the database row id of this attempt, for `release`.
    redis_member: str | None = None
    row_id: int | None = None
    # Attempts already in the window when this one came.
    before: int = 0


# One step in Redis: forget attempts older than the window; if the free attempts are used up and the wait
# after the newest one has not passed, refuse (nothing recorded) with the seconds left; else record this one.
# Returns {seconds to wait (0 when recorded), attempts before this one}.
_SPACED = """
local key, now, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local free, base, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local n = redis.call('ZCARD', key)
if n >= free then
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  local extra = n - free
  local wait = cap
  if extra < 64 then wait = math.min(base * 2 ^ extra, cap) end
  local ready = tonumber(newest[2]) + wait
  if now < ready then return {math.ceil(ready - now), n} end
end
redis.call('ZADD', key, now, ARGV[6])
redis.call('EXPIRE', key, math.ceil(window) + 1)
return {0, n}
"""


async def claim(key: str, window_seconds: float, limit: int) -> Claim:
    """Count this attempt and say whether it is within `limit` attempts per window. A refused attempt is
    not kept, so hammering a locked key does not extend the lock."""
    client = get_redis()
    if client is not None:
        try:
            now = clock()
            rkey = _PREFIX + key
            member = f"{now}:{uuid.uuid4().hex[:12]}"
            pipe = client.pipeline(transaction=True)
            pipe.zremrangebyscore(rkey, 0, now - window_seconds)
            pipe.zadd(rkey, {member: now})
            pipe.zcard(rkey)
            pipe.zrange(rkey, 0, 0, withscores=True)
            pipe.expire(rkey, math.ceil(window_seconds) + 1)
            _, _, attempts, oldest, _ = await pipe.execute()
            # MULTI runs atomically, so `attempts` counts this one and every attempt Redis took before it
            # (client clocks may disagree about the order; Redis does not).
            if attempts > limit:
                await client.zrem(rkey, member)
                oldest_ts = oldest[0][1] if oldest else None
                return Claim(key, False, _retry_after(oldest_ts, window_seconds, now), before=attempts - 1)
            return Claim(key, True, 0, redis_member=member, before=attempts - 1)
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    row_id, before, _newest, oldest_at = await _db_record(key, window_seconds)
    if before >= limit:
        await _db_forget(row_id)
        oldest_ts = oldest_at.timestamp() if oldest_at else None
        return Claim(key, False, _retry_after(oldest_ts, window_seconds, clock()), before=before)
    return Claim(key, True, 0, row_id=row_id, before=before)


async def claim_spaced(key: str, window_seconds: float, free: int, base: float, cap: float) -> Claim:
    """Count this attempt unless it comes too soon: the first `free` attempts in the window pass at once,
    each later one only `backoff_seconds(k, base, cap)` after the newest (k = attempts beyond `free`)."""
    client = get_redis()
    if client is not None:
        try:
            now = clock()
            member = f"{now}:{uuid.uuid4().hex[:12]}"
            wait, before = await client.eval(
                _SPACED, 1, _PREFIX + key, repr(now), repr(float(window_seconds)), free, repr(base),
                repr(cap), member,
            )  # fmt: skip
            if int(wait) > 0:
                return Claim(key, False, int(wait), before=int(before))
            return Claim(key, True, 0, redis_member=member, before=int(before))
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    row_id, before, newest_at, _oldest = await _db_record(key, window_seconds)
    if before >= free and newest_at is not None:
        ready = newest_at.timestamp() + backoff_seconds(before - free, base, cap)
        now = clock()
        if now < ready - 0.001:  # stored times are rounded to the microsecond
            await _db_forget(row_id)
            return Claim(key, False, _seconds(ready - now), before=before)
    return Claim(key, True, 0, row_id=row_id, before=before)


async def _db_record(key: str, window_seconds: float) -> tuple[int, int, datetime | None, datetime | None]:
    """Record an attempt; (its row id, attempts before it in the window, the newest and oldest of those)."""
    now = clock()
    async with session_scope() as session:
        hit_ = ThrottleHit(key=key, created_at=_at(now))
        session.add(hit_)
        await session.flush()
        row_id = hit_.id
    async with session_scope() as session:
        before, newest_at, oldest_at = (
            await session.execute(
                select(
                    func.count(), func.max(ThrottleHit.created_at), func.min(ThrottleHit.created_at)
                ).where(
                    ThrottleHit.key == key,
                    ThrottleHit.created_at > _at(now - window_seconds),
                    ThrottleHit.id < row_id,
                )
            )
        ).one()
    return row_id, int(before), newest_at, oldest_at


async def _db_forget(row_id: int) -> None:
    async with session_scope() as session:
        await session.execute(delete(ThrottleHit).where(ThrottleHit.id == row_id))


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
        await _db_forget(claim_.row_id)


async def count(key: str, window_seconds: float) -> tuple[int, int]:
    """(attempts within the window, seconds until the oldest of them leaves it)."""
    now = clock()
    client = get_redis()
    if client is not None:
        try:
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
    async with session_scope() as session:
        row = (
            await session.execute(
                select(func.count(), func.min(ThrottleHit.created_at)).where(
                    ThrottleHit.key == key, ThrottleHit.created_at > _at(now - window_seconds)
                )
            )
        ).one()
    oldest_ts = row[1].timestamp() if row[1] else None
    return int(row[0]), _retry_after(oldest_ts, window_seconds, now)


async def hit(key: str, window_seconds: float) -> None:
    now = clock()
    client = get_redis()
    if client is not None:
        try:
            rkey = _PREFIX + key
            pipe = client.pipeline(transaction=True)
            pipe.zadd(rkey, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.expire(rkey, math.ceil(window_seconds) + 1)
            await pipe.execute()
            return
        except (RedisError, OSError):
            log.warning("redis unavailable for throttling; using the database")
    async with session_scope() as session:
        session.add(ThrottleHit(key=key, created_at=_at(now)))


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


async def purge_older_than(session: AsyncSession, seconds: float) -> int:
    result = await session.execute(delete(ThrottleHit).where(ThrottleHit.created_at < _at(clock() - seconds)))
    return result.rowcount or 0


# ------------------------------------------------------------------------------------------------ logins


@dataclass(frozen=True)
class LoginAttempt:
    """An admitted login attempt, counted as a failure until `login_succeeded` says otherwise."""

    phone: str
    network: str
    pair: Claim
    phone_claim: Claim


@dataclass(frozen=True)
class LoginRefused:
    retry_after: int


def _keys(phone: str, network: str) -> tuple[str, str, str, str]:
    return (
        f"login:pn:{phone}:{network}",  # rule 1
        f"login:ok:{phone}:{network}",  # rule 2
        f"login:phone:{phone}",  # rule 3
        f"login:net:{network}",  # rule 4
    )


async def admit_login(phone: str, client_ip: str) -> LoginAttempt | LoginRefused:
    """Decide whether a login for `phone` from `client_ip` may be tried now (see the module docstring)."""
    settings = get_settings()
    network = network_of(client_ip)
    pair_key, known_key, phone_key, net_key = _keys(phone, network)
    known, _ = await count(known_key, settings.login_known_network_days * 86_400)
    if not known:
        stuffed, retry_after = await count(net_key, settings.login_network_window_seconds)
        if stuffed >= settings.login_max_phones_per_network:
            return LoginRefused(retry_after)
    window = settings.login_failure_window_seconds
    phone_claim = await claim(
        phone_key, window, UNLIMITED if known else settings.login_max_failures_per_phone
    )
    if not phone_claim.allowed:
        return LoginRefused(phone_claim.retry_after)
    pair = await claim_spaced(
        pair_key,
        window,
        settings.login_free_failures,
        settings.login_backoff_base_seconds,
        settings.login_backoff_max_seconds,
    )
    if not pair.allowed:
        await release(phone_claim)
        return LoginRefused(pair.retry_after)
    return LoginAttempt(phone, network, pair, phone_claim)


async def login_failed(attempt: LoginAttempt) -> None:
    """The password was wrong: the attempt stays counted; a phone that starts failing here adds a point to
    its network (rule 4)."""
    if attempt.pair.before == 0:
        await hit(_keys(attempt.phone, attempt.network)[3], get_settings().login_network_window_seconds)


async def login_abandoned(attempt: LoginAttempt) -> None:
    """The password could not be checked (a server-side failure): give the attempt back. Best effort: the
    store that counted it may be the one that is failing."""
    for claimed in (attempt.pair, attempt.phone_claim):
        try:
            await release(claimed)
        except Exception:  # noqa: BLE001 - the original error is what the caller must see
            log.warning("could not give back an abandoned login attempt (%s)", claimed.key)


async def login_succeeded(attempt: LoginAttempt) -> None:
    """The owner is in: forget this network's failures for the phone and remember the network as known."""
    pair_key, known_key, _, _ = _keys(attempt.phone, attempt.network)
    await reset(pair_key)
    await release(attempt.phone_claim)
    await reset(known_key)
    await hit(known_key, get_settings().login_known_network_days * 86_400)


def longest_window_seconds() -> float:
    """How long any counter here must be kept (for the purge job)."""
    settings = get_settings()
    return max(
        86_400,
        settings.register_window_seconds,
        settings.login_failure_window_seconds,
        settings.login_network_window_seconds,
        settings.login_known_network_days * 86_400,
    )
