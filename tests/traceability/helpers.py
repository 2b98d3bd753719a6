from __future__ import annotations

from sqlalchemy import func, select

from app.db import session_scope
from app.events import OutboxEvent


async def events_of(event_type: str) -> list[dict]:
    async with session_scope() as session:
        rows = await session.execute(
            select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
        )
        return [e.data for e in rows.scalars()]


async def count_rows(model) -> int:
    async with session_scope() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def flush_scans() -> int:
    """What the worker does every tick: scans counted in Redis reach the database (no-op without Redis)."""
    from app.worker import run_job

    return await run_job("traceability.flush_scans")
