from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, TimestampMixin, UTCDateTime, utcnow

# Search columns compare bytes on MariaDB too (see app.catalog.search): same answers as SQLite.
SearchText = Text().with_variant(mysql.TEXT(collation="utf8mb4_bin"), "mysql", "mariadb")


class ProductStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True
    )
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Product(TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_status_category", "status", "category_id"),
        Index("ix_products_status_created", "status", "created_at"),
        # One per list sort, so page 1 reads 20 index entries instead of sorting every published product.
        Index("ix_products_status_sort_weight", "status", "sort_weight", "id"),
        Index("ix_products_status_sales_count", "status", "sales_count", "id"),
        Index("ix_products_status_min_price_fen", "status", "min_price_fen", "id"),
        Index("ix_products_status_published_at", "status", "published_at", "id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    subtitle: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    origin: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    variety: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    grade: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    harvest_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_advice: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ProductStatus.draft.value)
    sales_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sort_weight: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cover_image: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Cheapest active SKU, kept in step by the catalog service so lists sort and filter without a join.
    min_price_fen: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Normalised text with pinyin and initials, rewritten on every write (app.catalog.search).
    search_name: Mapped[str] = mapped_column(SearchText, nullable=False, default="", server_default="")
    search_subtitle: Mapped[str] = mapped_column(SearchText, nullable=False, default="", server_default="")
    search_body: Mapped[str] = mapped_column(SearchText, nullable=False, default="", server_default="")
    # Visible reviews' ratings, moved atomically in each review's transaction (app.catalog.ratings), so the
    # cached pages show rating_avg without reading the reviews.
    rating_sum: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class ProductImage(Base):
    __tablename__ = "product_images"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True, nullable=False
    )
    url: Mapped[str] = mapped_column(String(255), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    alt: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Sku(TimestampMixin, Base):
    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        Index("ix_skus_is_active_stock", "is_active", "stock", "id"),  # the dashboard's low-stock panel
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)  # the spec, e.g. "5kg 真空包装"
    price_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    original_price_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stock: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    weight_g: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class CatalogVersion(Base):
    """One row (id 1): the catalogue's version. Every write that changes what a customer sees bumps it in its
    own transaction (app.catalog.cache.invalidate); cached pages are keyed by it, so a page cached before the
    write is never served after it commits. It starts at a time in microseconds, so a version is not reused
    after the row is lost."""

    __tablename__ = "catalog_version"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
