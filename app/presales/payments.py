"""A pre-sale order's two payments, for the payments domain (which sits above and calls here): what the next
payment must be (`amount_to_pay`), and applying a confirmed one (`mark_paid`), each safe to call again.

    pending_payment --deposit--> deposit_paid --balance (from balance_starts_at)--> paid

A payment of the wrong amount for the order's stage changes nothing (AmountMismatch: the payments domain
gives a signed gateway's money back). A deposit that comes after the order was cancelled unpaid makes it
`refunding` like any late payment; a balance that comes after the worker cancelled the order
(app.flows.presale_balance) is a second payment of an order that cannot take it: the payments domain gives
it back (PaymentApplied.duplicate)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.db import utcnow
from app.orders import repository as orders_repository
from app.orders.errors import AmountMismatch, InvalidOrderState, OrderNotFound
from app.orders.models import Order, OrderStatus
from app.orders.moves import adjust_sales, emit_refund_requested, event_base
from app.orders.payment_moves import PaymentApplied
from app.orders.state import SYSTEM, Actor, transition
from app.presales import repository, service
from app.presales.errors import BalanceNotOpen
from app.presales.models import PresaleOrder

S = OrderStatus


async def _share(session: AsyncSession, order: Order) -> PresaleOrder:
    share = await repository.share_of(session, order.id)
    if share is None:
        raise OrderNotFound("No such pre-sale order.")
    return share


async def amount_to_pay(session: AsyncSession, order: Order) -> int:
    """What a payment started now must be: the deposit while the order waits for it, the balance (with the
    shipping) inside the balance window. Raises InvalidOrderState or BalanceNotOpen otherwise."""
    share = await _share(session, order)
    if order.status == S.pending_payment:
        return share.deposit_fen
    if order.status != S.deposit_paid:
        raise InvalidOrderState(f"Only an order waiting for payment can be paid; this one is {order.status}.")
    presale = await service.get_or_raise(session, share.presale_id)
    now = utcnow()
    if not presale.balance_starts_at <= now < presale.balance_ends_at:
        raise BalanceNotOpen(
            "The balance is paid between balance_starts_at and balance_ends_at.",
            balance_starts_at=presale.balance_starts_at.isoformat(),
            balance_ends_at=presale.balance_ends_at.isoformat(),
        )
    return service.amount_due(order, share)


async def mark_paid(
    session: AsyncSession, order_id: int, *, amount_fen: int, paid_at: datetime, actor: Actor = SYSTEM
) -> PaymentApplied:
    """Apply a confirmed payment of a pre-sale order: the deposit or the balance, by the order's stage."""
    for _ in range(3):
        order = await orders_repository.get_plain(session, order_id)
        if order is None:
            raise OrderNotFound("No such order.")
        share = await _share(session, order)
        if order.status in (S.pending_payment, S.deposit_paid):
            due = service.amount_due(order, share)
            if amount_fen != due:
                raise AmountMismatch(f"Paid {amount_fen} fen, but this stage of the order is {due} fen.")
            moved = await (_deposit if order.status == S.pending_payment else _balance)(
                session, order, share, amount_fen, paid_at, actor
            )
            if moved:
                return PaymentApplied.paid
            continue  # changed under us (cancelled by the worker?): look again
        if order.status == S.cancelled and order.paid_amount_fen is None:
            if amount_fen != share.deposit_fen:
                raise AmountMismatch(f"Paid {amount_fen} fen, but the deposit is {share.deposit_fen} fen.")
            reason = "payment arrived after the order was cancelled"
            if await transition(
                session,
                order,
                S.refunding,
                actor=actor,
                reason=reason,
                values={
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


async def _deposit(
    session: AsyncSession, order: Order, share: PresaleOrder, amount_fen: int, paid_at: datetime, actor: Actor
) -> bool:
    presale = await service.get_or_raise(session, share.presale_id)
    if not await transition(
        session,
        order,
        S.deposit_paid,
        actor=actor,
        reason="deposit received",
        # No pay deadline while the balance waits: the worker keeps the pre-sale's balance_ends_at.
        values={"paid_amount_fen": amount_fen, "pay_deadline": presale.balance_ends_at},
    ):
        return False
    await events.emit(
        session,
        "order.deposit_paid",
        {
            **event_base(order),
            "presale_id": presale.id,
            "amount_fen": amount_fen,
            "balance_due_fen": order.total_fen - amount_fen,
            "balance_starts_at": presale.balance_starts_at.isoformat(),
            "balance_ends_at": presale.balance_ends_at.isoformat(),
            "paid_at": paid_at.isoformat(),
        },
        subject=f"order/{order.id}",
    )
    return True


async def _balance(
    session: AsyncSession, order: Order, share: PresaleOrder, amount_fen: int, paid_at: datetime, actor: Actor
) -> bool:
    if not await transition(
        session,
        order,
        S.paid,
        actor=actor,
        reason="balance received",
        values={"paid_at": paid_at, "paid_amount_fen": order.total_fen},
    ):
        return False
    await adjust_sales(session, order.id, +1)
    await events.emit(
        session,
        "order.paid",
        {**event_base(order), "amount_fen": order.total_fen, "paid_at": paid_at.isoformat()},
        subject=f"order/{order.id}",
    )
    return True


async def payable_amounts(session: AsyncSession, order: Order) -> frozenset[int]:
    """The amounts a payment of this order may be: the deposit, or the rest (the balance with shipping)."""
    share = await _share(session, order)
    return frozenset({share.deposit_fen, order.total_fen - share.deposit_fen})
