from sqlalchemy.ext.asyncio import AsyncSession

from app.orders import idempotency, service
from app.worker import job


@job("orders.cancel_unpaid")
async def cancel_unpaid(session: AsyncSession) -> int:
    return await service.cancel_expired(session)


@job("orders.auto_confirm", every_seconds=300)
async def auto_confirm(session: AsyncSession) -> int:
    return await service.auto_confirm(session)


@job("orders.purge_idempotency_keys", every_seconds=3600)
async def purge_idempotency_keys(session: AsyncSession) -> int:
    return await idempotency.purge(session)
