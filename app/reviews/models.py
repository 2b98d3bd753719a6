"""Reviews (晒单评价) of the lines of completed orders, and the photos uploaded for them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow


class ReviewStatus(enum.StrEnum):
    visible = "visible"
    hidden = "hidden"  # by staff, with a reason kept; out of the product's aggregates


class Review(TimestampMixin, Base):
    """One per order line: the unique `order_item_id` is what makes "once" hold under any concurrency (a
    customer's two clicks, the customer and the auto-positive job, two workers)."""

    __tablename__ = "reviews"
    __table_args__ = (
        # The public list: a product's visible reviews newest first, optionally only those with photos.
        Index("ix_reviews_product_status_id", "product_id", "status", "id"),
        Index("ix_reviews_product_status_images_id", "product_id", "status", "has_images", "id"),
        Index("ix_reviews_status_id", "status", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_item_id: Mapped[int] = mapped_column(
        ForeignKey("order_items.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True, nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    product_id: Mapped[int] = mapped_column(BigId, nullable=False)
    sku_id: Mapped[int] = mapped_column(BigId, nullable=False)
    sku_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    images: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    has_images: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The batches the line was shipped from ("WC-2026-…"), as they were when the review was written.
    batch_nos: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    nickname_masked: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    is_automatic: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ReviewStatus.visible.value)
    hidden_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hidden_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    reply: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ReviewImage(Base):
    """A photo uploaded (re-encoded, EXIF gone) by a customer; `review_id` is set once, when a review
    takes it (a conditional UPDATE: one photo, one review)."""

    __tablename__ = "review_images"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    review_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviews.id", ondelete="SET NULL"), index=True, nullable=True
    )
    url: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
