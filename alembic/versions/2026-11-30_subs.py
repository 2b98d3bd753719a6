"""subs: subscriptions (周期购, issue 20): one prepaid order for every period, one delivery order per period
placed by the worker (app.subscriptions)

Revision ID: subs
Revises: delivery_orders
Create Date: 2026-11-30 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "subs"
down_revision: str | Sequence[str] | None = "delivery_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("sku_id", BIG_ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=16), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("address_id", BIG_ID, nullable=False),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("anchor_on", sa.Date(), nullable=True),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("next_delivery_on", sa.Date(), nullable=True),
        sa.Column("delivered_periods", sa.Integer(), nullable=False),
        sa.Column("refund_fen", sa.Integer(), nullable=True),
        sa.Column("waiting_since", app.db.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "delivered_periods <= periods", name=op.f("ck_subscriptions_delivered_within_periods")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subscriptions_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("order_id", name=op.f("uq_subscriptions_order_id")),
        **MYSQL,
    )
    op.create_index(
        "ix_subscriptions_status_next_delivery_on", "subscriptions", ["status", "next_delivery_on"]
    )
    op.create_index("ix_subscriptions_user_id_id", "subscriptions", ["user_id", "id"])
    op.create_table(
        "subscription_deliveries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("scheduled_on", sa.Date(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_deliveries_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_deliveries")),
        sa.UniqueConstraint("order_id", name=op.f("uq_subscription_deliveries_order_id")),
        sa.UniqueConstraint(
            "subscription_id", "period", name=op.f("uq_subscription_deliveries_subscription_id_period")
        ),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("subscription_deliveries")
    op.drop_table("subscriptions")
