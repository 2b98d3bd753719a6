"""coupons: coupon batches (优惠券, 满减) with their product and category scope, and claimed coupons

Revision ID: coupons
Revises: trace_flushed_scans
Create Date: 2026-11-30 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "coupons"
down_revision: str | Sequence[str] | None = "trace_flushed_scans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("percent_off", sa.Integer(), nullable=True),
        sa.Column("max_discount_fen", sa.Integer(), nullable=True),
        sa.Column("threshold_fen", sa.Integer(), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("total_quantity", sa.Integer(), nullable=False),
        sa.Column("claimed_quantity", sa.Integer(), nullable=False),
        sa.Column("per_customer_limit", sa.Integer(), nullable=False),
        sa.Column("whole_shop", sa.Boolean(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("created_by", BIG_ID, nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
        **MYSQL,
    )
    op.create_index("ix_coupons_ends_at", "coupons", ["ends_at"], unique=False)
    op.create_table(
        "coupon_products",
        sa.Column("coupon_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("product_id", BIG_ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["coupons.id"],
            name=op.f("fk_coupon_products_coupon_id_coupons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_coupon_products_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("coupon_id", "product_id", name=op.f("pk_coupon_products")),
        **MYSQL,
    )
    op.create_table(
        "coupon_categories",
        sa.Column("coupon_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("category_id", BIG_ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["coupons.id"],
            name=op.f("fk_coupon_categories_coupon_id_coupons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_coupon_categories_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("coupon_id", "category_id", name=op.f("pk_coupon_categories")),
        **MYSQL,
    )
    op.create_table(
        "coupon_claims",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("coupon_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.Column("expires_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_claims_coupon_id_coupons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_coupon_claims_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupon_claims_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_claims")),
        sa.UniqueConstraint("code", name=op.f("uq_coupon_claims_code")),
        **MYSQL,
    )
    op.create_index("ix_coupon_claims_user_id_status", "coupon_claims", ["user_id", "status"], unique=False)
    op.create_index(
        "ix_coupon_claims_coupon_id_user_id", "coupon_claims", ["coupon_id", "user_id"], unique=False
    )
    op.create_index("ix_coupon_claims_order_id", "coupon_claims", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_table("coupon_claims")
    op.drop_table("coupon_categories")
    op.drop_table("coupon_products")
    op.drop_index("ix_coupons_ends_at", table_name="coupons")
    op.drop_table("coupons")
