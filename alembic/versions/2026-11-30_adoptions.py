"""adopt: field adoption (认养一亩田, issue 21): plans of a plot's season in shares, the adoptions that
orders of kind adoption record, and the deliveries drawn on them

Revision ID: adopt
Revises: subs
Create Date: 2026-11-30 04:27:17.550133
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "adopt"
down_revision: str | Sequence[str] | None = "subs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "adoptions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("kg_total", sa.Integer(), nullable=False),
        sa.Column("kg_delivered", sa.Integer(), nullable=False),
        sa.Column("released_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("season_closed_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kg_delivered >= 0 AND kg_delivered <= kg_total",
            name=op.f("ck_adoptions_kg_delivered_within_total"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoptions")),
        sa.UniqueConstraint("order_id", name=op.f("uq_adoptions_order_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("adoptions", schema=None) as batch_op:
        batch_op.create_index("ix_adoptions_plan_id_user_id", ["plan_id", "user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_adoptions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "adoption_deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("adoption_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kg", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("by_season_end", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["adoption_id"],
            ["adoptions.id"],
            name=op.f("fk_adoption_deliveries_adoption_id_adoptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_deliveries")),
        sa.UniqueConstraint("order_id", name=op.f("uq_adoption_deliveries_order_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("adoption_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adoption_deliveries_adoption_id"), ["adoption_id"], unique=False)

    op.create_table(
        "adoption_plans",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("plot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("season", sa.String(length=4), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("shares_left", sa.Integer(), nullable=False),
        sa.Column("share_price_fen", sa.Integer(), nullable=False),
        sa.Column("yield_kg_per_share", sa.Integer(), nullable=False),
        sa.Column("season_ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("shares_left <= shares", name=op.f("ck_adoption_plans_shares_left_within_shares")),
        sa.CheckConstraint("shares_left >= 0", name=op.f("ck_adoption_plans_shares_left_not_negative")),
        sa.ForeignKeyConstraint(
            ["plot_id"], ["plots.id"], name=op.f("fk_adoption_plans_plot_id_plots"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_adoption_plans_sku_id_skus"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adoption_plans")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("adoption_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adoption_plans_plot_id"), ["plot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_adoption_plans_season_ends_at"), ["season_ends_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("adoption_deliveries")
    op.drop_table("adoptions")
    op.drop_table("adoption_plans")
