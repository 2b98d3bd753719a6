"""The worker loop `webhooks.deliver`: send due messages, log each attempt, schedule the next one.

It runs beside the worker's ticks (app.worker.LOOPS), not in them: a batch of receivers that hang costs this
loop up to WEBHOOK_TIMEOUT_SECONDS, never the jobs that cancel unpaid orders or publish events.

A run claims a batch (its own short transaction), sends the batch concurrently outside any transaction
(each attempt bounded by WEBHOOK_TIMEOUT_SECONDS), then records every outcome in one more transaction. Two
workers claim different messages (SKIP LOCKED / conditional UPDATE); a result is applied only under the
claim it was sent with.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope, utcnow
from app.webhooks import repository, sender
from app.webhooks.models import MessageStatus, WebhookDelivery

log = logging.getLogger("daoxiang.webhooks")

MAX_BACKOFF = timedelta(hours=2)
POLL_SECONDS = 1.0


def backoff(attempts: int) -> timedelta:
    """Wait after `attempts` failed attempts: base, 2×base, 4×base, … at most two hours."""
    seconds = get_settings().webhook_backoff_seconds * 2 ** min(max(attempts - 1, 0), 20)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def next_state(message: dict[str, Any], outcome: sender.Outcome, now: datetime) -> dict[str, Any]:
    attempts = message["attempts"] + 1
    if outcome.succeeded:
        return {"attempts": attempts, "status": MessageStatus.delivered, "delivered_at": now}
    retry_at = now + backoff(attempts)
    if retry_at > message["retry_until"]:
        return {"attempts": attempts, "status": MessageStatus.failed}
    return {"attempts": attempts, "next_attempt_at": retry_at}


async def _send(message: dict[str, Any], limit_seconds: float) -> sender.Outcome:
    return await sender.attempt(
        message["url"],
        secret=message["secret"],
        body=message["body"].encode(),
        event_id=message["event_id"],
        event_type=message["event_type"],
        limit_seconds=limit_seconds,
    )


async def deliver_batch() -> int:
    settings = get_settings()
    token = secrets.token_hex(16)
    now = utcnow()
    # A worker that dies mid-send: its messages come due again once this lease is over.
    lease = timedelta(seconds=settings.webhook_timeout_seconds * 2 + 30)
    async with session_scope() as session:
        claimed = await repository.claim_due(
            session, token=token, now=now, lease_until=now + lease, limit=settings.webhook_batch_size
        )
    if not claimed:
        return 0
    outcomes = await asyncio.gather(*(_send(m, settings.webhook_timeout_seconds) for m in claimed))
    finished = utcnow()
    async with session_scope() as session:
        for message, outcome in zip(claimed, outcomes, strict=True):
            session.add(
                WebhookDelivery(
                    webhook_id=message["webhook_id"],
                    message_id=message["id"],
                    event_id=message["event_id"],
                    event_type=message["event_type"],
                    attempt=message["attempts"] + 1,
                    succeeded=outcome.succeeded,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                    manual=message["manual"],
                    attempted_at=finished,
                )
            )
            await repository.record(
                session, message_id=message["id"], token=token, values=next_state(message, outcome, finished)
            )
    return len(claimed)


async def deliver_due(session: AsyncSession) -> int:
    """`daoxiang worker`: send what is due, batch after batch while batches come back full. (The job's own
    session stays unused: on SQLite a writing second session would wait on it.)"""
    batch_size = get_settings().webhook_batch_size
    total = 0
    for _ in range(50):
        sent = await deliver_batch()
        total += sent
        if sent < batch_size:
            break
    return total


async def purge_log(session: AsyncSession) -> int:
    """`webhooks.purge_log`: finished messages and their attempts older than WEBHOOK_LOG_RETENTION_DAYS."""
    cutoff = utcnow() - timedelta(days=get_settings().webhook_log_retention_days)
    return await repository.purge_finished(session, cutoff)


async def deliver_continuously(stop: asyncio.Event) -> None:
    """`daoxiang worker`: batch after batch while batches come back full, else look again after a second.
    Outlives its failures (a database outage): logged, then retried after a growing pause."""
    batch_size = get_settings().webhook_batch_size
    pause = POLL_SECONDS
    while not stop.is_set():
        try:
            sent = await deliver_batch()
            pause = POLL_SECONDS
        except Exception as exc:  # noqa: BLE001 - the loop must outlive a database outage
            log.warning(
                "webhook delivery failed; retrying", extra={"error": f"{type(exc).__name__}: {exc}"[:200]}
            )
            sent, pause = 0, min(pause * 2, 30.0)
        if sent >= batch_size:
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=pause)
        except TimeoutError:
            pass
