from sqlalchemy.ext.asyncio import AsyncSession

from app.payments import notices, reconciliation, refunds


async def reconcile(session: AsyncSession) -> int:
    return await reconciliation.reconcile(session)


async def retry_refunds(session: AsyncSession) -> int:
    return await refunds.retry_refunds(session)


async def purge_notifications(session: AsyncSession) -> int:
    return await notices.purge_notifications(session)


async def close_abandoned(session: AsyncSession) -> int:
    return await reconciliation.close_abandoned(session)
