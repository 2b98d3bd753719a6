"""Payments: create, apply gateway notifications exactly once, refund, reconcile.

Exactly once: a success moves the payment with `UPDATE payments … WHERE status IN ('pending','failed')` and
the order through `orders.service.mark_paid` (itself a conditional state-machine move) in ONE transaction;
whoever loses the race (a replay, a second worker) changes nothing and is still acknowledged.

Notifications are logged raw in their own short transaction first (so a forged one is kept too), then
processed in a second one, and the log row gets the outcome in a third. They run one after another, never
nested, so SQLite's single writer never waits on itself.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.config import get_settings
from app.db import session_scope, utcnow
from app.errors import AppError
from app.orders import service as orders_service
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderStatus
from app.payments import providers, repository
from app.payments.errors import (
    AmountMismatch,
    BadNotification,
    ChannelNotConfigured,
    GatewayError,
    PaymentNotFound,
)
from app.payments.models import Channel, Payment, PaymentNotification, PaymentRefund, RefundStatus
from app.payments.providers import sandbox
from app.payments.providers.base import Provider, TradeState, VerifiedNotification
from app.users.models import User

log = logging.getLogger("daoxiang.payments")

# Test seam (deterministic race tests, as Saleor's): awaited after a success notification was verified and
# before anything is written. Production never sets it.
after_verification: Callable[[int], Awaitable[None]] | None = None

# The headers worth keeping with a raw notification (never cookies or auth).
_LOGGED_HEADERS = (
    "content-type",
    "x-sandbox-signature",
    "wechatpay-timestamp",
    "wechatpay-nonce",
    "wechatpay-signature",
    "wechatpay-serial",
    "wechatpay-signature-type",
    "user-agent",
)
JOB_BATCH = 100
# Outcome of a success whose money must go back (late, or a second payment of a paid order).
REFUND_DUE = "refund_due"


# ---------------------------------------------------------------------------------------------- create


def _new_out_trade_no(order: Order) -> str:
    return f"{order.order_no}{secrets.randbelow(10**8):08d}"


async def create_payment(session: AsyncSession, user: User, order_id: int, channel: Channel) -> Payment:
    """Start paying one of my orders. A pending payment of the same channel and amount is reused."""
    order = await orders_service.get_for_customer(session, user, order_id)
    if order.status != OrderStatus.pending_payment:
        raise InvalidOrderState(f"Only an order waiting for payment can be paid; this one is {order.status}.")
    provider = providers.get(channel.value)
    existing = await repository.pending_for(session, order.id, channel.value)
    if existing is not None and existing.amount_fen == order.total_fen:
        return existing
    payment = Payment(
        order_id=order.id,
        channel=channel.value,
        amount_fen=order.total_fen,
        out_trade_no=_new_out_trade_no(order),
        pay_url="",
    )
    session.add(payment)
    await session.flush()
    payment.pay_url = await provider.create(payment, order)
    await session.flush()
    return payment


async def list_for_order(session: AsyncSession, user: User, order_id: int) -> list[Payment]:
    order = await orders_service.get_for_customer(session, user, order_id)
    return list(await repository.list_for_order(session, order.id))


# ---------------------------------------------------------------------------------------------- notifications


async def receive_notification(channel: str, body: bytes, headers: Mapping[str, str]) -> str:
    """Log, verify and apply one gateway notification. Returns the outcome (applied, duplicate, ignored);
    raises the AppError that rejected it (after logging it), having changed nothing else."""
    kept = {k: v for k, v in ((k.lower(), v) for k, v in headers.items()) if k in _LOGGED_HEADERS}
    async with session_scope() as session:
        note_id = await repository.add_notification(
            session,
            PaymentNotification(
                channel=channel[:16],
                headers=json.dumps(kept, ensure_ascii=False),
                body=body.decode("utf-8", errors="replace"),
            ),
        )
    outcome, payment_id, error = "rejected", None, None
    try:
        provider = providers.get(channel)
        verified = provider.verify_notification(body, {k.lower(): v for k, v in headers.items()})
        async with session_scope() as session:
            payment = await _payment_for(session, verified)
            payment_id = payment.id
            outcome = await _apply(session, provider, payment, verified)
    except AppError as exc:
        error = exc
        outcome = "rejected"
        log.warning("payment notification rejected", extra={"channel": channel, "code": exc.code})
    async with session_scope() as session:
        await repository.set_notification_outcome(
            session, note_id, outcome, payment_id, error.code if error else None
        )
    if error is not None:
        raise error
    if outcome == REFUND_DUE and payment_id is not None:
        # After the commit, so no row stays locked while the gateway is on the phone. If the gateway does
        # not confirm now, the refund job keeps asking.
        async with session_scope() as session:
            await settle_refund(session, payment_id)
    return outcome


async def _payment_for(session: AsyncSession, verified: VerifiedNotification) -> Payment:
    if verified.payment_id is not None:
        payment = await repository.get(session, verified.payment_id)
    elif verified.out_trade_no:
        payment = await repository.get_by_out_trade_no(session, verified.out_trade_no)
    else:
        payment = None
    if payment is None:
        raise PaymentNotFound("The notification names no payment of ours.")
    return payment


async def _apply(
    session: AsyncSession, provider: Provider, payment: Payment, verified: VerifiedNotification
) -> str:
    if payment.channel != provider.channel:
        raise PaymentNotFound("The notification names no payment of this channel.")
    order = await orders_service.get_or_raise(session, payment.order_id)
    if verified.order_no is not None and verified.order_no != order.order_no:
        raise BadNotification("The notification's order_no is not the payment's order.")
    if verified.amount_fen is not None and verified.amount_fen != payment.amount_fen:
        raise AmountMismatch(f"Notified {verified.amount_fen} fen for a payment of {payment.amount_fen} fen.")
    if verified.state is TradeState.pending:
        return "ignored"
    if verified.state is TradeState.failed:
        return "applied" if await _fail(session, payment) else "duplicate"
    if verified.amount_fen is None or payment.amount_fen != order.total_fen:
        raise AmountMismatch(
            f"The payment is {payment.amount_fen} fen, the order's total {order.total_fen} fen."
        )
    if after_verification is not None:
        await after_verification(payment.id)
    return await _succeed(session, payment, verified.paid_at or utcnow(), verified.gateway_trade_no)


def _event_data(payment: Payment, order_no: str) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "order_id": payment.order_id,
        "order_no": order_no,
        "channel": payment.channel,
        "amount_fen": payment.amount_fen,
    }


async def _order_no(session: AsyncSession, order_id: int) -> str:
    return (await orders_service.get_or_raise(session, order_id)).order_no


async def _fail(session: AsyncSession, payment: Payment) -> bool:
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


async def _succeed(session: AsyncSession, payment: Payment, paid_at: datetime, trade_no: str | None) -> str:
    """The gateway has the money. Returns "applied", REFUND_DUE (the money must go back: the order was
    cancelled, or another payment paid it first) or "duplicate" (already applied; nothing changed)."""
    if not await repository.mark_succeeded(session, payment.id, paid_at, trade_no):
        return "duplicate"
    order_no = await _order_no(session, payment.order_id)
    await events.emit(
        session,
        "payment.succeeded",
        {**_event_data(payment, order_no), "gateway_trade_no": trade_no, "paid_at": paid_at.isoformat()},
        subject=f"payment/{payment.id}",
    )
    applied = await orders_service.mark_paid(
        session, payment.order_id, amount_fen=payment.amount_fen, paid_at=paid_at
    )
    if applied is orders_service.PaymentApplied.paid:
        return "applied"
    if applied is orders_service.PaymentApplied.late:
        # Paid after the order was cancelled (or expired): the order is now refunding and the money goes
        # straight back; the stock was returned at cancellation and is not taken again.
        await _open_refund(
            session, payment, reason="payment arrived after the order was cancelled", completes_order=True
        )
    else:
        # The order was already paid by another payment (or moved on): give this second payment back.
        await _open_refund(
            session, payment, reason="order already paid by another payment", completes_order=False
        )
    return REFUND_DUE


# ---------------------------------------------------------------------------------------------- refunds


async def refund_order(session: AsyncSession, order_id: int, *, reason: str = "refund approved") -> bool:
    """For orders.approve_refund: refund the payment that paid the order through its gateway.

    True when the money is back now (or nothing was paid through a gateway); False when the gateway is still
    working on it — the refund job retries and completes the order's refund then."""
    payment = await repository.succeeded_for_order(session, order_id)
    if payment is None:
        return True
    return await _refund_payment(session, payment, reason=reason, completes_order=True)


