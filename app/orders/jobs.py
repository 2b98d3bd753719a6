"""The orders' worker jobs: cancel what was not paid in time, complete what was shipped long ago."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import utcnow
from app.orders import releases, repository
from app.orders.models import Order, OrderStatus
from app.orders.moves import complete, emit_cancelled, release_stock_of
from app.orders.state import SYSTEM, transition

S = OrderStatus

JOB_BATCH = 200


async def cancel_expired(session: AsyncSession) -> int:
    """Cancel unpaid orders whose pay_deadline has passed and put their stock back (exactly once, however
    many workers run this at the same time: the status change and the stock return are both conditional)."""
    ids = await repository.due_ids(session, S.pending_payment, Order.pay_deadline, utcnow(), JOB_BATCH)
    reason = "not paid before the deadline"
    cancelled: list[Order] = []
    for order_id in ids:
        order = await repository.get_plain(session, order_id)
        if order is None or order.status != S.pending_payment:
            continue
        if await transition(
            session, order, S.cancelled, actor=SYSTEM, reason=reason, from_statuses=(S.pending_payment,)
        ):
            cancelled.append(order)
    returned = await release_stock_of(session, [o.id for o in cancelled])
    await releases.after_unpaid_cancel(session, [o.id for o in cancelled])
    for order in cancelled:
        await emit_cancelled(session, order, SYSTEM, reason, order.id in returned)
    return len(cancelled)


async def auto_confirm(session: AsyncSession) -> int:
    """Complete orders shipped more than AUTO_CONFIRM_DAYS ago."""
    before = utcnow() - timedelta(days=get_settings().auto_confirm_days)
    ids = await repository.due_ids(session, S.shipped, Order.shipped_at, before, JOB_BATCH)
    completed = 0
    for order_id in ids:
        order = await repository.get_plain(session, order_id)
        if order is None or order.status != S.shipped:
            continue
        if await complete(
            session,
            order,
            actor=SYSTEM,
            reason=f"confirmed automatically after {get_settings().auto_confirm_days:g} days",
        ):
            completed += 1
    return completed
