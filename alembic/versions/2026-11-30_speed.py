"""speed: checkout's orders stand for their own "placed" figure until the dashboard's fold counts them

`orders.stats_counted` (false: placed by checkout, not yet counted in order_day_stats) replaces the delta
row checkout appended to `order_stat_deltas` for every order (app.orders.stats). The orders there are
counted already (1); the fold reads the uncounted ones by `ix_orders_stats_counted`.

Revision ID: speed
Revises: reviews
Create Date: 2026-11-30 05:00:00.000000
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "speed"
down_revision: str | Sequence[str] | None = "reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEIJING = timedelta(hours=8)  # fixed UTC+8 (app.kit.time)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stats_counted", sa.Boolean(), server_default="1", nullable=False))
        batch_op.create_index("ix_orders_stats_counted", ["stats_counted"], unique=False)


def downgrade() -> None:
    # The orders not counted yet go back to being delta rows, as checkout wrote them before.
    bind = op.get_bind()
    orders = sa.table(
        "orders", sa.column("created_at"), sa.column("total_fen"), sa.column("stats_counted", sa.Boolean())
    )
    sums: dict = defaultdict(lambda: [0, 0])
    for created_at, total_fen in bind.execute(
        sa.select(orders.c.created_at, orders.c.total_fen).where(orders.c.stats_counted == sa.false())
    ):
        if isinstance(created_at, str):  # SQLite hands back text
            created_at = datetime.fromisoformat(created_at)
        entry = sums[(created_at.replace(tzinfo=None) + BEIJING).date()]  # stored as naive UTC
        entry[0] += 1
        entry[1] += int(total_fen)
    if sums:
        deltas = sa.table(
            "order_stat_deltas",
            sa.column("day"),
            sa.column("status"),
            sa.column("orders"),
            sa.column("total_fen"),
        )
        op.bulk_insert(
            deltas,
            [
                {"day": day, "status": "pending_payment", "orders": n, "total_fen": t}
                for day, (n, t) in sorted(sums.items())
            ],
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_stats_counted")
        batch_op.drop_column("stats_counted")
