"""presale: new-harvest pre-sales (预售) and each pre-sale order's share of it (issue 20)

Revision ID: presale
Revises: gift
Create Date: 2026-11-30 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "presale"
down_revision: str | Sequence[str] | None = "gift"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "presales",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sku_id", ID, nullable=False),
        sa.Column("deposit_fen", sa.Integer(), nullable=False),
        sa.Column("balance_fen", sa.Integer(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("deposit_ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("balance_starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("balance_ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("ships_from", app.db.UTCDateTime(), nullable=False),
        sa.Column("refund_deposit_if_unpaid", sa.Boolean(), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "deposit_fen >= 0 AND balance_fen >= 0", name=op.f("ck_presales_amounts_not_negative")
        ),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_presales_remaining_not_negative")),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_presales_sku_id_skus"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presales")),
        **MYSQL,
    )
    with op.batch_alter_table("presales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presales_sku_id"), ["sku_id"], unique=False)

    op.create_table(
        "presale_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("presale_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("deposit_fen", sa.Integer(), nullable=False),
        sa.Column("balance_fen", sa.Integer(), nullable=False),
        sa.Column("notified_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("released_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("stock_taken_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presale_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_presale_orders_order_id")),
        **MYSQL,
    )
    with op.batch_alter_table("presale_orders", schema=None) as batch_op:
        batch_op.create_index("ix_presale_orders_presale_id_user_id", ["presale_id", "user_id"], unique=False)
        batch_op.create_index("ix_presale_orders_user_id_id", ["user_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("presale_orders")
    op.drop_table("presales")
