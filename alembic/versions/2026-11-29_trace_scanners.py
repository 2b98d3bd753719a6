"""trace_scanners: the verdict counts distinct scanners, not requests; old flags are judged again

* trace_codes.scanner_count, trace_scans.scanner, trace_code_scanners (code, scanner) and trace_scan_flushes
  (batches of scans moved from Redis, so a retried batch is never counted twice).
* The scanners of past scans are rebuilt from what each scan kept: its client network and User-Agent (the
  API's definition of a scanner; the page's device cookie did not exist yet).
* Codes flagged by the old rule (more than 20 requests) are judged again: a flag stays only where a reason
  of the new rule holds (revoked, past best-before, more than TRACE_SUSPICIOUS_SCANNERS scanners); the
  others lose their flag and answer genuine again.

The scanner hash is the one app.traceability.scans computes (copied here, so that this migration keeps
meaning what it meant when it ran).

Revision ID: trace_scanners
Revises: trace_private_files
Create Date: 2026-11-29 11:00:00.000000
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "trace_scanners"
down_revision: str | Sequence[str] | None = "trace_private_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CHINA_TZ = timezone(timedelta(hours=8))
CHUNK = 1000


def network_scanner(network: str, user_agent: str) -> str:
    return hashlib.sha256(f"net\n{network}\n{user_agent}".encode()).hexdigest()[:16]


def _threshold() -> int:
    from app.config import get_settings

    return get_settings().trace_suspicious_scanners


def upgrade() -> None:
    with op.batch_alter_table("trace_codes") as batch:
        batch.add_column(sa.Column("scanner_count", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("trace_scans") as batch:
        batch.add_column(sa.Column("scanner", sa.String(length=16), nullable=False, server_default=""))
    op.create_table(
        "trace_code_scanners",
        sa.Column("code_id", BigId, autoincrement=False, nullable=False),
        sa.Column("scanner", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["trace_codes.id"],
            name=op.f("fk_trace_code_scanners_code_id_trace_codes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_id", "scanner", name=op.f("pk_trace_code_scanners")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "trace_scan_flushes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("flushed_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_scan_flushes")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_trace_scan_flushes_flushed_at", "trace_scan_flushes", ["flushed_at"], unique=False)
    rebuild_scanners(op.get_bind())
    rejudge_flags(op.get_bind(), _threshold())


def rebuild_scanners(connection: sa.Connection) -> None:
    groups = connection.execute(
        sa.text(
            "SELECT code_id, client_network, user_agent, MIN(scanned_at) FROM trace_scans "
            "GROUP BY code_id, client_network, user_agent"
        )
    ).all()
    rows = []
    for code_id, network, user_agent, first in groups:
        scanner = network_scanner(network, user_agent)
        rows.append({"code_id": code_id, "scanner": scanner, "first": first, "n": network, "u": user_agent})
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        connection.execute(
            sa.text(
                "INSERT INTO trace_code_scanners (code_id, scanner, first_seen_at) VALUES (:code_id, :scanner, :first)"
            ),
            chunk,
        )
        connection.execute(
            sa.text(
                "UPDATE trace_scans SET scanner = :scanner "
                "WHERE code_id = :code_id AND client_network = :n AND user_agent = :u"
            ),
            chunk,
        )
    connection.execute(
        sa.text(
            "UPDATE trace_codes SET scanner_count = (SELECT COUNT(*) FROM trace_code_scanners s "
            "WHERE s.code_id = trace_codes.id) WHERE scan_count > 0"
        )
    )


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value  # type: ignore[return-value]
    return date.fromisoformat(str(value)[:10])


def rejudge_flags(connection: sa.Connection, threshold: int) -> int:
    """Clear the flags no reason of the new rule supports; returns how many were cleared."""
    today = datetime.now(UTC).astimezone(CHINA_TZ).date()
    flagged = connection.execute(
        sa.text(
            "SELECT c.id, c.revoked_at, c.scanner_count, b.best_before_on FROM trace_codes c "
            "JOIN batches b ON b.id = c.batch_id WHERE c.flagged_at IS NOT NULL"
        )
    ).all()
    cleared = [
        {"id": code_id}
        for code_id, revoked_at, scanners, best_before in flagged
        if revoked_at is None
        and scanners <= threshold
        and not (_as_date(best_before) is not None and today > _as_date(best_before))
    ]
    for start in range(0, len(cleared), CHUNK):
        connection.execute(
            sa.text("UPDATE trace_codes SET flagged_at = NULL WHERE id = :id"), cleared[start : start + CHUNK]
        )
    return len(cleared)


def downgrade() -> None:
    op.drop_index("ix_trace_scan_flushes_flushed_at", table_name="trace_scan_flushes")
    op.drop_table("trace_scan_flushes")
    op.drop_table("trace_code_scanners")
    with op.batch_alter_table("trace_scans") as batch:
        batch.drop_column("scanner")
    with op.batch_alter_table("trace_codes") as batch:
        batch.drop_column("scanner_count")
