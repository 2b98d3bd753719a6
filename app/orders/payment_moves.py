"""The API the payments domain calls (payments sit above orders and orders never import them): apply a
confirmed payment, and finish a refund once the money is back. Both are safe to call again."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.orders import repository
from app.orders.errors import AmountMismatch, OrderNotFound
from app.orders.models import OrderStatus
from app.orders.moves import adjust_sales, emit_refund_requested, event_base, release_stock
from app.orders.state import SYSTEM, Actor, transition

S = OrderStatus


class PaymentApplied(enum.StrEnum):
    paid = "paid"  # pending_payment → paid
    late = "late"  # cancelled → refunding: the money came after the cancellation and must go back
    duplicate = "duplicate"  # nothing changed: this payment was already applied

    @property
    def changed(self) -> bool:
        return self is not PaymentApplied.duplicate


async def mark_paid(
    session: AsyncSession, order_id: int, *, amount_fen: int, paid_at: datetime, actor: Actor = SYSTEM
) -> PaymentApplied:
    """Apply a confirmed payment (for the payments domain). Safe to call again with the same payment.

    Raises OrderNotFound, or AmountMismatch (nothing changed) when `amount_fen` is not the order's total.
    """
    for _ in range(3):
        order = await repository.get_plain(session, order_id)
        if order is None:
            raise OrderNotFound("No such order.")
        if amount_fen != order.total_fen:
            raise AmountMismatch(f"Paid {amount_fen} fen, but the order's total is {order.total_fen} fen.")
        if order.status == S.pending_payment:
            if await transition(
                session,
                order,
                S.paid,
                actor=actor,
                reason="payment received",
                values={"paid_at": paid_at, "paid_amount_fen": amount_fen},
            ):
                await adjust_sales(session, order.id, +1)
                await events.emit(
                    session,
                    "order.paid",
                    {**event_base(order), "amount_fen": amount_fen, "paid_at": paid_at.isoformat()},
                    subject=f"order/{order.id}",
                )
                return PaymentApplied.paid
            continue  # changed under us (cancelled by the worker?): look again
        if order.status == S.cancelled and order.paid_at is None:
            reason = "payment arrived after the order was cancelled"
            if await transition(
                session,
                order,
                S.refunding,
                actor=actor,
                reason=reason,
                values={
                    "paid_at": paid_at,
                    "paid_amount_fen": amount_fen,
                    "refund_from_status": S.cancelled.value,
                    "refund_reason": reason,
                },
            ):
                await emit_refund_requested(session, order, reason, S.cancelled)
                return PaymentApplied.late
            continue
        return PaymentApplied.duplicate
    return PaymentApplied.duplicate


async def complete_refund(
    session: AsyncSession, order_id: int, *, actor: Actor = SYSTEM, reason: str = ""
) -> bool:
    """refunding → refunded once the money is back. Returns stock when nothing was shipped (and it was not
    returned already at cancellation). False when the order was already refunded (a repeated callback)."""
    order = await repository.get_plain(session, order_id)
    if order is None:
        raise OrderNotFound("No such order.")
    if order.status == S.refunded:
        return False
    if not await transition(
        session,
        order,
        S.refunded,
        actor=actor,
        reason=reason or "refund completed",
        from_statuses=(S.refunding,),
    ):
        return False
    returned = False
    if order.shipped_at is None:
        returned = await release_stock(session, order)
    if order.refund_from_status in (S.paid, S.shipped):
        await adjust_sales(session, order.id, -1)
    await events.emit(
        session,
        "order.refunded",
        {
            **event_base(order),
            "amount_fen": order.paid_amount_fen or 0,
            "stock_returned": returned,
            "refunded_at": (order.refunded_at or utcnow()).isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True
