from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class FlashSale(TimestampMixin, Base):
    """A flash sale (秒杀): `quantity` units of one SKU at `price_fen` between `starts_at` and `ends_at`.

    The units were taken from the SKU's stock when the sale was created; `remaining` is what is left to sell
    (the record: the Redis gate in front of it only filters). When the sale closes (it ended, or staff
    cancelled it) `closed_at` is set once and what remained goes back to the SKU's stock
    (`returned_to_stock`)."""

    __tablename__ = "flash_sales"
    __table_args__ = (
        # Checkout takes units with an UPDATE that this constraint stops at zero (app.checkout.stores).
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        Index("ix_flash_sales_closed_at_ends_at", "closed_at", "ends_at"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku_id: Mapped[int] = mapped_column(
        ForeignKey("skus.id", ondelete="RESTRICT"), index=True, nullable=False
    )
    price_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    per_customer_limit: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    returned_to_stock: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class FlashSalePurchase(Base):
    """One flash order's units: what the customer holds of the sale (their per-customer limit counts the
    purchases not released) and what its cancellation gives back. `released_at` is set once, when the
    order's units go back (to the sale while it runs, to stock after)."""

    __tablename__ = "flash_sale_purchases"
    __table_args__ = (
        Index("ix_flash_sale_purchases_sale_id_user_id", "sale_id", "user_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign keys on purpose: on InnoDB the check takes a shared lock on the sale's row, and two checkouts
    # holding it and then both wanting the exclusive one (to take units) deadlock (see order_items.sku_id).
    sale_id: Mapped[int] = mapped_column(BigId, nullable=False)
    user_id: Mapped[int] = mapped_column(BigId, nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, unique=True, nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
