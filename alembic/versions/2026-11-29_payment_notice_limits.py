"""payment_notice_limits: who sent each payment notice (per-address bounds), and the server's time beside
the gateway's for each payment

Revision ID: payment_notice_limits
Revises: user_token_version
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import app.db

revision: str = "payment_notice_limits"
down_revision: str | Sequence[str] | None = "user_token_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        # A 64 KiB notice body is more than a TEXT (65,535 bytes) holds.
        op.alter_column(
            "payment_notifications", "body", existing_type=sa.Text(), type_=mysql.MEDIUMTEXT(), nullable=False
        )
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_ip", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_payment_notifications_client_ip_outcome", ["client_ip", "outcome"], unique=False
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_at", app.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("confirmed_at")
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_notifications_client_ip_outcome")
        batch_op.drop_column("client_ip")
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        op.alter_column(
            "payment_notifications", "body", existing_type=mysql.MEDIUMTEXT(), type_=sa.Text(), nullable=False
        )
