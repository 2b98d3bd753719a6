"""A pre-sale order whose balance is still unpaid at its pre-sale's balance_ends_at: the worker cancels it
and its quota returns; the deposit is kept, or refunded through the ordinary refund path (the deposit's
payment, the refund job) when the pre-sale's `refund_deposit_if_unpaid`. A flow: it moves an order (orders),
gives back a pre-sale's quota (presales) and refunds a payment (payments).

Safe with several workers at once: the order's move is a conditional UPDATE on `deposit_paid` that one of
them wins; only the winner returns the quota (itself once-only) and opens the refund (one per payment).
A balance paid after this is a payment of a cancelled order: refunded automatically (app.presales.payments).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.orders import repository as orders_repository
from app.orders.models import OrderStatus
from app.orders.moves import emit_cancelled, emit_refund_requested, release_stock
from app.orders.state import SYSTEM, transition
from app.payments import outcomes
from app.payments import repository as payments_repository
from app.presales import repository as presales_repository
from app.presales import service as presales_service
from app.presales.models import Presale

S = OrderStatus
REASON = "balance not paid before the end of the pre-sale's balance window"


async def cancel_unpaid_balances(session: AsyncSession) -> int:
    now = utcnow()
    ids = await presales_repository.due(
        session, Presale.balance_ends_at, S.deposit_paid, now, presales_service.JOB_BATCH, unnotified=False
    )
    done = 0
    for order_id in ids:
        order = await orders_repository.get_plain(session, order_id)
        share = await presales_repository.share_of(session, order_id)
        if order is None or share is None or order.status != S.deposit_paid:
            continue
        presale = await presales_service.get_or_raise(session, share.presale_id)
        if presale.refund_deposit_if_unpaid:
            moved = await transition(
                session,
                order,
                S.refunding,
                actor=SYSTEM,
                reason=REASON,
                from_statuses=(S.deposit_paid,),
                values={
                    "refund_from_status": S.deposit_paid.value,
                    "refund_reason": REASON,
                    "refund_approved_at": now,
                },
            )
            if not moved:
                continue
            await release_stock(session, order)  # the quota, now (the refund's completion finds it done)
            await emit_refund_requested(session, order, REASON, S.deposit_paid)
            deposit = await payments_repository.succeeded_for_order(session, order.id)
            if deposit is not None:
                await outcomes.open_refund(session, deposit, reason=REASON, completes_order=True)
        else:
            if not await transition(
                session, order, S.cancelled, actor=SYSTEM, reason=REASON, from_statuses=(S.deposit_paid,)
            ):
                continue
            returned = await release_stock(session, order)
            await emit_cancelled(session, order, SYSTEM, REASON + "; the deposit is kept", returned)
        done += 1
    return done
