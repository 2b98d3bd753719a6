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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.config import get_settings
from app.db import session_scope, utcnow
from app.errors import AppError
from app.kit.money import format_yuan
from app.notifications import service as notifications_service
from app.orders import service as orders_service
from app.orders.errors import InvalidOrderState
from app.orders.models import Order, OrderStatus
from app.orders.state import SYSTEM, Actor
from app.payments import providers, repository
from app.payments.errors import (
    AmountMismatch,
    AppIdMismatch,
    BadNotification,
    BadSignature,
    ChannelNotConfigured,
    GatewayError,
    NotificationTooLarge,
    PaymentNotFound,
    SellerMismatch,
    TooManyNotifications,
    UnmatchedPaymentNotFound,
)
from app.payments.models import (
    Channel,
    Payment,
    PaymentNotification,
    PaymentRefund,
    PaymentStatus,
    PlatformCertificate,
    RefundStatus,
    UnmatchedPayment,
)
from app.payments.providers import sandbox, wechat
from app.payments.providers.base import (
    GatewayTrade,
    Provider,
    RefundNotice,
    TradeState,
    VerifiedNotification,
)
from app.payments.providers.wechat import FetchedCertificate, WechatProvider
from app.users import throttle
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
# A gateway's clock may be a little off ours; a payment time outside [created - skew, received + skew]
# is not believed (the receive time is used) — it could not be stored or shown anyway (year 9999).
GATEWAY_CLOCK_SKEW = timedelta(minutes=10)
# How long the gateways resend a notice that was not acknowledged (Alipay 25 hours, WeChat Pay 24).
NOTICE_RESENT_FOR = timedelta(hours=25)
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
        finished = await _refund_done(session, payment, refund, notice.gateway_refund_no, at)
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
            if await _give_back_unexpected(session, payment, verified.amount_fen, error.detail):
                log.warning(
                    "unexpected payment refunded", extra={"payment_id": payment.id, "code": error.code}
                )
                return REFUND_DUE, payment.id
        await _raise_to_staff(
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


async def _give_back_unexpected(session: AsyncSession, payment: Payment, amount_fen: int, why: str) -> bool:
    """Money the gateway holds for one of our trade numbers that cannot pay its order (another sum than the
    payment's or the order's): the payment failed, and the refund job gives the gateway's sum back. False
    when the payment did pay its order (a person must look)."""
    await repository.lock(session, payment.id)
    payment = await repository.get(session, payment.id) or payment
    refund = await repository.get_refund(session, payment.id)
    if refund is not None:
        return refund.amount_fen == amount_fen  # a copy of this notice: already being given back
    if payment.status not in (PaymentStatus.pending, PaymentStatus.failed):
        return False
    if payment.status == PaymentStatus.pending:
        await _fail(session, payment)
    await _open_refund(
        session, payment, reason=f"unexpected sum: {why}", completes_order=False, amount_fen=amount_fen
    )
    return True


async def _raise_to_staff(session: AsyncSession, unmatched: UnmatchedPayment) -> None:
    """Record money we cannot match (once per trade, however often it is notified) and tell staff."""
    if not await repository.add_unmatched(session, unmatched):
        return
    log.error(
        "payment cannot be matched; raised to staff",
        extra={
            "channel": unmatched.channel,
            "out_trade_no": unmatched.out_trade_no,
            "code": unmatched.reason,
        },
    )
    amount = format_yuan(unmatched.amount_fen) if unmatched.amount_fen is not None else "未知金额"
    await notifications_service.notify_staff(
        session,
        event_type="payment.unmatched",
        key=f"unmatched:{unmatched.channel}:{unmatched.out_trade_no}",
        title="有一笔款项需要人工处理",
        body=(
            f"{CHANNEL_LABELS.get(unmatched.channel, unmatched.channel)}通知收款 {amount}"
            f"（商户订单号 {unmatched.out_trade_no or '无'}），"
            f"{UNMATCHED_REASONS.get(unmatched.reason, unmatched.reason)}，无法自动处理，请核对后手工退款或补单。"
        ),
        link="/admin/payments/unmatched",
    )


CHANNEL_LABELS = {"alipay": "支付宝", "wechat": "微信支付", "sandbox": "沙箱"}
UNMATCHED_REASONS = {
    "app_id_mismatch": "通知属于其他应用或商户号",
    "seller_mismatch": "收款账号不是本店的支付宝账号",
    "payment_not_found": "本店没有这个商户订单号",
    "amount_mismatch": "金额与订单不符，且这笔支付已用于订单",
}


async def list_unmatched(
    session: AsyncSession, *, resolved: bool, offset: int, limit: int
) -> tuple[Sequence[UnmatchedPayment], int]:
    return await repository.list_unmatched(session, resolved=resolved, offset=offset, limit=limit)


async def resolve_unmatched(
    session: AsyncSession, staff: User, unmatched_id: int, note: str
) -> UnmatchedPayment:
    """Staff record how they settled money we could not match (refunded by hand, order made up…)."""
    unmatched = await repository.get_unmatched(session, unmatched_id)
    if unmatched is None:
        raise UnmatchedPaymentNotFound("No such unmatched payment.")
    if unmatched.resolved_at is None:
        unmatched.resolved_at = utcnow()
        unmatched.resolved_by = staff.id
        unmatched.note = note.strip()[:500]
        await session.flush()
    return unmatched


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
        return "applied" if await _fail(session, payment) else "duplicate"
    if verified.amount_fen is None or payment.amount_fen != order.total_fen:
        raise AmountMismatch(
            f"The payment is {payment.amount_fen} fen, the order's total {order.total_fen} fen."
        )
    if after_verification is not None:
        await after_verification(payment.id)
    return await _succeed(session, payment, verified.paid_at, verified.gateway_trade_no, received_at)


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


async def _succeed(
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


async def approve_refund(staff: User, order_id: int) -> None:
    """Staff approve a customer's refund request and the money goes back through the gateway that took it.

    Three steps, never one transaction around a gateway call: the decision (the approval and the refund's
    record, with its out_refund_no) is committed first, so it is durable before any money moves; the gateway
    is asked with no transaction open, so no row lock waits on it for its whole timeout; the outcome is
    committed on its own. If the process dies after the gateway refunded, the refund job asks again with the
    same out_refund_no (which refunds nothing more) and finishes it. A gateway that is slow or down leaves
    the order `refunding` (approved) and the refund pending; the job completes both later."""
    async with session_scope() as session:
        order = await orders_service.approve_refund_request(session, staff, order_id)
        payment = await repository.succeeded_for_order(session, order.id)
        if payment is None:
            # Nothing was paid through a gateway (a zero total): the refund is complete now.
            await orders_service.complete_refund(
                session, order.id, actor=Actor.of(staff), reason="refund approved"
            )
            return
        refund = await _open_refund(session, payment, reason="refund approved", completes_order=True)
        if refund.status == RefundStatus.succeeded:
            await orders_service.complete_refund(
                session, order.id, actor=Actor.of(staff), reason="refund approved"
            )
            return
    await settle_refund(payment.id, actor=Actor.of(staff))


async def _open_refund(
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
        return await _refund_done(session, payment, refund, outcome.gateway_refund_no, at, actor=actor)


async def _refund_done(
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
        await orders_service.complete_refund(session, payment.order_id, actor=actor, reason=reason)
    return True


async def retry_refunds(session: AsyncSession) -> int:
    """Worker job: push refunds the gateway has not confirmed yet; complete the order's refund when done.
    The job's session only lists them: each gateway call runs with no transaction open, each outcome is
    committed on its own."""
    done = 0
    for payment_id in await repository.pending_refund_ids(session, JOB_BATCH):
        done += await settle_refund(payment_id)
    return done


# ---------------------------------------------------------------------------------------------- reconciliation


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
        return await _fail(session, payment)
    if trade.state is not TradeState.success:
        return False
    order = await orders_service.get_or_raise(session, payment.order_id)
    if trade.amount_fen != payment.amount_fen or payment.amount_fen != order.total_fen:
        # The same as a signed notice with that sum: the money goes back (or to staff), the order waits.
        why = f"the gateway holds {trade.amount_fen} fen for a payment of {payment.amount_fen} fen"
        if trade.amount_fen and await _give_back_unexpected(session, payment, trade.amount_fen, why):
            log.warning("unexpected payment refunded", extra={"payment_id": payment.id})
            return True
        await _raise_to_staff(
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
    outcome = await _succeed(session, payment, trade.paid_at, trade.gateway_trade_no, utcnow())
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
            closed += await _fail(outcome_session, payment)
    return closed


# ---------------------------------------------------------------------------------------------- platform keys


async def fetch_platform_certificates() -> list[tuple[FetchedCertificate, bool]]:
    """`daoxiang payments fetch-certificates`: download and verify WeChat Pay's platform certificates and
    store the new ones; notices signed under any of them are accepted from then on, on every server within
    a minute (sooner when a notice names the new serial). Returns each current certificate and whether it
    was new."""
    provider = providers.PROVIDERS[Channel.wechat.value]
    assert isinstance(provider, WechatProvider)
    fetched = await provider.fetch_certificates()
    stored = []
    async with session_scope() as session:
        for cert in fetched:
            new = await repository.add_platform_certificate(
                session,
                PlatformCertificate(
                    channel=Channel.wechat.value,
                    serial=cert.serial,
                    certificate=cert.pem,
                    not_before=cert.not_before,
                    not_after=cert.not_after,
                ),
            )
            stored.append((cert, new))
    wechat.STORED.clear()
    return stored


# ---------------------------------------------------------------------------------------------- sandbox page


async def sandbox_payment(
    session: AsyncSession, payment_id: int, user_id: int | None
) -> tuple[Payment, Order]:
    """A sandbox payment of the signed-in buyer's order. Anyone else (anonymous, another customer, staff:
    they are not the payer) gets the same 404 as for a payment that does not exist."""
    payment = await repository.get(session, payment_id)
    if payment is None or payment.channel != Channel.sandbox or user_id is None:
        raise PaymentNotFound("No such sandbox payment.")
    order = await orders_service.get_or_raise(session, payment.order_id)
    if order.user_id != user_id:
        raise PaymentNotFound("No such sandbox payment.")
    providers.get(Channel.sandbox.value)
    return payment, order


async def sandbox_press(payment_id: int, result: str, user_id: int | None) -> int:
    """The sandbox page's button: build and sign the gateway's notification on the server and send it
    through the same path as `POST /api/payments/sandbox/notify`. Returns the order id."""
    async with session_scope() as session:
        payment, order = await sandbox_payment(session, payment_id, user_id)
    body = sandbox.notification_body(payment, order.order_no, result, utcnow())
    await receive_notification(Channel.sandbox.value, body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
    return order.id
