"""Idempotency-Key rows for checkout, scoped to the customer: the key table's protocol for the ORM store.

The claim is a unique (user_id, key) row: inserting it is taking the key, and a duplicate-key error means
someone else has it (never select-then-insert). The row holds a hash of the request body and, once the order
exists, the saved response (status and body).

A concurrent duplicate must learn that the key is taken while the first request is still running (409
`request_in_progress`), never place a second order, and afterwards get the first answer. Each checkout
store has one protocol for that (app.checkout.stores):

* The ORM store (SQLite): the row is inserted and committed in a short unit of work of its own first
  (`claim`, on a session the caller opens for it), and the order's transaction fills in the response. A claim
  whose request died (crash, failed commit) can be taken over after IDEMPOTENCY_STALE_CLAIM_SECONDS.
* The lean store (MariaDB): the row is inserted with the order, in the order's transaction, without waiting
  for a lock (see app.checkout.stores.LeanCheckoutStore).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import utcnow
from app.orders import repository
from app.orders.errors import IdempotencyKeyReused, RequestInProgress


@dataclass(frozen=True)
class Claim:
    user_id: int
    key: str
    body_hash: str
    row_id: int


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
    """Take the key with a committed row, or learn what happened to the request that took it first.

    `session` is the claim's own unit of work (never the request's): the row is committed on it before the
    order's transaction begins. It must hold no writes."""
    for _ in range(3):
        now = utcnow()
        if session.in_transaction():
            await session.commit()
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


async def release(session: AsyncSession, claim_: Claim) -> None:
    """Let go of a claim whose request failed, in `session` (a unit of work of its own; the failed work was
    rolled back first)."""
    await repository.release_claim(session, claim_.row_id)


async def purge(session: AsyncSession) -> int:
    hours = get_settings().idempotency_retention_hours
    return await repository.purge_idempotency_keys(session, utcnow() - timedelta(hours=hours))
