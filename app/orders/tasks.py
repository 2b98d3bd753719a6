import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from app.orders import export_jobs, idempotency, jobs, stats


async def cancel_unpaid(session: AsyncSession) -> int:
    return await jobs.cancel_expired(session)


async def auto_confirm(session: AsyncSession) -> int:
    return await jobs.auto_confirm(session)


async def purge_idempotency_keys(session: AsyncSession) -> int:
    return await idempotency.purge(session)


async def fold_stats(session: AsyncSession) -> int:
    return await stats.fold(session)


async def run_exports_continuously(stop: asyncio.Event) -> None:
    await export_jobs.run_continuously(stop)


async def run_exports(session: AsyncSession) -> int:
    """`daoxiang worker --once`: write every pending export (each chunk its own transaction; the job's own
    session stays unused)."""
    written = 0
    while await export_jobs.run_one():
        written += 1
    return written
