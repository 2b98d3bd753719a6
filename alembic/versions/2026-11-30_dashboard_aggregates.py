"""dashboard_aggregates: orders per Beijing day and status maintained by the writes (issue 18), and staff
order exports run by the worker

`order_day_stats` holds the folded figures, `order_stat_deltas` the changes written in each order's own
transaction and not yet folded (app.orders.stats). Existing orders are counted here once, from scratch.

Revision ID: dashboard_aggregates
Revises: search_index
Create Date: 2026-11-30 01:30:00.000000
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "dashboard_aggregates"
down_revision: str | Sequence[str] | None = "search_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BEIJING = timedelta(hours=8)  # fixed UTC+8 (app.kit.time)


def upgrade() -> None:
    stats = op.create_table(
        "order_day_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "status", name=op.f("pk_order_day_stats")),
        **MYSQL,
    )
    op.create_table(
        "order_stat_deltas",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_stat_deltas")),
        **MYSQL,
    )
    op.create_table(
        "order_exports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("requested_by", BIG_ID, nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("upto_id", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sa.String(length=100), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_order_exports_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_exports")),
        **MYSQL,
    )
    op.create_index("ix_order_exports_status", "order_exports", ["status"], unique=False)

    # The orders there are, counted once (keyset by id, so a large table is read in bounded pieces).
    orders = sa.table(
        "orders", sa.column("id"), sa.column("created_at"), sa.column("status"), sa.column("total_fen")
    )
    bind = op.get_bind()
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    after = 0
    while True:
        rows = bind.execute(
            sa.select(orders.c.id, orders.c.created_at, orders.c.status, orders.c.total_fen)
            .where(orders.c.id > after)
            .order_by(orders.c.id)
            .limit(50_000)
        ).all()
        if not rows:
            break
        for _id, created_at, status, total in rows:
            if isinstance(created_at, str):  # SQLite hands back text
                created_at = datetime.fromisoformat(created_at)
            day = (created_at.replace(tzinfo=None) + BEIJING).date()  # stored as naive UTC
            entry = sums[(day, status)]
            entry[0] += 1
            entry[1] += int(total)
        after = rows[-1][0]
    if sums:
        op.bulk_insert(
            stats,
            [{"day": d, "status": s, "orders": n, "total_fen": t} for (d, s), (n, t) in sorted(sums.items())],
        )


def downgrade() -> None:
    op.drop_index("ix_order_exports_status", table_name="order_exports")
    op.drop_table("order_exports")
    op.drop_table("order_stat_deltas")
    op.drop_table("order_day_stats")
