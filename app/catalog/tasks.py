import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import cache, images, search_index
from app.catalog.models import ProductImage
from app.config import get_settings
from app.kit import storage


async def sweep_media(session: AsyncSession) -> int:
    """Delete product image files no row points to (a failed upload's, a deleted image's) and interrupted
    writes, once past app.kit.storage's grace period."""
    urls = (await session.execute(select(ProductImage.url))).scalars().all()
    referenced = [path for path in map(images.path_for, urls) if path is not None]
    return await anyio.to_thread.run_sync(
        lambda: storage.sweep(get_settings().media_dir / "products", referenced)
    )


async def sync_search_index(session: AsyncSession) -> int:
    """Rebuild the full-text rows out of step with their products (sales counted by orders, a failed
    after-commit rebuild; see app.catalog.search_index); drops cached pages when it changed any."""
    fixed = await search_index.sync(session)
    if fixed:
        cache.invalidate(session)
    return fixed
