"""flash_sales: flash sales (秒杀) and who holds what of them (issue 19)

Revision ID: flash_sales
Revises: coupons
Create Date: 2026-11-30 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "flash_sales"
down_revision: str | Sequence[str] | None = "coupons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flash_sales",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sku_id", ID, nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("per_customer_limit", sa.Integer(), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("cancelled_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("closed_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("returned_to_stock", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("price_fen >= 0", name=op.f("ck_flash_sales_price_not_negative")),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_flash_sales_remaining_not_negative")),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_flash_sales_sku_id_skus"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sales")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("flash_sales", schema=None) as batch_op:
        batch_op.create_index("ix_flash_sales_closed_at_ends_at", ["closed_at", "ends_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_flash_sales_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "flash_sale_purchases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sale_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("released_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sale_purchases")),
        sa.UniqueConstraint("order_id", name=op.f("uq_flash_sale_purchases_order_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("flash_sale_purchases", schema=None) as batch_op:
        batch_op.create_index("ix_flash_sale_purchases_sale_id_user_id", ["sale_id", "user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("flash_sale_purchases")
    op.drop_table("flash_sales")
