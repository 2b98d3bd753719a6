from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.kit.pagination import PageParams
from app.notifications import repository, templates
from app.notifications.errors import NotificationNotFound
from app.notifications.models import Notification
from app.users import service as users_service
from app.users.models import User


async def list_mine(
    session: AsyncSession, user: User, page: PageParams, *, unread_only: bool = False
) -> tuple[Sequence[Notification], int]:
    return await repository.list_for_user(
        session, user.id, unread_only=unread_only, offset=page.offset, limit=page.size
    )


async def mark_read(session: AsyncSession, user: User, notification_id: int) -> Notification:
    notification = await repository.get_for_user(session, user.id, notification_id)
    if notification is None:
        raise NotificationNotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, user: User) -> int:
    return await repository.mark_all_read(session, user.id, utcnow())


async def notify_staff(
    session: AsyncSession, *, event_type: str, key: str, title: str, body: str, link: str | None = None
) -> int:
    """One notification for every active staff account (merchants and administrators): something only a
    person can settle. `key` identifies the matter (stored as the notification's event id)."""
    staff_ids = await users_service.active_staff_ids(session)
    for user_id in staff_ids:
        session.add(
            Notification(
                user_id=user_id,
                event_id=key[:64],
                event_type=event_type[:64],
                title=title[:64],
                body=body[:500],
                link=link,
            )
        )
    await session.flush()
    return len(staff_ids)


async def notify_from_event(session: AsyncSession, envelope: dict[str, Any]) -> Notification | None:
    """The `notifications` consumer's effect: one notification for the customer the event concerns."""
    rendered = templates.render(str(envelope.get("type", "")), envelope.get("data"))
    if rendered is None:
        return None
    if await users_service.get(session, rendered.user_id) is None:
        return None  # the account is gone
    notification = Notification(
        user_id=rendered.user_id,
        event_id=str(envelope["id"]),
        event_type=str(envelope["type"]),
        title=rendered.title,
        body=rendered.body,
        link=rendered.link,
    )
    session.add(notification)
    await session.flush()
    return notification
