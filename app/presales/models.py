from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class Presale(TimestampMixin, Base):
    """A pre-sale (预售) of one SKU: `quota` orders' units at `deposit_fen` + `balance_fen` a unit.

    Deposits are taken until `deposit_ends_at`, the balance between `balance_starts_at` and `balance_ends_at`;
    fully paid orders ship from `ships_from`. `remaining` is the quota left (the checkout's conditional
    UPDATE, stopped at zero by the CHECK); the SKU's stock is taken only when an order ships."""

    __tablename__ = "presales"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("deposit_fen >= 0 AND balance_fen >= 0", name="amounts_not_negative"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku_id: Mapped[int] = mapped_column(
        ForeignKey("skus.id", ondelete="RESTRICT"), index=True, nullable=False
    )
    deposit_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    balance_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    quota: Mapped[int] = mapped_column(Integer, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    deposit_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    balance_starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    balance_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ships_from: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    refund_deposit_if_unpaid: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by: Mapped[int | None] = mapped_column(BigId, nullable=True)


class PresaleOrder(Base):
    """One pre-sale order's share: its quantity and the two amounts it pays (the deposit, then the balance
    with the shipping). `notified_at`: the balance-window notice was sent (once); `released_at`: its quota
    went back (once); `stock_taken_at`: its units were taken from the SKU's stock when it shipped."""

    __tablename__ = "presale_orders"
    __table_args__ = (
        Index("ix_presale_orders_presale_id_user_id", "presale_id", "user_id"),
        Index("ix_presale_orders_user_id_id", "user_id", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign keys on purpose (see flash_sale_purchases): the check's shared lock on the hot pre-sale row
    # deadlocks two checkouts that then both want its exclusive lock.
    presale_id: Mapped[int] = mapped_column(BigId, nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, unique=True, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    deposit_fen: Mapped[int] = mapped_column(Integer, nullable=False)  # times quantity
    balance_fen: Mapped[int] = mapped_column(Integer, nullable=False)  # times quantity, shipping apart
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    stock_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