async def _refund_payment(
    session: AsyncSession, payment: Payment, *, reason: str, completes_order: bool
) -> bool:
    refund = await _open_refund(session, payment, reason=reason, completes_order=completes_order)
    if refund.status == RefundStatus.succeeded:
        return True
    return await _try_refund(session, payment, refund)


async def _open_refund(
    session: AsyncSession, payment: Payment, *, reason: str, completes_order: bool
) -> PaymentRefund:
    """The payment's refund record; its out_refund_no is chosen here, once, and reused by every retry."""
    refund = await repository.get_refund(session, payment.id)
    if refund is None:
        refund = PaymentRefund(
            payment_id=payment.id,
            order_id=payment.order_id,
            out_refund_no=f"R{payment.out_trade_no}"[:64],
            amount_fen=payment.amount_fen,
            reason=reason[:500],
            completes_order=completes_order,
            status=RefundStatus.pending.value,
        )
        session.add(refund)
        await session.flush()
    return refund


async def settle_refund(session: AsyncSession, payment_id: int) -> bool:
    """Ask the gateway to refund a pending refund; when done, also finish the order's refund if it belongs
    to one. True when this call finished it."""
    payment = await repository.get(session, payment_id)
    refund = await repository.get_refund(session, payment_id)
    if payment is None or refund is None or refund.status != RefundStatus.pending:
        return False
    if not await _try_refund(session, payment, refund):
        return False
    if refund.completes_order:
        await orders_service.complete_refund(session, payment.order_id, reason="refund completed")
    return True


