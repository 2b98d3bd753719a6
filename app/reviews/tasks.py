from sqlalchemy.ext.asyncio import AsyncSession

from app.reviews import service


async def auto_positive(session: AsyncSession) -> int:
    return await service.auto_positive(session)
