"""catalog_version: the version that keys the catalogue's cached pages

Revision ID: catalog_version
Revises: traceability_recall
Create Date: 2026-11-25 16:05:00.000000
"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "catalog_version"
down_revision: str | Sequence[str] | None = "traceability_recall"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_version")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    # Microseconds: a re-created row starts above any version reached by bumping (at most one per commit).
    op.bulk_insert(table, [{"id": 1, "version": int(time.time() * 1_000_000)}])


def downgrade() -> None:
    op.drop_table("catalog_version")