async def _try_refund(session: AsyncSession, payment: Payment, refund: PaymentRefund) -> bool:
    """Ask the gateway to refund (again: the same out_refund_no never refunds twice). True once done.

    What decided the refund (a staff approval, the refund's record) is committed first: it is durable before
    the money moves, and no transaction, so no row lock, is held while the gateway answers, which can take
    its whole timeout. If this request dies after the gateway refunded, the refund job asks again with the
    same out_refund_no and finishes it."""
    await session.commit()
    at = utcnow()
    try:
        outcome = await providers.get(payment.channel).refund(payment, refund)
    except (GatewayError, ChannelNotConfigured) as exc:
        log.warning("refund not done yet", extra={"payment_id": payment.id, "error": exc.detail})
        await repository.note_refund_attempt(session, refund.id, exc.detail[:500], at)
        return False
    if not outcome.done:
        await repository.note_refund_attempt(session, refund.id, "processing", at)
        return False
    if not await repository.finish_refund(session, refund.id, outcome.gateway_refund_no, at):
        return False  # another worker finished it first
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
    return True


async def retry_refunds(session: AsyncSession) -> int:
    """Worker job: push refunds the gateway has not confirmed yet; complete the order's refund when done."""
    done = 0
    for payment_id in await repository.pending_refund_ids(session, JOB_BATCH):
        done += await settle_refund(session, payment_id)
    return done


# ---------------------------------------------------------------------------------------------- reconciliation


async def reconcile(session: AsyncSession) -> int:
    """Worker job: ask the gateway about payments still pending after PAYMENT_RECONCILE_AFTER_MINUTES, so a
    lost notification never leaves a paid order unpaid. Returns how many payments changed."""
    now = utcnow()
    cutoff = now - timedelta(minutes=get_settings().payment_reconcile_after_minutes)
    channels = [c for c, p in providers.PROVIDERS.items() if c != Channel.sandbox.value and p.is_configured()]
    if not channels:
        return 0
    changed = 0
    for payment_id in await repository.due_for_reconciliation(session, channels, cutoff, JOB_BATCH):
        if not await repository.claim_check(session, payment_id, cutoff, now):
            continue  # another worker has it
        payment = await repository.get(session, payment_id)
        if payment is None:
            continue
        provider = providers.get(payment.channel)
        try:
            trade = await provider.query(payment)
        except GatewayError as exc:
            log.warning("reconciliation query failed", extra={"payment_id": payment_id, "error": exc.detail})
            continue
        if trade.state is TradeState.failed:
            changed += await _fail(session, payment)
        elif trade.state is TradeState.success:
            order = await orders_service.get_or_raise(session, payment.order_id)
            if trade.amount_fen != payment.amount_fen or payment.amount_fen != order.total_fen:
                log.error("reconciliation amount mismatch", extra={"payment_id": payment_id})
                continue
            outcome = await _succeed(session, payment, trade.paid_at or now, trade.gateway_trade_no)
            if outcome == REFUND_DUE:
                await settle_refund(session, payment.id)
            changed += outcome != "duplicate"
    return changed


# ---------------------------------------------------------------------------------------------- sandbox page


async def sandbox_payment(session: AsyncSession, payment_id: int) -> tuple[Payment, Order]:
    payment = await repository.get(session, payment_id)
    if payment is None or payment.channel != Channel.sandbox:
        raise PaymentNotFound("No such sandbox payment.")
    providers.get(Channel.sandbox.value)
    return payment, await orders_service.get_or_raise(session, payment.order_id)


async def sandbox_press(payment_id: int, result: str) -> int:
    """The sandbox page's button: build and sign the gateway's notification on the server and send it
    through the same path as `POST /api/payments/sandbox/notify`. Returns the order id."""
    async with session_scope() as session:
        payment, order = await sandbox_payment(session, payment_id)
    body = sandbox.notification_body(payment, order.order_no, result, utcnow())
    await receive_notification(Channel.sandbox.value, body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
    return order.id
