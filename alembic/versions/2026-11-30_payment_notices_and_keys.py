"""payment_notices_and_keys: the retry key of each notice, money we cannot match (raised to staff), and
fetched platform certificates

Revision ID: payment_notices_and_keys
Revises: payment_notice_limits
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "payment_notices_and_keys"
down_revision: str | Sequence[str] | None = "payment_notice_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice_key", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_payment_notifications_channel_notice_key", ["channel", "notice_key"], unique=False
        )
    op.create_table(
        "unmatched_payments",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("out_trade_no", sa.String(length=64), nullable=False),
        sa.Column("gateway_trade_no", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("notification_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("resolved_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_payments")),
        sa.UniqueConstraint("channel", "out_trade_no", name="uq_unmatched_payments_channel_out_trade_no"),
        **MYSQL,
    )
    op.create_index("ix_unmatched_payments_resolved_at", "unmatched_payments", ["resolved_at"], unique=False)
    op.create_table(
        "payment_platform_certificates",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("not_before", app.db.UTCDateTime(), nullable=False),
        sa.Column("not_after", app.db.UTCDateTime(), nullable=False),
        sa.Column("fetched_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_platform_certificates")),
        sa.UniqueConstraint("channel", "serial", name="uq_payment_platform_certificates_channel_serial"),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("payment_platform_certificates")
    op.drop_index("ix_unmatched_payments_resolved_at", table_name="unmatched_payments")
    op.drop_table("unmatched_payments")
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_notifications_channel_notice_key")
        batch_op.drop_column("notice_key")
