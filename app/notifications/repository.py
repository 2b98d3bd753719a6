from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.notifications.models import Notification


async def list_for_user(
    session: AsyncSession, user_id: int, *, unread_only: bool, offset: int, limit: int
) -> tuple[Sequence[Notification], int]:
    where = [Notification.user_id == user_id]
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = await session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0
    rows = (
        await session.scalars(
            select(Notification).where(*where).order_by(Notification.id.desc()).offset(offset).limit(limit)
        )
    ).all()
    return rows, total


async def get_for_user(session: AsyncSession, user_id: int, notification_id: int) -> Notification | None:
    return (
        await session.scalars(
            select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
        )
    ).one_or_none()


async def mark_all_read(session: AsyncSession, user_id: int, now: datetime) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
