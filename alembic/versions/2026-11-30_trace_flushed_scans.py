"""trace_flushed_scans: how many of a code's scans the worker brought from Redis

`trace_codes.flushed_scan_count` lets a scan's live count stay exact across a Redis outage (see
app.traceability.scans): `scan_count - flushed_scan_count` are the scans the database counted by itself (its
fallback, and every scan before Redis counted any), and Redis keeps the cumulative number of scans it logged.
Their sum is the live count whichever store answered, and no flush changes it. Existing rows start at 0: every
scan they counted so far is the database's own.

Revision ID: trace_flushed_scans
Revises: order_kinds
Create Date: 2026-11-30 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "trace_flushed_scans"
down_revision: str | Sequence[str] | None = "order_kinds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trace_codes") as batch:
        batch.add_column(sa.Column("flushed_scan_count", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("trace_codes") as batch:
        batch.drop_column("flushed_scan_count")
