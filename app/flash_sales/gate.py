"""The Redis gate in front of a flash sale: a rush is answered here, and only the buyers it lets through
reach the database (which stays the record: its conditional UPDATE and the per-customer count under the
customer's lock decide; the gate only filters).

Per sale, three hashes (one hash tag, so a cluster keeps them together):
  daoxiang:flash:{<id>}        remaining, limit, starts, ends (epoch seconds)
  daoxiang:flash:{<id>}:held   user id -> units held (orders not cancelled)
  daoxiang:flash:{<id>}:keys   "<user id>:<Idempotency-Key>" of every request the gate let through, and
                               `*complete` while that list is known to hold every key an order of the sale
                               was placed under (set when the sale's gate is made, before any order)

`take` is one Lua script: it checks the window and the customer's limit and takes the quantity, atomically.
A refused request with an Idempotency-Key the gate never let through cannot be the repeat of a placed order
while `*complete` stands: it is refused at once, without the database (`take_keyed`); any other keyed refusal
looks at its key in the database first (a repeat gets its order). `*complete` goes when the gate is found
missing, and when the reconciliation job finds a holding the gate had not seen (an order placed on the
database alone while Redis was unreachable).
What a request took is given back (`give_back`) when its order is not placed, and when the order is
cancelled or times out (after that commit). `reset` writes the database's figures into the gate: at creation
and in the reconciliation job, which makes gate and database agree after any crash.

Redis is optional: without REDIS_URL, with the breaker open (app.redis) or on any Redis error the gate
answers `UNAVAILABLE` and checkout decides on the database alone.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from app.redis import PipelinedRedis, RedisError, get_redis, pipelined_redis

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
if not sale[1] then
  redis.call('HDEL', KEYS[3], '*complete')
  return 'missing'
end
local refusal
local now = tonumber(ARGV[3])
local qty = tonumber(ARGV[2])
if now < tonumber(sale[3]) or now >= tonumber(sale[4]) then
  refusal = 'not_active'
elseif tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') + qty > tonumber(sale[2]) then
  refusal = 'limit'
elseif tonumber(sale[1]) < qty then
  refusal = 'sold_out'
end
local key = ARGV[4]
if refusal then
  if key == '' or (redis.call('HEXISTS', KEYS[3], '*complete') == 1 and redis.call('HEXISTS', KEYS[3], key) == 0) then
    return refusal
  end
  return refusal .. '?'
end
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
if key ~= '' then
  redis.call('HSET', KEYS[3], key, 1)
  if redis.call('TTL', KEYS[3]) < 0 then redis.call('EXPIREAT', KEYS[3], math.floor(tonumber(sale[4])) + tonumber(ARGV[5])) end
end
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
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
if #ARGV > 6 then redis.call('EXPIREAT', KEYS[2], ARGV[5]) end
if ARGV[6] == 'new' then
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], '*complete', 1)
  redis.call('EXPIREAT', KEYS[3], ARGV[5])
elseif ARGV[6] == 'incomplete' then
  redis.call('HDEL', KEYS[3], '*complete')
end
return 1
"""

# The gate outlives the sale by a day (a late cancellation still finds it; then it expires by itself).
KEEP_AFTER_END_SECONDS = 86_400


def keys(sale_id: int) -> list[str]:
    base = f"daoxiang:flash:{{{sale_id}}}"
    return [base, base + ":held", base + ":keys"]


@functools.cache
def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1


def _client() -> Redis | None:
    return get_redis()


def _rush_client() -> PipelinedRedis | Redis | None:
    """The client of the calls every request of a rush makes (take, give back): pipelined on one connection
    (app.redis.pipelined_redis: no pool checkout per command, no burst of new connections when a rush
    starts), None whenever `_client()` is."""
    if _client() is None:
        return None
    return pipelined_redis()


async def _run(client: PipelinedRedis | Redis, script: str, sale_id: int, *args: int | float | str) -> object:
    """The script by its digest (EVALSHA), sent whole only when Redis does not know it yet."""
    sha = _sha(script)
    try:
        return await client.evalsha(sha, 3, *keys(sale_id), *args)
    except NoScriptError:
        return await client.eval(script, 3, *keys(sale_id), *args)


async def take(sale_id: int, user_id: int, quantity: int, now: datetime) -> Gate:
    return (await take_keyed(sale_id, user_id, quantity, now, None))[0]


async def take_keyed(
    sale_id: int, user_id: int, quantity: int, now: datetime, idempotency_key: str | None
) -> tuple[Gate, bool]:
    """The gate's answer, and whether a refusal may be the repeat of a request whose order was placed (its
    Idempotency-Key must be looked at in the database before refusing). Always False without a key."""
    client = _rush_client()
    if client is None:
        return Gate.UNAVAILABLE, False
    key = f"{user_id}:{idempotency_key}" if idempotency_key is not None else ""
    try:
        answer = await _run(
            client, TAKE, sale_id, user_id, quantity, now.timestamp(), key, KEEP_AFTER_END_SECONDS
        )
    except (RedisError, OSError) as exc:
        log.warning("flash sale gate unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
        return Gate.UNAVAILABLE, False
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    if text.endswith("?"):
        return Gate(text[:-1]), True
    return Gate(text), False


async def give_back(sale_id: int, user_id: int, *, units: int, held: int) -> None:
    """Return `units` to the gate's remaining and `held` of the customer's holding. A gate that is gone is
    left alone (the reconciliation job makes a new one from the database)."""
    if units <= 0 and held <= 0:
        return
    client = _rush_client()
    if client is None:
        return
    try:
        await _run(client, GIVE_BACK, sale_id, user_id, units, held)
    except (RedisError, OSError) as exc:
        log.warning("flash sale gate not given back", extra={"sale_id": sale_id, "error": str(exc)[:200]})


async def reset(
    sale_id: int,
    *,
    remaining: int,
    limit: int,
    starts_at: datetime,
    ends_at: datetime,
    held: Iterable[tuple[int, int]],
    keys_complete: bool | None = None,
) -> bool:
    """Make the gate of a sale say what the database says. False without Redis. `keys_complete`: True for a
    new sale (no order yet: the gate's list of keys starts empty and complete), False when an order may have
    been placed without the gate (its key is not in the list: keyed refusals ask the database again), None
    to leave the list as it is."""
    client = _client()
    if client is None:
        return False
    args: list[int | float] = [
        remaining,
        limit,
        starts_at.timestamp(),
        ends_at.timestamp(),
        int(ends_at.timestamp()) + KEEP_AFTER_END_SECONDS,
        {True: "new", False: "incomplete", None: "keep"}[keys_complete],
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
    sale_key, held_key, _ = keys(sale_id)
    try:
        remaining = await client.hget(sale_key, "remaining")
        if remaining is None:
            return None
        held = await client.hgetall(held_key)
    except RedisError:
        return None
    return int(remaining), {int(user): int(units) for user, units in held.items()}
