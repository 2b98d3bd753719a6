from sqlalchemy.ext.asyncio import AsyncSession

from app.payments import service
from app.worker import job


@job("payments.reconcile", every_seconds=60)
async def reconcile(session: AsyncSession) -> int:
    return await service.reconcile(session)


@job("payments.retry_refunds", every_seconds=60)
async def retry_refunds(session: AsyncSession) -> int:
    return await service.retry_refunds(session)


@job("payments.purge_notifications", every_seconds=3600)
async def purge_notifications(session: AsyncSession) -> int:
    return await service.purge_notifications(session)


@job("payments.close_abandoned", every_seconds=60)
async def close_abandoned(session: AsyncSession) -> int:
    return await service.close_abandoned(session)
