from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow

NoticeBody = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class PaymentStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    refunded = "refunded"


class Channel(enum.StrEnum):
    sandbox = "sandbox"
    alipay = "alipay"
    wechat = "wechat"


class Payment(TimestampMixin, Base):
    """One attempt to pay one order through one channel. Status moves only by conditional UPDATEs."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_order_id_channel", "order_id", "channel"),
        Index("ix_payments_status_created_at", "status", "created_at"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PaymentStatus.pending.value)
    # Our number for this payment at the gateway (Alipay/WeChat `out_trade_no`).
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # The gateway's own number (Alipay `trade_no`, WeChat `transaction_id`), once it told us.
    gateway_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pay_url: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # When the gateway says the buyer paid (its clock, checked against a sane window, else ours).
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When we learned it (our clock): the receive time of the notice or query that confirmed the payment.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the reconciliation job last asked the gateway about this payment.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RefundStatus(enum.StrEnum):
    pending = "pending"
    succeeded = "succeeded"


class PaymentRefund(TimestampMixin, Base):
    """The refund of a payment. One per payment (unique), so `out_refund_no` is chosen once and every retry
    sends the gateway the same number: the gateway refunds it at most once."""

    __tablename__ = "payment_refunds"
    __table_args__ = (Index("ix_payment_refunds_status", "status"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="RESTRICT"), unique=True, nullable=False
    )
    order_id: Mapped[int] = mapped_column(BigId, index=True, nullable=False)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=RefundStatus.pending.value)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # Whether finishing this refund also finishes the order's refund (orders.complete_refund).
    completes_order: Mapped[bool] = mapped_column(nullable=False, default=True)
    gateway_refund_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PaymentNotification(Base):
    """Every notification a gateway (or the sandbox page) sent us, raw, whatever became of it. Written in its
    own short transaction before it is processed, so forged and rejected ones are kept too."""

    __tablename__ = "payment_notifications"
    __table_args__ = (
        Index("ix_payment_notifications_received_at", "received_at"),
        Index("ix_payment_notifications_client_ip_outcome", "client_ip", "outcome"),
        Index("ix_payment_notifications_channel_notice_key", "channel", "notice_key"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    headers: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of the signature-related headers
    # Up to 64 KiB of bytes, which may be up to three times as long as UTF-8 text (undecodable bytes are
    # kept as U+FFFD): more than a MariaDB TEXT holds.
    body: Mapped[str] = mapped_column(NoticeBody, nullable=False)
    payment_id: Mapped[int | None] = mapped_column(BigId, index=True, nullable=True)
    # received → applied | refund_due (money came for a cancelled or already paid order, or a sum we do not
    # expect: it goes back) | unmatched (money we cannot match: raised to staff) | duplicate | ignored (not
    # final yet) | rejected | unanswered (no retry came to close it; see purge_notifications)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    # What the gateway sends again unchanged when it retries this notice (Alipay notify_id, WeChat's
    # notification id), read BEFORE verification and used only to close earlier copies left `received` by
    # a server that died while handling them: the retry's outcome is theirs too.
    notice_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The sender's address (app.users.dependencies.client_ip); None for the sandbox page's own presses.
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class UnmatchedPayment(TimestampMixin, Base):
    """Money a gateway says it took that we cannot give back by ourselves: a correctly signed notice for a
    trade number we do not know, another app, merchant or seller account. The notice is acknowledged (so
    the gateway stops resending) and staff settle it by hand (/admin/payments/unmatched). One row per
    gateway trade, however often it is notified."""

    __tablename__ = "unmatched_payments"
    __table_args__ = (
        UniqueConstraint("channel", "out_trade_no", name="uq_unmatched_payments_channel_out_trade_no"),
        Index("ix_unmatched_payments_resolved_at", "resolved_at"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    out_trade_no: Mapped[str] = mapped_column(String(64), nullable=False)
    gateway_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Why it could not be matched: the error code the notice would have been refused with.
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    notification_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class PlatformCertificate(Base):
    """A gateway platform certificate fetched and verified by `daoxiang payments fetch-certificates`
    (WeChat Pay's /v3/certificates). Notices and answers signed under any stored or configured serial are
    accepted, so a rotation needs no change of settings."""

    __tablename__ = "payment_platform_certificates"
    __table_args__ = (
        UniqueConstraint("channel", "serial", name="uq_payment_platform_certificates_channel_serial"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    serial: Mapped[str] = mapped_column(String(64), nullable=False)
    certificate: Mapped[str] = mapped_column(Text, nullable=False)  # PEM
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
