"""delivery_orders: the source of each prepaid delivery order (a subscription's period, an adoption's
delivery), unique so that two workers can never place the same delivery twice (app.checkout.delivery)

Revision ID: delivery_orders
Revises: dashboard_aggregates
Create Date: 2026-11-30 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "delivery_orders"
down_revision: str | Sequence[str] | None = "dashboard_aggregates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_orders",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_delivery_orders_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_delivery_orders_order_id")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_delivery_orders_source_ref")),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("delivery_orders")
