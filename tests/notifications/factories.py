"""Plain factory functions with keyword overrides for notifications."""

from __future__ import annotations

import itertools
from typing import Any

from app.db import session_scope, utcnow
from app.notifications.models import Notification
from app.users.models import User

_seq = itertools.count(1)


async def create_notification(user: User, **overrides: Any) -> Notification:
    """A message in `user`'s inbox (default: their order has shipped, linking to it)."""
    fields: dict[str, Any] = dict(
        user_id=user.id,
        event_id=f"evt-{next(_seq)}",
        event_type="order.shipped",
        title="订单已发货",
        body="您的订单已由顺丰速运发出。",
        link="/orders/1",
        created_at=utcnow(),
    )
    fields.update(overrides)
    async with session_scope() as session:
        notification = Notification(**fields)
        session.add(notification)
        await session.flush()
    return notification
