from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class OrderStatus(enum.StrEnum):
    pending_payment = "pending_payment"
    # A pre-sale order whose deposit is paid, waiting for its balance (no pay deadline: the pre-sale's
    # balance_ends_at, kept by app.flows.presale_balance).
    deposit_paid = "deposit_paid"
    paid = "paid"
    shipped = "shipped"
    completed = "completed"
    cancelled = "cancelled"
    refunding = "refunding"
    refunded = "refunded"


class OrderKind(enum.StrEnum):
    """What an order sells (CONTRACT "Commerce beyond the list price"). Every kind is an ordinary order; a
    kind's own rules (its price, what it reserves, its pay deadline) are its checkout steps (app.checkout)
    and its release (app.orders.releases)."""

    standard = "standard"
    flash_sale = "flash_sale"
    presale = "presale"
    subscription = "subscription"
    subscription_delivery = "subscription_delivery"
    adoption = "adoption"
    adoption_delivery = "adoption_delivery"
    custom = "custom"


class Order(TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_user_id_id", "user_id", "id"),
        Index("ix_orders_user_id_status", "user_id", "status"),  # a customer's unpaid orders, at checkout
        Index("ix_orders_status_pay_deadline", "status", "pay_deadline"),
        Index("ix_orders_status_shipped_at", "status", "shipped_at"),
        Index("ix_orders_status_completed_at", "status", "completed_at"),  # reviews' auto-positive job
        Index("ix_orders_created_at", "created_at"),
        # The staff list by status, newest first (not (status, id): see the scale_indexes migration).
        Index("ix_orders_status_created_at", "status", "created_at"),
        Index("ix_orders_stats_counted", "stats_counted"),  # the orders the dashboard's fold has not counted
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default=OrderStatus.pending_payment.value)
    kind: Mapped[str] = mapped_column(
        String(24), nullable=False, default=OrderKind.standard.value, server_default=OrderKind.standard.value
    )
    subtotal_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    shipping_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    discount_fen: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    coupon_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # The address as it was when the order was placed; later edits to the address book do not move parcels.
    address: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    recipient_phone: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    pay_deadline: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paid_amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    carrier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tracking_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refund_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Where a refund started from (paid, shipped or cancelled): a rejected request goes back there.
    refund_from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    refund_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set once, by a conditional update, when the reserved stock goes back: stock returns exactly once.
    stock_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # False: placed by checkout and not yet counted in the dashboard's figures: the order itself stands for
    # its "placed" figure until the fold counts it (app.orders.stats), so checkout writes no row for it.
    # Every other path that makes orders counts them itself (delta rows) and leaves the default.
    stats_counted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="1")

    items: Mapped[list[OrderItem]] = relationship(
        lazy="raise", order_by="OrderItem.id", back_populates="order"
    )
    history: Mapped[list[OrderHistory]] = relationship(lazy="raise", order_by="OrderHistory.id")


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, nullable=False
    )
    # No foreign key to skus on purpose: on InnoDB an FK check takes a shared lock on the sku row, and two
    # checkouts holding that shared lock then both wanting the exclusive one (to take stock) deadlock.
    sku_id: Mapped[int] = mapped_column(BigId, index=True, nullable=False)
    product_id: Mapped[int] = mapped_column(BigId, index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)  # product name + spec, as sold
    sku_name: Mapped[str] = mapped_column(String(64), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    subtotal_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    # This line's share of the order's discount (a coupon on the eligible lines), so a partial refund of the
    # line returns what was paid for it: subtotal_fen - discount_fen. The lines' shares sum to the order's.
    discount_fen: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    order: Mapped[Order] = relationship(lazy="raise", back_populates="items")


class OrderHistory(Base):
    """Every status change of an order: from, to, who (a user id, or none for the system), when, why."""

    __tablename__ = "order_history"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, nullable=False
    )
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str] = mapped_column(String(24), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    actor_role: Mapped[str] = mapped_column(String(16), nullable=False)  # customer/merchant/admin/system
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class IdempotencyKey(Base):
    """A claimed Idempotency-Key. The unique (user_id, key) row is the claim: inserting it is taking it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Null while the first request is running; set in the same transaction as the order it answers.
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)


class OrderDayStat(Base):
    """The dashboard's maintained aggregate: orders placed on a Beijing `day` that are now in `status`, and
    their total. Changed only by folding OrderStatDelta rows into it (app.orders.stats.fold)."""

    __tablename__ = "order_day_stats"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(24), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class OrderStatDelta(Base):
    """A change to OrderDayStat, written in the same transaction as the order it counts (placed, moved).
    Appending rows instead of updating one counter row keeps checkouts and status moves from queueing
    on (or deadlocking over) a hot row; the worker folds them in (app.orders.stats)."""

    __tablename__ = "order_stat_deltas"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    orders: Mapped[int] = mapped_column(Integer, nullable=False)
    total_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ExportStatus(enum.StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


class OrderExport(Base):
    """A staff export of orders written by the worker to a file; `rows_done` of `rows_total` is the
    progress. `upto_id` is the newest order when it started: orders placed meanwhile are not half in it."""

    __tablename__ = "order_exports"
    __table_args__ = (Index("ix_order_exports_status", "status"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    date_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    date_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ExportStatus.pending.value)
    rows_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upto_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    file_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
