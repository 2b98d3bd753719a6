from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class SubscriptionStatus(enum.StrEnum):
    pending_payment = "pending_payment"  # its prepaid order is not paid yet
    active = "active"
    waiting_for_stock = "waiting_for_stock"  # a delivery is due and the stock cannot cover it yet
    paused = "paused"
    completed = "completed"  # every period delivered
    cancelled = "cancelled"


class Subscription(TimestampMixin, Base):
    """A customer's subscription: `quantity` × `sku_id` every `interval`, `periods` times, prepaid by
    `order_id` (kind subscription). Delivery `slot` n falls on schedule.delivery_on(anchor_on, interval, n);
    `next_delivery_on` is the next slot's date (a skip moves to the slot after). `anchor_on` is the day of
    payment (Beijing), the first delivery's day."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("delivered_periods <= periods", name="delivered_within_periods"),
        Index("ix_subscriptions_status_next_delivery_on", "status", "next_delivery_on"),
        Index("ix_subscriptions_user_id_id", "user_id", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, unique=True, nullable=False)
    sku_id: Mapped[int] = mapped_column(BigId, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    interval: Mapped[str] = mapped_column(String(16), nullable=False)
    periods: Mapped[int] = mapped_column(Integer, nullable=False)
    address_id: Mapped[int] = mapped_column(BigId, nullable=False)
    total_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(
        String(24), nullable=False, default=SubscriptionStatus.pending_payment.value
    )
    anchor_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    slot: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_delivery_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    delivered_periods: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    refund_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SubscriptionDelivery(Base):
    """One period delivered: its delivery order (kind subscription_delivery, placed on `scheduled_on`)."""

    __tablename__ = "subscription_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "period"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    period: Mapped[int] = mapped_column(Integer, nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, unique=True, nullable=False)
    scheduled_on: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
