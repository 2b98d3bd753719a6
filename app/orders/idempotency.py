"""Idempotency-Key for checkout, scoped to the customer.

The claim is a unique (user_id, key) row: inserting it is taking the key, and a duplicate-key error means
someone else has it (never select-then-insert). The row holds a hash of the request body and, once the order
exists, the saved response (status and body), committed in the order's own transaction.

A concurrent duplicate must learn that the key is taken while the first request is still running (409
`request_in_progress`), never place a second order, and afterwards get the first answer:

* Checkout on MariaDB (app.kit.leandb): the row is inserted with the order, in the order's transaction, with
  no lock wait (`SET STATEMENT innodb_lock_wait_timeout = 0`). Its unique-key lock is the claim: a duplicate's
  insert fails at once with a lock wait timeout while the first is uncommitted (409), or with a duplicate
  key once it committed (the saved answer). A request that fails or dies rolls back and lets go of the key
  with it; no round trip of its own. (On MySQL the duplicate's insert waits for the first to finish and
  then gets its answer.) Checkout's first round trip locks the customer's row (the unpaid-order limits), so
  a duplicate would otherwise wait there behind the first: the reads look for the key before that lock,
  without waiting (a row still being inserted: 409), and again once the lock is theirs (the first
  committed meanwhile: its answer, never a refusal by the limits that its own order now fills).
* Elsewhere (SQLite, and checkout of the whole cart): the row is inserted and committed in its own short
  transaction first (`claim`), and the order's transaction fills in the response. A claim whose request died
  (crash, failed commit) can be taken over after IDEMPOTENCY_STALE_CLAIM_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
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


class KeyAlreadyStored(Exception):
    """The order's transaction found the key's row already there: answer from the row instead."""


class KeyInUse(Exception):
    """The order's transaction found the key's row being inserted by a request still running."""


@dataclass(frozen=True)
class Claim:
    user_id: int
    key: str
    body_hash: str
    row_id: int | None = None  # a committed row; None: the row is inserted with the order


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

    Uses the request's own session (one connection per request, however many wait): the claim row is
    committed on it before the order's transaction begins. `session` must hold no writes."""
    for _ in range(3):
        now = utcnow()
        if session.in_transaction():
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


async def save_response(store: CheckoutStore, claim_: Claim, status: int, body: dict[str, Any]) -> None:
    """In the order's transaction (through its checkout store). A claim without a committed row is inserted
    here, with the response; the lean store raises KeyAlreadyStored or KeyInUse when the key is taken."""
    text = orjson.dumps(body).decode()  # the same JSON as json.dumps(..., ensure_ascii=False), faster
    if claim_.row_id is not None:
        await store.save_idempotent_response(claim_.row_id, status, text)
        return
    assert isinstance(store, repository.LeanCheckoutStore), "the session path always claims with a row"
    store.insert_idempotency_row(claim_.user_id, claim_.key, claim_.body_hash, utcnow(), status, text)


async def release(session: AsyncSession, claim_: Claim) -> None:
    """Let go of a claim whose request failed; `session` must have rolled back the failed work first. A row
    inserted with the order went with its rollback."""
    if claim_.row_id is None:
        return
    await repository.release_claim(session, claim_.row_id)
    await session.commit()


async def purge(session: AsyncSession) -> int:
    hours = get_settings().idempotency_retention_hours
    return await repository.purge_idempotency_keys(session, utcnow() - timedelta(hours=hours))
