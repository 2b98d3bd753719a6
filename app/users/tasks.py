from sqlalchemy.ext.asyncio import AsyncSession

from app.users import service
from app.worker import job


@job("users.purge_expired_tokens", every_seconds=3600)
async def purge_expired_tokens(session: AsyncSession) -> int:
    return await service.purge_expired(session)
