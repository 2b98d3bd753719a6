"""The pre-sales' worker job that needs nothing above them: tell each buyer, once, that the balance window
opened (the cancel at its end refunds money: app.flows.presale_balance)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.orders import repository as orders_repository
from app.orders.models import OrderStatus
from app.orders.moves import event_base
from app.presales import repository, service
from app.presales.models import Presale

S = OrderStatus


async def notify_balance_open(session: AsyncSession) -> int:
    """Orders whose deposit is paid and whose pre-sale's balance window has opened: one presale.balance_due
    event each (the buyer's notification), exactly once however many workers run this (the share's
    notified_at is claimed by a conditional UPDATE first)."""
    now = utcnow()
    ids = await repository.due(
        session, Presale.balance_starts_at, S.deposit_paid, now, service.JOB_BATCH, unnotified=True
    )
    notified = 0
    for order_id in ids:
        share = await repository.share_of(session, order_id)
        order = await orders_repository.get_plain(session, order_id)
        if (
            share is None
            or order is None
            or not await repository.mark_once(session, share.id, "notified_at", now)
        ):
            continue
        presale = await service.get_or_raise(session, share.presale_id)
        await events.emit(
            session,
            "presale.balance_due",
            {
                **event_base(order),
                "presale_id": presale.id,
                "amount_due_fen": order.total_fen - share.deposit_fen,
                "balance_ends_at": presale.balance_ends_at.isoformat(),
            },
            subject=f"order/{order.id}",
        )
        notified += 1
    return notified
