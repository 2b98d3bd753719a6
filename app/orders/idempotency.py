"""Idempotency-Key for checkout, scoped to the customer.

The claim is a unique (user_id, key) row inserted in its own short transaction, committed before the order
is made, so a concurrent duplicate sees it at once (a duplicate-key error: someone else has it). The saved
response is written in the order's own transaction, so "claimed and answered" and "order exists" commit
together. If the order fails, the claim is deleted so that a retry can succeed.
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
from app.db import session_scope, utcnow
from app.orders import repository
from app.orders.errors import IdempotencyKeyReused, RequestInProgress
from app.orders.models import IdempotencyKey


@dataclass(frozen=True)
class Claim:
    id: int


@dataclass(frozen=True)
class SavedResponse:
    status: int
    body: dict[str, Any]


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(user_id: int, key: str, body_hash: str) -> Claim | SavedResponse:
    """Take the key, or learn what happened to the request that took it first."""
    for _ in range(3):
        now = utcnow()
        try:
            async with session_scope() as session:
                row = IdempotencyKey(
                    user_id=user_id, key=key, request_hash=body_hash, claimed_at=now, created_at=now
                )
                session.add(row)
                await session.flush()
                return Claim(row.id)
        except IntegrityError:
            pass
        async with session_scope() as session:
            existing = await repository.find_idempotency_key(session, user_id, key)
            if existing is None:
                continue  # the first request failed and let go of the key between our two steps
            if existing.request_hash != body_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different request body."
                )
            if existing.response_status is not None:
                return SavedResponse(existing.response_status, json.loads(existing.response_body or "{}"))
            stale_before = now - timedelta(seconds=get_settings().idempotency_stale_claim_seconds)
            if existing.claimed_at < stale_before and await repository.take_over_stale_claim(
                session, existing.id, existing.claimed_at, now
            ):
                return Claim(existing.id)
            raise RequestInProgress(
                "A request with this Idempotency-Key is still being processed; retry shortly."
            )
    raise RequestInProgress("A request with this Idempotency-Key is still being processed; retry shortly.")


async def save_response(session: AsyncSession, claim_: Claim, status: int, body: dict[str, Any]) -> None:
    """In the caller's (the order's) transaction."""
    await repository.save_idempotent_response(
        session, claim_.id, status, json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    )


async def release(claim_: Claim) -> None:
    """Let go of a claim whose request failed. The caller's session must have rolled back first."""
    async with session_scope() as session:
        await repository.release_claim(session, claim_.id)


async def purge(session: AsyncSession) -> int:
    hours = get_settings().idempotency_retention_hours
    return await repository.purge_idempotency_keys(session, utcnow() - timedelta(hours=hours))
