"""Idempotency-Key for checkout, scoped to the customer.

The durable claim is a unique (user_id, key) row: inserting it is taking the key, and a duplicate-key error
means someone else has it (never select-then-insert). The row holds a hash of the request body and, once
the order exists, the saved response (status and body), committed in the order's own transaction.

A concurrent duplicate must see that the key is taken while the first request is still running, so the
key is also claimed *before* the order's transaction starts:

* With Redis: `SET NX PX` on a short-lived key (one round trip, no extra database commit). The unique
  row is then inserted, with the response, in the order's transaction; if it already exists (the Redis
  claim expired, or Redis lost it) the order is rolled back and the saved answer returned instead.
* Without Redis (or Redis down): the row itself is inserted and committed in its own short transaction,
  and the order's transaction fills in the response.

If the order fails, the claim is released so that a retry can succeed. A claim whose request died (crash,
failed commit) can be taken over after IDEMPOTENCY_STALE_CLAIM_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import utcnow
from app.orders import repository
from app.orders.errors import IdempotencyKeyReused, RequestInProgress
from app.orders.repository import CheckoutStore
from app.redis import RedisError, get_redis

log = logging.getLogger("daoxiang.orders.idempotency")

REDIS_PREFIX = "daoxiang:idem:"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class KeyAlreadyStored(Exception):
    """The order's transaction found the key's row already there: answer from the row instead."""


@dataclass(frozen=True)
class Claim:
    user_id: int
    key: str
    body_hash: str
    row_id: int | None = None  # claimed with a committed row (no Redis)
    redis_key: str | None = None  # claimed in Redis; the row is inserted with the order
    redis_value: str | None = None


@dataclass(frozen=True)
class SavedResponse:
    status: int
    body: dict[str, Any]


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _in_progress() -> RequestInProgress:
    return RequestInProgress("A request with this Idempotency-Key is still being processed; retry shortly.")


async def claim(session: AsyncSession, user_id: int, key: str, body_hash: str) -> Claim | SavedResponse:
    """Take the key, or learn what happened to the request that took it first.

    Uses the request's own session (one connection per request, however many wait): without Redis the
    claim row is committed on it before the order's transaction begins. `session` must hold no writes."""
    client = get_redis()
    if client is not None:
        try:
            return await _claim_in_redis(session, client, user_id, key, body_hash)
        except (RedisError, OSError) as exc:
            log.warning("redis unavailable for idempotency; using the database", extra={"error": str(exc)})
    return await _claim_in_database(session, user_id, key, body_hash)


async def _claim_in_redis(
    session: AsyncSession, client: Any, user_id: int, key: str, body_hash: str
) -> Claim | SavedResponse:
    redis_key = f"{REDIS_PREFIX}{user_id}:{hashlib.sha256(key.encode()).hexdigest()}"
    ttl_ms = int(get_settings().idempotency_stale_claim_seconds * 1000)
    for _ in range(3):
        value = f"{body_hash}:{secrets.token_hex(8)}"
        if await client.set(redis_key, value, nx=True, px=ttl_ms):
            return Claim(user_id, key, body_hash, redis_key=redis_key, redis_value=value)
        saved = await answer_from_row(session, user_id, key, body_hash)
        if saved is not None:
            return saved
        held = await client.get(redis_key)
        if held is None:
            continue  # the holder let go between our two steps
        if held.decode().split(":", 1)[0] != body_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
        raise _in_progress()
    raise _in_progress()


async def _claim_in_database(
    session: AsyncSession, user_id: int, key: str, body_hash: str
) -> Claim | SavedResponse:
    for _ in range(3):
        now = utcnow()
        await session.commit()  # end the request's read-only transaction: the claim commits on its own
        try:
            row_id = await repository.insert_claim(session, user_id, key, body_hash, now)
            await session.commit()
            return Claim(user_id, key, body_hash, row_id=row_id)
        except IntegrityError:
            await session.rollback()
        existing = await repository.find_idempotency_key(session, user_id, key)
        if existing is None:
            continue  # the first request failed and let go of the key between our two steps
        if existing.request_hash != body_hash:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
        if existing.response_status is not None:
            return SavedResponse(existing.response_status, json.loads(existing.response_body or "{}"))
        stale_before = now - timedelta(seconds=get_settings().idempotency_stale_claim_seconds)
        if existing.claimed_at < stale_before and await repository.take_over_stale_claim(
            session, existing.id, existing.claimed_at, now
        ):
            await session.commit()
            return Claim(user_id, key, body_hash, row_id=existing.id)
        raise _in_progress()
    raise _in_progress()


async def answer_from_row(
    session: AsyncSession, user_id: int, key: str, body_hash: str
) -> SavedResponse | None:
    """The saved answer for this key, None when there is none yet; 422 when the body differs."""
    existing = await repository.find_idempotency_key(session, user_id, key)
    if existing is None:
        return None
    if existing.request_hash != body_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
    if existing.response_status is None:
        return None
    return SavedResponse(existing.response_status, json.loads(existing.response_body or "{}"))


async def save_response(store: CheckoutStore, claim_: Claim, status: int, body: dict[str, Any]) -> None:
    """In the order's transaction (through its checkout store). Raises KeyAlreadyStored when the row exists
    already; the caller's transaction must then be rolled back."""
    text = orjson.dumps(body).decode()  # the same JSON as json.dumps(..., ensure_ascii=False), faster
    if claim_.row_id is not None:
        await store.save_idempotent_response(claim_.row_id, status, text)
        return
    if not await store.insert_idempotency_row(
        claim_.user_id, claim_.key, claim_.body_hash, utcnow(), status, text
    ):
        raise KeyAlreadyStored


async def release(session: AsyncSession, claim_: Claim) -> None:
    """Let go of a claim whose request failed; `session` must have rolled back the failed work first."""
    if claim_.redis_key is not None:
        client = get_redis()
        if client is not None:
            try:
                await client.eval(_RELEASE, 1, claim_.redis_key, claim_.redis_value or "")
            except (RedisError, OSError):
                pass  # it expires by itself
        return
    await repository.release_claim(session, claim_.row_id or 0)
    await session.commit()


async def purge(session: AsyncSession) -> int:
    hours = get_settings().idempotency_retention_hours
    return await repository.purge_idempotency_keys(session, utcnow() - timedelta(hours=hours))
