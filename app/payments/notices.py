"""Gateway notices: log, verify and apply each exactly once (payment notices and refund notices), refuse
what is forged, oversized or flooding, and keep the log trimmed.

Notifications are logged raw in their own short transaction first (so a forged one is kept too), then
processed in a second one, and the log row gets the outcome in a third. They run one after another, never
nested, so SQLite's single writer never waits on itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.db import session_scope, utcnow
from app.errors import AppError
from app.kit import metrics
from app.orders import service as orders_service
from app.payments import outcomes, providers, repository
from app.payments.errors import (
    AmountMismatch,
    AppIdMismatch,
    BadNotification,
    BadSignature,
    NotificationTooLarge,
    PaymentNotFound,
    SellerMismatch,
    TooManyNotifications,
)
from app.payments.models import Channel, Payment, PaymentNotification, UnmatchedPayment
from app.payments.outcomes import JOB_BATCH, REFUND_DUE
from app.payments.providers.base import Provider, RefundNotice, TradeState, VerifiedNotification
from app.payments.unmatched import give_back_unexpected, raise_to_staff
from app.users import throttle

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
# Real notices are a few KB; the cap keeps a flood from filling the log table.
NOTIFY_MAX_BYTES = 64 * 1024
NOTIFY_WINDOW_SECONDS = 60
_NOTIFY_KEY = "payments:notify:"
_REFUSED_KEY = "payments:notify-refused:"
# A notice that repeats one of these is refused: which copy would the signature cover?
_SIGNATURE_HEADERS = frozenset(
    {
        "x-sandbox-signature",
        "wechatpay-timestamp",
        "wechatpay-nonce",
        "wechatpay-signature",
        "wechatpay-serial",
        "wechatpay-signature-type",
    }
)
# How long the gateways resend a notice that was not acknowledged (Alipay 25 hours, WeChat Pay 24).
NOTICE_RESENT_FOR = timedelta(hours=25)


def _header_pairs(headers: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """Lower-cased headers, and the names that came more than once (Starlette's Headers yields each)."""
    single: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in headers.items():
        key = name.lower()
        if key in single:
            repeated.add(key)
        single.setdefault(key, value)
    return single, repeated


async def _throttle(client_ip: str) -> None:
    """Per sending address: a ceiling on all notices, and a low one on refused notices (a forger stops
    being heard for the rest of the window; a real gateway's notices are not refused)."""
    s = get_settings()
    refused, retry_after = await throttle.count(_REFUSED_KEY + client_ip, NOTIFY_WINDOW_SECONDS)
    if refused >= s.payment_notify_max_rejected_per_ip:
        raise TooManyNotifications(
            "Too many refused payment notifications from this address.", retry_after=retry_after
        )
    claim = await throttle.claim(_NOTIFY_KEY + client_ip, NOTIFY_WINDOW_SECONDS, s.payment_notify_max_per_ip)
    if not claim.allowed:
        raise TooManyNotifications(
            "Too many payment notifications from this address.", retry_after=claim.retry_after
        )


async def receive_notification(
    channel: str, body: bytes, headers: Mapping[str, str], client_ip: str | None = None
) -> str:
    """Log, verify and apply one gateway notification. Returns the outcome (applied, duplicate, ignored);
    raises the AppError that rejected it (after logging it), having changed nothing else.

    A channel that is not configured, an oversized body (the router's cap) and a throttled sender are
    refused before anything is stored. `client_ip` is None only for the sandbox page's own presses."""
    provider = providers.get(channel)
    if len(body) > NOTIFY_MAX_BYTES:
        raise NotificationTooLarge(f"A payment notification is at most {NOTIFY_MAX_BYTES} bytes.")
    if client_ip is not None:
        await _throttle(client_ip)
    received_at = utcnow()
    single, repeated = _header_pairs(headers)
    kept = {k: v[:1024] for k, v in single.items() if k in _LOGGED_HEADERS}
    notice_key = provider.notice_key(body)
    async with session_scope() as session:
        note_id = await repository.add_notification(
            session,
            PaymentNotification(
                channel=channel[:16],
                headers=json.dumps(kept, ensure_ascii=False),
                body=body.decode("utf-8", errors="replace"),
                client_ip=client_ip,
                received_at=received_at,
                notice_key=notice_key,
            ),
        )
    outcome, payment_id, error, code = "rejected", None, None, None
    verified: VerifiedNotification | None = None
    try:
        if repeated & _SIGNATURE_HEADERS:
            raise BadSignature("A signature header is repeated.")
        await provider.prepare(single)
        verified = provider.verify_notification(body, single)
        if verified.foreign is not None:
            raise verified.foreign
        async with session_scope() as session:
            if verified.refund is not None:
                outcome, payment_id = await _apply_refund_notice(session, channel, verified.refund)
            else:
                payment = await _payment_for(session, verified)
                payment_id = payment.id
                outcome = await _apply(session, provider, payment, verified, received_at)
    except AppError as exc:
        code = exc.code
        if verified is not None and channel != Channel.sandbox and isinstance(exc, _CANNOT_APPLY):
            # The gateway signed it: refusing it would only make it resend for a day while the buyer's
            # money stays taken. Acknowledge it; give the money back or raise it to staff (issue 16.4).
            outcome, payment_id = await _cannot_apply(channel, verified, exc, note_id)
        else:
            error = exc
            outcome = "rejected"
            log.warning("payment notification rejected", extra={"channel": channel, "code": exc.code})
    async with session_scope() as session:
        await repository.set_notification_outcome(session, note_id, outcome, payment_id, code)
        if error is not None and client_ip is not None:
            await repository.trim_rejected_notifications(
                session, client_ip, get_settings().payment_notify_rejected_kept_per_ip
            )
    metrics.PAYMENT_NOTICES.labels(channel, outcome).inc()
    if error is None and notice_key:
        # A copy that verified closes the copies a dead server left `received` (issue 17.8). In a unit of
        # work of its own: holding this copy's row while waiting for others' rows deadlocks concurrent copies.
        async with session_scope() as session:
            await repository.close_earlier_copies(session, channel, notice_key, note_id, payment_id)
    if error is not None:
        if client_ip is not None:
            await throttle.hit(_REFUSED_KEY + client_ip, NOTIFY_WINDOW_SECONDS)
        raise error
    # A refund due (a late or second payment) is recorded; the refund job asks the gateway. The notice is
    # answered at once: a slow or dead gateway must not make the gateway resend its notice.
    return outcome


async def _apply_refund_notice(session: AsyncSession, channel: str, notice: RefundNotice) -> tuple[str, int]:
    """A refund notice (issue 16.7): the refund completes now instead of at the refund job's next run. It
    finishes the refund exactly like the answer to our request would: whoever comes first, once."""
    refund = await repository.get_refund_by_number(session, notice.out_refund_no)
    payment = await repository.get(session, refund.payment_id) if refund is not None else None
    if refund is None or payment is None or payment.channel != channel:
        raise PaymentNotFound("The refund notice names no refund of ours.")
    if notice.amount_fen is not None and notice.amount_fen != refund.amount_fen:
        raise AmountMismatch(f"Notified a refund of {notice.amount_fen} fen for {refund.amount_fen} fen.")
    at = utcnow()
    if notice.done:
        finished = await outcomes.refund_done(session, payment, refund, notice.gateway_refund_no, at)
        return ("applied" if finished else "duplicate"), payment.id
    # CLOSED or ABNORMAL: the money did not reach the buyer; the refund stays pending and shows why.
    await repository.note_refund_attempt(
        session, refund.id, f"gateway says the refund is {notice.status}"[:500], at
    )
    log.error("refund did not go through", extra={"payment_id": payment.id, "status": notice.status})
    return "ignored", payment.id


# Refusals of a correctly signed notice that leave money taken: acknowledged, then refunded or raised to staff.
_CANNOT_APPLY = (AmountMismatch, AppIdMismatch, SellerMismatch, PaymentNotFound)


async def _cannot_apply(
    channel: str, verified: VerifiedNotification, error: AppError, note_id: int
) -> tuple[str, int | None]:
    """A correctly signed notice we cannot apply. When it reports money taken, the money goes back by itself
    if it can be matched to a trade number of ours (the payment's refund, with the one out_refund_no every
    refund of that payment uses); otherwise it is raised to staff. Returns (outcome, payment id)."""
    if verified.state is not TradeState.success:
        return "ignored", None  # no money moved: nothing to give back
    async with session_scope() as session:
        payment = None
        if verified.foreign is None and verified.out_trade_no:
            payment = await repository.get_by_out_trade_no(session, verified.out_trade_no)
        if payment is not None and payment.channel == channel and verified.amount_fen:
            if await give_back_unexpected(session, payment, verified.amount_fen, error.detail):
                log.warning(
                    "unexpected payment refunded", extra={"payment_id": payment.id, "code": error.code}
                )
                return REFUND_DUE, payment.id
        await raise_to_staff(
            session,
            UnmatchedPayment(
                channel=channel,
                out_trade_no=(verified.out_trade_no or "")[:64],
                gateway_trade_no=verified.gateway_trade_no,
                amount_fen=verified.amount_fen,
                reason=error.code,
                detail=error.detail[:500],
                notification_id=note_id,
            ),
        )
        return "unmatched", payment.id if payment is not None else None


async def purge_notifications(session: AsyncSession, now: datetime | None = None) -> int:
    """Worker job: delete notices (applied, refused, whatever became of them) older than the retention."""
    now = now or utcnow()
    await repository.give_up_unanswered(session, now - NOTICE_RESENT_FOR)
    days = get_settings().payment_notification_retention_days
    cutoff = now - timedelta(days=days)
    deleted = 0
    for _ in range(20):  # at most 20,000 rows per run; the next run goes on
        batch = await repository.delete_notifications_before(session, cutoff, JOB_BATCH * 10)
        deleted += batch
        if batch < JOB_BATCH * 10:
            break
    return deleted


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
    session: AsyncSession,
    provider: Provider,
    payment: Payment,
    verified: VerifiedNotification,
    received_at: datetime,
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
        return "applied" if await outcomes.fail(session, payment) else "duplicate"
    if verified.amount_fen is None or payment.amount_fen not in await outcomes.payable_amounts(
        session, order
    ):
        raise AmountMismatch(
            f"The payment is {payment.amount_fen} fen, the order's total {order.total_fen} fen."
        )
    if after_verification is not None:
        await after_verification(payment.id)
    return await outcomes.succeed(session, payment, verified.paid_at, verified.gateway_trade_no, received_at)
