from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class CouponKind(enum.StrEnum):
    fixed = "fixed"  # amount_fen off (with threshold_fen: 满减)
    percent = "percent"  # percent_off % off, rounded down to the fen, at most max_discount_fen


class ClaimStatus(enum.StrEnum):
    """What is stored. `expired` is never stored: an unused coupon past its expires_at reads as expired."""

    unused = "unused"
    used = "used"


class Coupon(TimestampMixin, Base):
    """A batch of coupons with its terms. `claimed_quantity` only grows, by a conditional UPDATE that never
    passes `total_quantity` (app.coupons.repository.take_one)."""

    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_ends_at", "ends_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    percent_off: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_discount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    threshold_fen: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    total_quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    claimed_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    per_customer_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # No product or category rows: the whole shop. Kept as a column so checkout need not look for rows.
    whole_shop: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_by: Mapped[int | None] = mapped_column(BigId, nullable=True)


class CouponProduct(Base):
    __tablename__ = "coupon_products"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    coupon_id: Mapped[int] = mapped_column(
        ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class CouponCategory(Base):
    """A category in scope covers its products and those of its direct subcategories."""

    __tablename__ = "coupon_categories"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    coupon_id: Mapped[int] = mapped_column(
        ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class CouponClaim(Base):
    """One coupon a customer claimed: its own random code is what checkout takes. Used by an order: status
    `used` and `order_id`, set together by one conditional UPDATE (unused and no order → used by this
    order); given back when that order is cancelled unpaid."""

    __tablename__ = "coupon_claims"
    __table_args__ = (
        Index("ix_coupon_claims_user_id_status", "user_id", "status"),
        Index("ix_coupon_claims_coupon_id_user_id", "coupon_id", "user_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ClaimStatus.unused.value)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), nullable=True, index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
