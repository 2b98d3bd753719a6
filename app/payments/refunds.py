"""Refunds: staff approve an order's refund and the money goes back through the gateway that took it; the
refund job pushes the refunds a gateway has not confirmed yet. Never a transaction around a gateway call."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import session_scope, utcnow
from app.orders import payment_moves
from app.orders import staff as orders_staff
from app.orders.state import SYSTEM, Actor
from app.payments import outcomes, providers, repository
from app.payments.errors import ChannelNotConfigured, GatewayError
from app.payments.models import RefundStatus
from app.payments.outcomes import JOB_BATCH
from app.users.models import User

log = logging.getLogger("daoxiang.payments")


async def approve_refund(staff: User, order_id: int) -> None:
    """Staff approve a customer's refund request and the money goes back through the gateway that took it.

    Three steps, never one transaction around a gateway call: the decision (the approval and the refund's
    record, with its out_refund_no) is committed first, so it is durable before any money moves; the gateway
    is asked with no transaction open, so no row lock waits on it for its whole timeout; the outcome is
    committed on its own. If the process dies after the gateway refunded, the refund job asks again with the
    same out_refund_no (which refunds nothing more) and finishes it. A gateway that is slow or down leaves
    the order `refunding` (approved) and the refund pending; the job completes both later."""
    async with session_scope() as session:
        order = await orders_staff.approve_refund_request(session, staff, order_id)
        # One payment, or two for a pre-sale order (its deposit and its balance): each goes back.
        payments = await repository.succeeded_all_for_order(session, order.id)
        refunds = [
            await outcomes.open_refund(session, payment, reason="refund approved", completes_order=True)
            for payment in payments
        ]
        if all(refund.status == RefundStatus.succeeded for refund in refunds):
            # Nothing was paid through a gateway (a zero total), or it is all back: complete now.
            await payment_moves.complete_refund(
                session, order.id, actor=Actor.of(staff), reason="refund approved"
            )
            return
    for payment in payments:
        await settle_refund(payment.id, actor=Actor.of(staff))


async def settle_refund(payment_id: int, *, actor: Actor = SYSTEM) -> bool:
    """Ask the gateway to refund a pending refund (again: the same out_refund_no never refunds twice) and
    record the outcome; when done, also finish the order's refund if it belongs to one. True when this call
    finished it. Called with no transaction open: the gateway may take its whole timeout."""
    async with session_scope() as session:
        payment = await repository.get(session, payment_id)
        refund = await repository.get_refund(session, payment_id)
    if payment is None or refund is None or refund.status != RefundStatus.pending:
        return False
    at = utcnow()
    try:
        outcome = await providers.get(payment.channel).refund(payment, refund)
    except (GatewayError, ChannelNotConfigured) as exc:
        log.warning("refund not done yet", extra={"payment_id": payment.id, "error": exc.detail})
        async with session_scope() as session:
            await repository.note_refund_attempt(session, refund.id, exc.detail[:500], at)
        return False
    async with session_scope() as session:
        if not outcome.done:
            await repository.note_refund_attempt(session, refund.id, "processing", at)
            return False
        return await outcomes.refund_done(
            session, payment, refund, outcome.gateway_refund_no, at, actor=actor
        )


async def retry_refunds(session: AsyncSession) -> int:
    """Worker job: push refunds the gateway has not confirmed yet; complete the order's refund when done.
    The job's session only lists them: each gateway call runs with no transaction open, each outcome is
    committed on its own."""
    done = 0
    for payment_id in await repository.pending_refund_ids(session, JOB_BATCH):
        done += await settle_refund(payment_id)
    return done
