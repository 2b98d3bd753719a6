"""A payment's outcomes and what follows each: failed, succeeded (the order is paid, or the money must go
back), refund opened and refund finished. Every path that learns an outcome (a gateway notice, the
reconciliation job, the refund job, staff approving a refund) moves the payment through these functions.

Exactly once: a success moves the payment with `UPDATE payments … WHERE status IN ('pending','failed')` and
the order through `orders.payment_moves.mark_paid` (itself a conditional state-machine move) in ONE transaction;
whoever loses the race (a replay, a second worker) changes nothing and is still acknowledged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.orders import payment_moves
from app.orders import service as orders_service
from app.orders.models import Order, OrderKind
from app.orders.state import SYSTEM, Actor
from app.payments import repository
from app.payments.models import Payment, PaymentRefund, RefundStatus
from app.presales import payments as presale_payments

log = logging.getLogger("daoxiang.payments")

# Rows a worker job takes per run.
JOB_BATCH = 100
# A gateway's clock may be a little off ours; a payment time outside [created - skew, received + skew]
# is not believed (the receive time is used) — it could not be stored or shown anyway (year 9999).
GATEWAY_CLOCK_SKEW = timedelta(minutes=10)
# Outcome of a success whose money must go back (late, or a second payment of a paid order).
REFUND_DUE = "refund_due"


def believable_paid_at(payment: Payment, claimed: datetime | None, received_at: datetime) -> datetime:
    """The gateway's payment time when it is plausible, otherwise our receive time."""
    if claimed is None or claimed.tzinfo is None:
        return received_at
    if payment.created_at - GATEWAY_CLOCK_SKEW <= claimed <= received_at + GATEWAY_CLOCK_SKEW:
        return claimed.astimezone(UTC)
    log.warning(
        "gateway payment time out of range; using the receive time",
        extra={"payment_id": payment.id, "claimed": claimed.isoformat()},
    )
    return received_at


def _event_data(payment: Payment, order_no: str) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "order_no": order_no,
        "channel": payment.channel,
        "amount_fen": payment.amount_fen,
    }


async def payable_amounts(session: AsyncSession, order: Order) -> frozenset[int]:
    """The amounts a payment of `order` may be: its total, or a pre-sale's deposit and its balance."""
    if order.kind == OrderKind.presale:
        return await presale_payments.payable_amounts(session, order)
    return frozenset({order.total_fen})


async def _order_no(session: AsyncSession, order_id: int) -> str:
    return (await orders_service.get_or_raise(session, order_id)).order_no


async def fail(session: AsyncSession, payment: Payment) -> bool:
    at = utcnow()
    if not await repository.mark_failed(session, payment.id, at):
        return False
    await events.emit(
        session,
        "payment.failed",
        {**_event_data(payment, await _order_no(session, payment.order_id)), "failed_at": at.isoformat()},
        subject=f"payment/{payment.id}",
    )
    return True


async def succeed(
    session: AsyncSession,
    payment: Payment,
    claimed_paid_at: datetime | None,
    trade_no: str | None,
    received_at: datetime,
) -> str:
    """The gateway has the money. Returns "applied", REFUND_DUE (the money must go back: the order was
    cancelled, or another payment paid it first) or "duplicate" (already applied; nothing changed)."""
    paid_at = believable_paid_at(payment, claimed_paid_at, received_at)
    if not await repository.mark_succeeded(session, payment.id, paid_at, trade_no, received_at):
        return "duplicate"
    order = await orders_service.get_or_raise(session, payment.order_id)
    order_no = order.order_no
    await events.emit(
        session,
        "payment.succeeded",
        {**_event_data(payment, order_no), "gateway_trade_no": trade_no, "paid_at": paid_at.isoformat()},
        subject=f"payment/{payment.id}",
    )
    # A pre-sale order takes two payments (its deposit, then its balance): app.presales.payments.
    mark_paid = presale_payments.mark_paid if order.kind == OrderKind.presale else payment_moves.mark_paid
    applied = await mark_paid(session, payment.order_id, amount_fen=payment.amount_fen, paid_at=paid_at)
    if applied is payment_moves.PaymentApplied.paid:
        return "applied"
    if applied is payment_moves.PaymentApplied.late:
        # Paid after the order was cancelled (or expired): the order is now refunding and the money goes
        # straight back; the stock was returned at cancellation and is not taken again.
        await open_refund(
            session, payment, reason="payment arrived after the order was cancelled", completes_order=True
        )
    else:
        # The order was already paid by another payment (or moved on): give this second payment back.
        await open_refund(
            session, payment, reason="order already paid by another payment", completes_order=False
        )
    return REFUND_DUE


async def open_refund(
    session: AsyncSession,
    payment: Payment,
    *,
    reason: str,
    completes_order: bool,
    amount_fen: int | None = None,
) -> PaymentRefund:
    """The payment's refund record; its out_refund_no is chosen here, once, and reused by every retry.
    `amount_fen`: what the gateway holds for the trade when it is not the payment's amount."""
    refund = await repository.get_refund(session, payment.id)
    if refund is None:
        refund = PaymentRefund(
            payment_id=payment.id,
            order_id=payment.order_id,
            out_refund_no=refund_number(payment),
            amount_fen=payment.amount_fen if amount_fen is None else amount_fen,
            reason=reason[:500],
            completes_order=completes_order,
            status=RefundStatus.pending.value,
        )
        session.add(refund)
        await session.flush()
    return refund


def refund_number(payment: Payment) -> str:
    """Our out_refund_no (Alipay out_request_no) of a payment's refund: one per payment, ever."""
    return f"R{payment.out_trade_no}"[:64]


async def refund_done(
    session: AsyncSession,
    payment: Payment,
    refund: PaymentRefund,
    gateway_refund_no: str | None,
    at: datetime,
    *,
    actor: Actor = SYSTEM,
) -> bool:
    """The gateway says the money is back: finish the refund (once, whoever tells us first: the answer to
    our request, the refund job or the gateway's refund notice) and the order's refund when it has one."""
    if not await repository.finish_refund(session, refund.id, gateway_refund_no, at):
        return False  # finished already
    await repository.mark_refunded(session, payment.id, at)
    await events.emit(
        session,
        "payment.refunded",
        {
            **_event_data(payment, await _order_no(session, payment.order_id)),
            "out_refund_no": refund.out_refund_no,
            "refunded_at": at.isoformat(),
        },
        subject=f"payment/{payment.id}",
    )
    if refund.completes_order:
        reason = "refund completed" if actor is SYSTEM else "refund approved"
        await payment_moves.complete_refund(session, payment.order_id, actor=actor, reason=reason)
    return True
