"""reviews: reviews with photos (晒单评价) of completed order lines, their uploaded photos, and each
product's rating aggregates (issue 22)

Revision ID: reviews
Revises: webhooks
Create Date: 2026-11-30 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "reviews"
down_revision: str | Sequence[str] | None = "webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("rating_sum", sa.BigInteger(), server_default="0", nullable=False))
        batch.add_column(sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "reviews",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("order_item_id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("product_id", BIG_ID, nullable=False),
        sa.Column("sku_id", BIG_ID, nullable=False),
        sa.Column("sku_name", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("has_images", sa.Boolean(), nullable=False),
        sa.Column("batch_nos", sa.String(length=200), nullable=False),
        sa.Column("nickname_masked", sa.String(length=40), nullable=False),
        sa.Column("is_automatic", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("hidden_reason", sa.String(length=200), nullable=True),
        sa.Column("hidden_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("hidden_by", BIG_ID, nullable=True),
        sa.Column("reply", sa.String(length=2000), nullable=True),
        sa.Column("replied_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("edited_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_reviews_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name=op.f("fk_reviews_order_item_id_order_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reviews_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("order_item_id", name=op.f("uq_reviews_order_item_id")),
        **MYSQL,
    )
    op.create_index("ix_orders_status_completed_at", "orders", ["status", "completed_at"])
    op.create_index(op.f("ix_reviews_order_id"), "reviews", ["order_id"])
    op.create_index(op.f("ix_reviews_user_id"), "reviews", ["user_id"])
    op.create_index("ix_reviews_product_status_id", "reviews", ["product_id", "status", "id"])
    op.create_index(
        "ix_reviews_product_status_images_id", "reviews", ["product_id", "status", "has_images", "id"]
    )
    op.create_index("ix_reviews_status_id", "reviews", ["status", "id"])
    op.create_table(
        "review_images",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("review_id", BIG_ID, nullable=True),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_images_review_id_reviews"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_review_images_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_images")),
        **MYSQL,
    )
    op.create_index(op.f("ix_review_images_review_id"), "review_images", ["review_id"])
    op.create_index(op.f("ix_review_images_user_id"), "review_images", ["user_id"])


def downgrade() -> None:
    op.drop_table("review_images")
    op.drop_table("reviews")
    op.drop_index("ix_orders_status_completed_at", table_name="orders")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("rating_count")
        batch.drop_column("rating_sum")
