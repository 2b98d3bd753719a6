from sqlalchemy.ext.asyncio import AsyncSession

from app.orders import idempotency, jobs


async def cancel_unpaid(session: AsyncSession) -> int:
    return await jobs.cancel_expired(session)


async def auto_confirm(session: AsyncSession) -> int:
    return await jobs.auto_confirm(session)


async def purge_idempotency_keys(session: AsyncSession) -> int:
    return await idempotency.purge(session)
