"""The Redis gate in front of a flash sale: a rush is answered here, and only the buyers it lets through
reach the database (which stays the record: its conditional UPDATE and the per-customer count under the
customer's lock decide; the gate only filters).

Per sale, two hashes (one hash tag, so a cluster keeps them together):
  daoxiang:flash:{<id>}        remaining, limit, starts, ends (epoch seconds)
  daoxiang:flash:{<id>}:held   user id -> units held (orders not cancelled)

`take` is one Lua script: it checks the window and the customer's limit and takes the quantity, atomically.
What a request took is given back (`give_back`) when its order is not placed, and when the order is
cancelled or times out (after that commit). `reset` writes the database's figures into the gate: at creation
and in the reconciliation job, which makes gate and database agree after any crash.

Redis is optional: without REDIS_URL, with the breaker open (app.redis) or on any Redis error the gate
answers `UNAVAILABLE` and checkout decides on the database alone.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from app.redis import RedisError, get_redis

log = logging.getLogger("daoxiang.flash_sales")


class Gate(enum.StrEnum):
    TAKEN = "taken"
    NOT_ACTIVE = "not_active"
    LIMIT = "limit"
    SOLD_OUT = "sold_out"
    MISSING = "missing"  # no gate for this sale (not yet made, or Redis lost it): the database decides
    UNAVAILABLE = "unavailable"  # no Redis: the database decides


TAKE = """
local sale = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts', 'ends')
if not sale[1] then return 'missing' end
local now = tonumber(ARGV[3])
if now < tonumber(sale[3]) or now >= tonumber(sale[4]) then return 'not_active' end
local qty = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held + qty > tonumber(sale[2]) then return 'limit' end
if tonumber(sale[1]) < qty then return 'sold_out' end
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
return 'taken'
"""

GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local units = tonumber(ARGV[2])
if units > 0 then redis.call('HINCRBY', KEYS[1], 'remaining', units) end
local held = tonumber(ARGV[3])
if held > 0 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], -held) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
end
return 1
"""

RESET = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'limit', ARGV[2], 'starts', ARGV[3], 'ends', ARGV[4])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
if #ARGV > 5 then redis.call('EXPIREAT', KEYS[2], ARGV[5]) end
return 1
"""

# The gate outlives the sale by a day (a late cancellation still finds it; then it expires by itself).
KEEP_AFTER_END_SECONDS = 86_400


def keys(sale_id: int) -> list[str]:
    base = f"daoxiang:flash:{{{sale_id}}}"
    return [base, base + ":held"]


def _client() -> Redis | None:
    return get_redis()


async def _run(client: Redis, script: str, sale_id: int, *args: int | float) -> object:
    """The script by its digest (EVALSHA), sent whole only when Redis does not know it yet."""
    sha = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1
    try:
        return await client.evalsha(sha, 2, *keys(sale_id), *args)
    except NoScriptError:
        return await client.eval(script, 2, *keys(sale_id), *args)


async def take(sale_id: int, user_id: int, quantity: int, now: datetime) -> Gate:
    client = _client()
    if client is None:
        return Gate.UNAVAILABLE
    try:
        answer = await _run(client, TAKE, sale_id, user_id, quantity, now.timestamp())
    except RedisError as exc:
        log.warning("flash sale gate unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
        return Gate.UNAVAILABLE
    return Gate(answer.decode() if isinstance(answer, bytes) else answer)


async def give_back(sale_id: int, user_id: int, *, units: int, held: int) -> None:
    """Return `units` to the gate's remaining and `held` of the customer's holding. A gate that is gone is
    left alone (the reconciliation job makes a new one from the database)."""
    if units <= 0 and held <= 0:
        return
    client = _client()
    if client is None:
        return
    try:
        await _run(client, GIVE_BACK, sale_id, user_id, units, held)
    except RedisError as exc:
        log.warning("flash sale gate not given back", extra={"sale_id": sale_id, "error": str(exc)[:200]})


async def reset(
    sale_id: int,
    *,
    remaining: int,
    limit: int,
    starts_at: datetime,
    ends_at: datetime,
    held: Iterable[tuple[int, int]],
) -> bool:
    """Make the gate of a sale say what the database says. False without Redis."""
    client = _client()
    if client is None:
        return False
    args: list[int | float] = [
        remaining,
        limit,
        starts_at.timestamp(),
        ends_at.timestamp(),
        int(ends_at.timestamp()) + KEEP_AFTER_END_SECONDS,
    ]
    for user_id, units in held:
        if units > 0:
            args += [user_id, units]
    try:
        await _run(client, RESET, sale_id, *args)
    except RedisError as exc:
        log.warning("flash sale gate not reset", extra={"sale_id": sale_id, "error": str(exc)[:200]})
        return False
    return True


async def remove(sale_id: int) -> None:
    """A closed sale has no gate: requests find none and the database answers flash_sale_not_active."""
    client = _client()
    if client is None:
        return
    try:
        await client.delete(*keys(sale_id))
    except RedisError as exc:
        log.warning("flash sale gate not removed", extra={"sale_id": sale_id, "error": str(exc)[:200]})


async def state(sale_id: int) -> tuple[int, dict[int, int]] | None:
    """(remaining, {user id: units held}) as the gate has them; None without a gate or Redis."""
    client = _client()
    if client is None:
        return None
    sale_key, held_key = keys(sale_id)
    try:
        remaining = await client.hget(sale_key, "remaining")
        if remaining is None:
            return None
        held = await client.hgetall(held_key)
    except RedisError:
        return None
    return int(remaining), {int(user): int(units) for user, units in held.items()}
