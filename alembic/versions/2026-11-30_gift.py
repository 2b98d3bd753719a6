"""gift: corporate gift boxes (企业定制礼盒, issue 21): custom requests and their recipients (one parcel each)

Revision ID: gift
Revises: adopt
Create Date: 2026-11-30 04:27:54.207669
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "gift"
down_revision: str | Sequence[str] | None = "adopt"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_requests",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company", sa.String(length=100), nullable=False),
        sa.Column("contact_name", sa.String(length=32), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("packaging_text", sa.String(length=500), nullable=False),
        sa.Column("deliver_by", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("recipients_count", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=True),
        sa.Column("setup_fee_fen", sa.Integer(), nullable=True),
        sa.Column("valid_until", app.db.UTCDateTime(), nullable=True),
        sa.Column("quoted_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("quoted_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("proof_path", sa.String(length=200), nullable=True),
        sa.Column("proof_content_type", sa.String(length=40), nullable=True),
        sa.Column("proof_uploaded_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("proof_approved_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("accepted_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("accept_no", sa.Integer(), nullable=False),
        sa.Column("parcels_shipped", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_custom_requests_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_custom_requests_sku_id_skus"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_custom_requests_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_requests")),
        sa.UniqueConstraint("order_id", name=op.f("uq_custom_requests_order_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("custom_requests", schema=None) as batch_op:
        batch_op.create_index("ix_custom_requests_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_custom_requests_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "custom_recipients",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("province", sa.String(length=64), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=True),
        sa.Column("tracking_no", sa.String(length=64), nullable=True),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("shipped_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("shipped_at", app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["custom_requests.id"],
            name=op.f("fk_custom_recipients_request_id_custom_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_recipients")),
        sa.UniqueConstraint("request_id", "idx", name=op.f("uq_custom_recipients_request_id_idx")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    # Dropping the tables drops their indexes (MariaDB refuses to drop an index a foreign key still needs).
    op.drop_table("custom_recipients")
    op.drop_table("custom_requests")
