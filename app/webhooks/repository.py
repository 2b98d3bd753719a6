"""Webhook SQL. Messages are claimed for one worker run with SKIP LOCKED (MariaDB) or a conditional UPDATE
(SQLite, whose single writer lock serialises the claims); a claim pushes `next_attempt_at` past the attempt's
time limit, so a worker that dies mid-send leaves the message to be claimed again, never lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.webhooks.models import MessageStatus, Webhook, WebhookDelivery, WebhookMessage


async def get(session: AsyncSession, webhook_id: int) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


async def list_all(session: AsyncSession, offset: int, limit: int) -> tuple[Sequence[Webhook], int]:
    total = await session.scalar(select(func.count()).select_from(Webhook)) or 0
    rows = await session.scalars(select(Webhook).order_by(Webhook.id.desc()).offset(offset).limit(limit))
    return rows.all(), total


async def active(session: AsyncSession) -> Sequence[Webhook]:
    return (await session.scalars(select(Webhook).where(Webhook.is_active.is_(True)))).all()


async def disable(session: AsyncSession, webhook_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.is_active.is_(True))
        .values(is_active=False, disabled_at=now)
    )
    if not result.rowcount:
        return False
    await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.webhook_id == webhook_id, WebhookMessage.status == MessageStatus.pending)
        .values(status=MessageStatus.cancelled, claim_token=None)
    )
    return True


async def deliveries(
    session: AsyncSession, webhook_id: int, offset: int, limit: int
) -> tuple[Sequence[WebhookDelivery], int]:
    where = WebhookDelivery.webhook_id == webhook_id
    total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(where)) or 0
    rows = await session.scalars(
        select(WebhookDelivery).where(where).order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit)
    )
    return rows.all(), total


async def delivery(session: AsyncSession, webhook_id: int, delivery_id: int) -> WebhookDelivery | None:
    return await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id
        )
    )


async def requeue(session: AsyncSession, message_id: int, now: datetime, retry_until: datetime) -> None:
    """Queue a message for an immediate attempt (again), whatever became of it, with a new retry window."""
    await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message_id)
        .values(
            status=MessageStatus.pending,
            next_attempt_at=now,
            retry_until=retry_until,
            claim_token=None,
            manual=True,
        )
    )


def _due(now: datetime):
    return and_(WebhookMessage.status == MessageStatus.pending, WebhookMessage.next_attempt_at <= now)


async def claim_due(
    session: AsyncSession, *, token: str, now: datetime, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Take up to `limit` due messages of active webhooks for this run; what each attempt needs."""
    if session.get_bind().dialect.name == "sqlite":
        oldest = (
            select(WebhookMessage.id).where(_due(now)).order_by(WebhookMessage.next_attempt_at).limit(limit)
        )
        ids_query = oldest.scalar_subquery()
    else:
        locked = await session.scalars(
            select(WebhookMessage.id)
            .where(_due(now))
            .order_by(WebhookMessage.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids_query = list(locked.all())
        if not ids_query:
            return []
    await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id.in_(ids_query), _due(now))
        .values(claim_token=token, next_attempt_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(
        select(
            WebhookMessage.id,
            WebhookMessage.webhook_id,
            WebhookMessage.event_id,
            WebhookMessage.event_type,
            WebhookMessage.body,
            WebhookMessage.attempts,
            WebhookMessage.retry_until,
            WebhookMessage.manual,
            Webhook.url,
            Webhook.secret,
        )
        .join(Webhook, Webhook.id == WebhookMessage.webhook_id)
        .where(WebhookMessage.claim_token == token, WebhookMessage.status == MessageStatus.pending)
        .order_by(WebhookMessage.id)
    )
    return [dict(row._mapping) for row in rows]


async def record(
    session: AsyncSession,
    *,
    message_id: int,
    token: str,
    values: dict[str, Any],
) -> bool:
    """The attempt's effect on the message, only if this run still holds its claim."""
    result = await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message_id, WebhookMessage.claim_token == token)
        .values(claim_token=None, manual=False, **values)
    )
    return bool(result.rowcount)


async def purge_finished(session: AsyncSession, before: datetime) -> int:
    """Delete messages that ended (delivered, failed, cancelled) before `before`, with their attempts."""
    finished = select(WebhookMessage.id).where(
        WebhookMessage.status != MessageStatus.pending, WebhookMessage.created_at < before
    )
    ids = list((await session.scalars(finished.limit(5000))).all())
    if not ids:
        return 0
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.message_id.in_(ids)))
    result = await session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(ids)))
    return result.rowcount or 0
