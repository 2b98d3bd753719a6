"""Money a gateway holds for us that cannot pay an order (another sum, another merchant, a trade number we
never issued): given back by itself when it can be matched to a payment of ours, otherwise raised to staff,
who record how they settled it (issue 16.4)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.kit.money import format_yuan
from app.notifications import service as notifications_service
from app.payments import outcomes, repository
from app.payments.errors import UnmatchedPaymentNotFound
from app.payments.models import Payment, PaymentStatus, UnmatchedPayment
from app.users.models import User

log = logging.getLogger("daoxiang.payments")

CHANNEL_LABELS = {"alipay": "支付宝", "wechat": "微信支付", "sandbox": "沙箱"}
UNMATCHED_REASONS = {
    "app_id_mismatch": "通知属于其他应用或商户号",
    "seller_mismatch": "收款账号不是本店的支付宝账号",
    "payment_not_found": "本店没有这个商户订单号",
    "amount_mismatch": "金额与订单不符，且这笔支付已用于订单",
}


async def give_back_unexpected(session: AsyncSession, payment: Payment, amount_fen: int, why: str) -> bool:
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
        await outcomes.fail(session, payment)
    await outcomes.open_refund(
        session, payment, reason=f"unexpected sum: {why}", completes_order=False, amount_fen=amount_fen
    )
    return True


async def raise_to_staff(session: AsyncSession, unmatched: UnmatchedPayment) -> None:
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
