from sqlalchemy.ext.asyncio import AsyncSession

from app.orders import idempotency, service, stats


async def cancel_unpaid(session: AsyncSession) -> int:
    return await service.cancel_expired(session)


async def auto_confirm(session: AsyncSession) -> int:
    return await service.auto_confirm(session)


async def purge_idempotency_keys(session: AsyncSession) -> int:
    return await idempotency.purge(session)


async def fold_stats(session: AsyncSession) -> int:
    return await stats.fold(session)
