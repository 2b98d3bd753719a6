from sqlalchemy.ext.asyncio import AsyncSession

from app.payments import service


async def reconcile(session: AsyncSession) -> int:
    return await service.reconcile(session)


async def retry_refunds(session: AsyncSession) -> int:
    return await service.retry_refunds(session)


async def purge_notifications(session: AsyncSession) -> int:
    return await service.purge_notifications(session)


async def close_abandoned(session: AsyncSession) -> int:
    return await service.close_abandoned(session)
