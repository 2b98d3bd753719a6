"""Webhook subscriptions, the fan-out of events into messages, and the back office's redelivery."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import record as audit
from app.config import get_settings
from app.db import utcnow
from app.kit.pagination import Page, PageParams
from app.users.models import User
from app.webhooks import repository, safety
from app.webhooks.errors import WebhookDeliveryNotFound, WebhookDisabled, WebhookNotFound
from app.webhooks.models import MessageStatus, Webhook, WebhookMessage
from app.webhooks.schemas import DeliveryRead, RedeliveryRead, WebhookCreate, WebhookCreated, WebhookRead


def retry_window() -> timedelta:
    return timedelta(hours=get_settings().webhook_retry_hours)


async def create(session: AsyncSession, data: WebhookCreate, staff: User) -> WebhookCreated:
    await safety.check(data.url)  # refused now rather than failing every attempt later
    webhook = Webhook(
        url=data.url,
        secret="whsec_" + secrets.token_hex(24),
        event_types=list(data.event_types),
        is_active=True,
        created_by=staff.id,
        created_at=utcnow(),
    )
    session.add(webhook)
    await session.flush()
    await audit(session, staff, "webhook.created", "webhook", webhook.id, {"url": data.url})
    return WebhookCreated.model_validate(webhook)


async def get_or_raise(session: AsyncSession, webhook_id: int) -> Webhook:
    webhook = await repository.get(session, webhook_id)
    if webhook is None:
        raise WebhookNotFound()
    return webhook


async def list_all(session: AsyncSession, params: PageParams) -> Page[WebhookRead]:
    rows, total = await repository.list_all(session, params.offset, params.size)
    items = [WebhookRead.model_validate(w) for w in rows]
    return Page(items=items, total=total, page=params.page, size=params.size)


async def disable(session: AsyncSession, webhook_id: int, staff: User) -> WebhookRead:
    """Stop sending: no new messages, and those still waiting are cancelled. Disabling twice is harmless."""
    await get_or_raise(session, webhook_id)
    if await repository.disable(session, webhook_id, utcnow()):
        await audit(session, staff, "webhook.disabled", "webhook", webhook_id, {})
    webhook = await get_or_raise(session, webhook_id)
    await session.refresh(webhook)
    return WebhookRead.model_validate(webhook)


async def list_deliveries(session: AsyncSession, webhook_id: int, params: PageParams) -> Page[DeliveryRead]:
    await get_or_raise(session, webhook_id)
    rows, total = await repository.deliveries(session, webhook_id, params.offset, params.size)
    items = [DeliveryRead.model_validate(d) for d in rows]
    return Page(items=items, total=total, page=params.page, size=params.size)


async def redeliver(session: AsyncSession, webhook_id: int, delivery_id: int, staff: User) -> RedeliveryRead:
    """Send a delivery's event again, at once (the worker's next run), with a fresh retry window."""
    webhook = await get_or_raise(session, webhook_id)
    if not webhook.is_active:
        raise WebhookDisabled("A disabled webhook sends nothing; create a new one.")
    delivery = await repository.delivery(session, webhook_id, delivery_id)
    if delivery is None:
        raise WebhookDeliveryNotFound()
    now = utcnow()
    await repository.requeue(session, delivery.message_id, now, now + retry_window())
    await audit(session, staff, "webhook.redelivered", "webhook", webhook_id, {"event_id": delivery.event_id})
    return RedeliveryRead(
        message_id=delivery.message_id,
        event_id=delivery.event_id,
        status=MessageStatus.pending,
        next_attempt_at=now,
    )


def subscribed(webhook: Webhook, event_type: str) -> bool:
    return event_type in (webhook.event_types or [])


async def fan_out(session: AsyncSession, envelope: dict[str, Any]) -> int:
    """The `webhooks` consumer group's handler: one message per active webhook subscribed to the event's
    type, holding the exact body every attempt sends."""
    event_type = str(envelope.get("type", ""))
    targets = [w for w in await repository.active(session) if subscribed(w, event_type)]
    if not targets:
        return 0
    body = orjson.dumps(envelope).decode()
    now = utcnow()
    for webhook in targets:
        session.add(
            WebhookMessage(
                webhook_id=webhook.id,
                event_id=str(envelope["id"]),
                event_type=event_type[:64],
                body=body,
                status=MessageStatus.pending,
                attempts=0,
                next_attempt_at=now,
                retry_until=now + retry_window(),
                created_at=now,
            )
        )
    await session.flush()
    return len(targets)
