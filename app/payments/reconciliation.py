"""Worker jobs that ask the gateways instead of waiting for their notices: reconcile payments still pending
(a lost notice never leaves a paid order unpaid) and close the open trades of cancelled orders."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope, utcnow
from app.orders import service as orders_service
from app.payments import outcomes, providers, repository
from app.payments.errors import AmountMismatch, GatewayError
from app.payments.models import Channel, Payment, UnmatchedPayment
from app.payments.outcomes import JOB_BATCH
from app.payments.providers.base import GatewayTrade, TradeState
from app.payments.unmatched import give_back_unexpected, raise_to_staff

log = logging.getLogger("daoxiang.payments")


def _gateway_channels() -> list[str]:
    return [c for c, p in providers.PROVIDERS.items() if c != Channel.sandbox.value and p.is_configured()]


async def reconcile(session: AsyncSession) -> int:
    """Worker job: ask the gateway about payments still pending after PAYMENT_RECONCILE_AFTER_MINUTES, so a
    lost notification never leaves a paid order unpaid. Returns how many payments changed.

    The job's session only lists them; each is claimed, asked about (no transaction open) and updated in
    units of work of its own. A refund it makes due is left to the refund job."""
    now = utcnow()
    cutoff = now - timedelta(minutes=get_settings().payment_reconcile_after_minutes)
    channels = _gateway_channels()
    if not channels:
        return 0
    changed = 0
    for payment_id in await repository.due_for_reconciliation(session, channels, cutoff, JOB_BATCH):
        async with session_scope() as claim:
            if not await repository.claim_check(claim, payment_id, cutoff, now):
                continue  # another worker has it
            payment = await repository.get(claim, payment_id)
        if payment is None:
            continue
        try:
            trade = await providers.get(payment.channel).query(payment)
        except GatewayError as exc:
            log.warning("reconciliation query failed", extra={"payment_id": payment_id, "error": exc.detail})
            continue
        async with session_scope() as outcome_session:
            changed += await _reconciled(outcome_session, payment, trade)
    return changed


async def _reconciled(session: AsyncSession, payment: Payment, trade: GatewayTrade) -> bool:
    if trade.state is TradeState.failed:
        return await outcomes.fail(session, payment)
    if trade.state is not TradeState.success:
        return False
    order = await orders_service.get_or_raise(session, payment.order_id)
    if trade.amount_fen != payment.amount_fen or payment.amount_fen not in await outcomes.payable_amounts(
        session, order
    ):
        # The same as a signed notice with that sum: the money goes back (or to staff), the order waits.
        why = f"the gateway holds {trade.amount_fen} fen for a payment of {payment.amount_fen} fen"
        if trade.amount_fen and await give_back_unexpected(session, payment, trade.amount_fen, why):
            log.warning("unexpected payment refunded", extra={"payment_id": payment.id})
            return True
        await raise_to_staff(
            session,
            UnmatchedPayment(
                channel=payment.channel,
                out_trade_no=payment.out_trade_no,
                gateway_trade_no=trade.gateway_trade_no,
                amount_fen=trade.amount_fen,
                reason=AmountMismatch.code,
                detail=why,
            ),
        )
        return False
    outcome = await outcomes.succeed(session, payment, trade.paid_at, trade.gateway_trade_no, utcnow())
    return outcome != "duplicate"


async def close_abandoned(session: AsyncSession) -> int:
    """Worker job: close at the gateway the open trades of cancelled orders, so a buyer can no longer pay
    them (a payment that still slips through is refunded as a late payment). Returns how many closed."""
    channels = _gateway_channels()
    if not channels:
        return 0
    closed = 0
    for payment_id in await repository.pending_of_cancelled_orders(session, channels, JOB_BATCH):
        payment = await repository.get(session, payment_id)
        if payment is None:
            continue
        try:
            if not await providers.get(payment.channel).close(payment):
                continue  # paid first: its notice (or reconciliation) refunds it
        except GatewayError as exc:
            log.warning("closing a trade failed", extra={"payment_id": payment_id, "error": exc.detail})
            continue
        async with session_scope() as outcome_session:
            closed += await outcomes.fail(outcome_session, payment)
    return closed
