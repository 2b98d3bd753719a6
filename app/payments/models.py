from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
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
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    headers: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of the signature-related headers
    # Up to 64 KiB of bytes, which may be up to three times as long as UTF-8 text (undecodable bytes are
    # kept as U+FFFD): more than a MariaDB TEXT holds.
    body: Mapped[str] = mapped_column(NoticeBody, nullable=False)
    payment_id: Mapped[int | None] = mapped_column(BigId, index=True, nullable=True)
    # received → applied | refund_due (money came for a cancelled or already paid order) | duplicate |
    # ignored (not final yet) | rejected
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The sender's address (app.users.dependencies.client_ip); None for the sandbox page's own presses.
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
