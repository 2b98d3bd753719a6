from sqlalchemy.ext.asyncio import AsyncSession

from app.users import service


async def purge_expired_tokens(session: AsyncSession) -> int:
    return await service.purge_expired(session)
