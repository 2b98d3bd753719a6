from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.orders.models import Order, OrderStatus
from app.payments.models import (
    Payment,
    PaymentNotification,
    PaymentRefund,
    PaymentStatus,
    PlatformCertificate,
    RefundStatus,
    UnmatchedPayment,
)

P = PaymentStatus


async def get(session: AsyncSession, payment_id: int) -> Payment | None:
    stmt = select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_out_trade_no(session: AsyncSession, out_trade_no: str) -> Payment | None:
    stmt = (
        select(Payment).where(Payment.out_trade_no == out_trade_no).execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_for(session: AsyncSession, order_id: int, channel: str) -> Payment | None:
    stmt = (
        select(Payment)
        .where(Payment.order_id == order_id, Payment.channel == channel, Payment.status == P.pending.value)
        .order_by(Payment.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def succeeded_for_order(session: AsyncSession, order_id: int) -> Payment | None:
    """The payment that paid an order (the first to succeed)."""
    stmt = (
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status.in_([P.succeeded.value, P.refunded.value]))
        .order_by(Payment.paid_at, Payment.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def succeeded_all_for_order(session: AsyncSession, order_id: int) -> Sequence[Payment]:
    """Every payment that paid (part of) an order, first first: one, or a pre-sale's deposit and balance."""
    stmt = (
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status.in_([P.succeeded.value, P.refunded.value]))
        .order_by(Payment.paid_at, Payment.id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def list_for_order(session: AsyncSession, order_id: int) -> Sequence[Payment]:
    stmt = select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)
    return (await session.execute(stmt)).scalars().all()


async def mark_succeeded(
    session: AsyncSession,
    payment_id: int,
    paid_at: datetime,
    gateway_trade_no: str | None,
    confirmed_at: datetime,
) -> bool:
    """pending (or failed: the gateway changed its mind and took the money after all) → succeeded.
    True for exactly one caller, however many replays race."""
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status.in_([P.pending.value, P.failed.value]))
        .values(
            status=P.succeeded.value,
            paid_at=paid_at,
            confirmed_at=confirmed_at,
            gateway_trade_no=gateway_trade_no,
            updated_at=confirmed_at,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def lock(session: AsyncSession, payment_id: int) -> None:
    """Hold the payment's row until the transaction ends (an UPDATE that matches it: a row lock on MariaDB,
    the write lock on SQLite), so two copies of one notice decide one after the other."""
    await session.execute(
        update(Payment)
        .where(Payment.id == payment_id)
        .values(updated_at=Payment.updated_at)
        .execution_options(synchronize_session=False)
    )


async def mark_failed(session: AsyncSession, payment_id: int, at: datetime) -> bool:
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == P.pending.value)
        .values(status=P.failed.value, failed_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_refunded(session: AsyncSession, payment_id: int, at: datetime) -> bool:
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == P.succeeded.value)
        .values(status=P.refunded.value, refunded_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def due_for_reconciliation(
    session: AsyncSession, channels: Sequence[str], created_before: datetime, limit: int
) -> Sequence[int]:
    stmt = (
        select(Payment.id)
        .where(
            Payment.status == P.pending.value,
            Payment.channel.in_(list(channels)),
            Payment.created_at <= created_before,
            or_(Payment.checked_at.is_(None), Payment.checked_at <= created_before),
        )
        .order_by(Payment.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def claim_check(session: AsyncSession, payment_id: int, not_since: datetime, at: datetime) -> bool:
    """Take a payment for one reconciliation round; several workers never ask the gateway twice at once."""
    result = await session.execute(
        update(Payment)
        .where(
            Payment.id == payment_id,
            Payment.status == P.pending.value,
            or_(Payment.checked_at.is_(None), Payment.checked_at <= not_since),
        )
        .values(checked_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def get_refund(session: AsyncSession, payment_id: int) -> PaymentRefund | None:
    stmt = (
        select(PaymentRefund)
        .where(PaymentRefund.payment_id == payment_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_refund_by_number(session: AsyncSession, out_refund_no: str) -> PaymentRefund | None:
    stmt = (
        select(PaymentRefund)
        .where(PaymentRefund.out_refund_no == out_refund_no)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_refund_ids(session: AsyncSession, limit: int) -> Sequence[int]:
    stmt = (
        select(PaymentRefund.payment_id)
        .where(PaymentRefund.status == RefundStatus.pending.value)
        .order_by(PaymentRefund.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def finish_refund(
    session: AsyncSession, refund_id: int, gateway_refund_no: str | None, at: datetime
) -> bool:
    result = await session.execute(
        update(PaymentRefund)
        .where(PaymentRefund.id == refund_id, PaymentRefund.status == RefundStatus.pending.value)
        .values(
            status=RefundStatus.succeeded.value,
            gateway_refund_no=gateway_refund_no,
            last_error=None,
            refunded_at=at,
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def note_refund_attempt(session: AsyncSession, refund_id: int, error: str | None, at: datetime) -> None:
    await session.execute(
        update(PaymentRefund)
        .where(PaymentRefund.id == refund_id)
        .values(attempts=PaymentRefund.attempts + 1, last_error=error, updated_at=at)
        .execution_options(synchronize_session=False)
    )


async def add_notification(session: AsyncSession, note: PaymentNotification) -> int:
    session.add(note)
    await session.flush()
    return note.id


async def set_notification_outcome(
    session: AsyncSession, note_id: int, outcome: str, payment_id: int | None, error_code: str | None
) -> None:
    await session.execute(
        update(PaymentNotification)
        .where(PaymentNotification.id == note_id)
        .values(outcome=outcome, payment_id=payment_id, error_code=error_code)
        .execution_options(synchronize_session=False)
    )


async def close_earlier_copies(
    session: AsyncSession, channel: str, notice_key: str, before_id: int, payment_id: int | None
) -> int:
    """Earlier copies of a notice still `received` (their server died while handling them): a later copy was
    handled, so they are `superseded`."""
    result = await session.execute(
        update(PaymentNotification)
        .where(
            PaymentNotification.channel == channel,
            PaymentNotification.notice_key == notice_key,
            PaymentNotification.outcome == "received",
            PaymentNotification.id < before_id,
        )
        .values(outcome="superseded", payment_id=payment_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def give_up_unanswered(session: AsyncSession, received_before: datetime) -> int:
    """Notices still `received` after the gateways stopped resending (24-25 hours) never will be closed by a
    copy: `unanswered` (reconciliation asked the gateway about their payments meanwhile)."""
    result = await session.execute(
        update(PaymentNotification)
        .where(PaymentNotification.outcome == "received", PaymentNotification.received_at < received_before)
        .values(outcome="unanswered")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def trim_rejected_notifications(session: AsyncSession, client_ip: str, keep: int) -> int:
    """Keep only the newest `keep` refused notices of one sending address."""
    stmt = (
        select(PaymentNotification.id)
        .where(PaymentNotification.client_ip == client_ip, PaymentNotification.outcome == "rejected")
        .order_by(PaymentNotification.id.desc())
        .offset(keep)
        .limit(1000)
    )
    ids = list((await session.execute(stmt)).scalars().all())
    if not ids:
        return 0
    result = await session.execute(
        delete(PaymentNotification)
        .where(PaymentNotification.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def delete_notifications_before(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    stmt = (
        select(PaymentNotification.id)
        .where(PaymentNotification.received_at < cutoff)
        .order_by(PaymentNotification.id)
        .limit(limit)
    )
    ids = list((await session.execute(stmt)).scalars().all())
    if not ids:
        return 0
    result = await session.execute(
        delete(PaymentNotification)
        .where(PaymentNotification.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def pending_of_cancelled_orders(
    session: AsyncSession, channels: Sequence[str], limit: int
) -> Sequence[int]:
    """Payments still open at a gateway whose order was cancelled (by the buyer or at its deadline)."""
    stmt = (
        select(Payment.id)
        .join(Order, Order.id == Payment.order_id)
        .where(
            Payment.status == P.pending.value,
            Payment.channel.in_(list(channels)),
            Order.status == OrderStatus.cancelled.value,
        )
        .order_by(Payment.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def platform_certificates(
    session: AsyncSession, channel: str, now: datetime
) -> Sequence[PlatformCertificate]:
    stmt = select(PlatformCertificate).where(
        PlatformCertificate.channel == channel,
        PlatformCertificate.not_before <= now,
        PlatformCertificate.not_after >= now,
    )
    return (await session.scalars(stmt.order_by(PlatformCertificate.id))).all()


async def add_platform_certificate(session: AsyncSession, certificate: PlatformCertificate) -> bool:
    """Store a fetched certificate unless its serial is stored already; True when it is new."""
    result = await session.execute(
        insert(PlatformCertificate)
        .values(
            channel=certificate.channel,
            serial=certificate.serial,
            certificate=certificate.certificate,
            not_before=certificate.not_before,
            not_after=certificate.not_after,
            fetched_at=utcnow(),
        )
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
        .prefix_with("OR IGNORE", dialect="sqlite")
    )
    return result.rowcount == 1


async def add_unmatched(session: AsyncSession, unmatched: UnmatchedPayment) -> bool:
    """Insert unless this gateway trade is recorded already; True when this call recorded it."""
    values = {
        "channel": unmatched.channel,
        "out_trade_no": unmatched.out_trade_no,
        "gateway_trade_no": unmatched.gateway_trade_no,
        "amount_fen": unmatched.amount_fen,
        "reason": unmatched.reason,
        "detail": unmatched.detail,
        "notification_id": unmatched.notification_id,
        "note": "",
    }
    now = utcnow()
    result = await session.execute(
        insert(UnmatchedPayment)
        .values(**values, created_at=now, updated_at=now)
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("IGNORE", dialect="mariadb")
        .prefix_with("OR IGNORE", dialect="sqlite")
    )
    return result.rowcount == 1


async def get_unmatched(session: AsyncSession, unmatched_id: int) -> UnmatchedPayment | None:
    return await session.get(UnmatchedPayment, unmatched_id)


async def list_unmatched(
    session: AsyncSession, *, resolved: bool, offset: int, limit: int
) -> tuple[Sequence[UnmatchedPayment], int]:
    where = UnmatchedPayment.resolved_at.is_not(None) if resolved else UnmatchedPayment.resolved_at.is_(None)
    total = await session.scalar(select(func.count()).select_from(UnmatchedPayment).where(where)) or 0
    rows = (
        await session.scalars(
            select(UnmatchedPayment)
            .where(where)
            .order_by(UnmatchedPayment.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return rows, total
