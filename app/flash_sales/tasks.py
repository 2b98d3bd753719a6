from sqlalchemy.ext.asyncio import AsyncSession

from app.flash_sales import service


async def close_ended(session: AsyncSession) -> int:
    return await service.close_ended(session)


async def reconcile_gates(session: AsyncSession) -> int:
    return await service.reconcile_gates(session)
