"""A generic audit trail: who changed what, when, with the values before and after.

Any domain records a write in the same transaction as the change:

    await audit.record(session, actor=user, action="product.update", entity="product", entity_id=p.id,
                       changes={"price_fen": {"before": 12800, "after": 11800}})

`changes` must be JSON-ready. `diff(before, after)` builds it from two plain dicts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import MYSQL_TABLE_ARGS, Base, BigId, UTCDateTime, utcnow
from app.kit.context import request_id_var


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity", "entity_id"),
        Index("ix_audit_log_created_at", "created_at"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key: the trail outlives the accounts and rows it mentions.
    actor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_role: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(64), nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """{field: {"before": old, "after": new}} for the fields whose value changed (or appeared)."""
    changed: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changed[key] = {"before": old, "after": new}
    return changed


async def record(
    session: AsyncSession,
    actor: Any | None,
    action: str,
    entity: str,
    entity_id: int | str,
    changes: dict[str, Any],
) -> AuditLog:
    """Add an audit entry to the caller's transaction. `actor` is a user (or None for the CLI/system)."""
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        actor_role=str(getattr(actor, "role", "system") or "system"),
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        changes=changes,
        request_id=request_id_var.get(),
    )
    session.add(entry)
    return entry
