"""A product's images: staff add, reorder, delete, upload and remove them (audited, evented; the first
image is the cover). Upload checks and storage live in app.catalog.images."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.catalog import images, repository
from app.catalog.errors import ImageNotFound, ImageOrderMismatch
from app.catalog.models import Product, ProductImage
from app.catalog.service import get_product_or_raise, product_changed
from app.kit import storage


async def _refresh_cover(session: AsyncSession, product: Product) -> list[ProductImage]:
    ordered = list(await repository.list_images(session, product.id))
    product.cover_image = ordered[0].url if ordered else None
    return ordered


async def add_image(session: AsyncSession, actor: Any, product_id: int, url: str, alt: str) -> ProductImage:
    product = await get_product_or_raise(session, product_id, for_update=True)
    existing = await repository.list_images(session, product.id)
    image = ProductImage(
        product_id=product.id, url=url, alt=alt, position=(existing[-1].position + 1) if existing else 0
    )
    session.add(image)
    await session.flush()
    before = product.cover_image
    await _refresh_cover(session, product)
    await audit.record(
        session, actor, "image.create", "product", product.id, {"image": {"before": None, "after": url}}
    )
    await product_changed(
        session, product, ["images"] + (["cover_image"] if before != product.cover_image else [])
    )
    return image


async def reorder_images(
    session: AsyncSession, actor: Any, product_id: int, image_ids: list[int]
) -> list[ProductImage]:
    product = await get_product_or_raise(session, product_id, for_update=True)
    by_id = {i.id: i for i in await repository.list_images(session, product.id)}
    if sorted(image_ids) != sorted(by_id) or len(set(image_ids)) != len(image_ids):
        raise ImageOrderMismatch("List every image of this product exactly once.")
    before = [i.id for i in sorted(by_id.values(), key=lambda i: (i.position, i.id))]
    for position, image_id in enumerate(image_ids):
        by_id[image_id].position = position
    await session.flush()
    ordered = await _refresh_cover(session, product)
    if before != image_ids:
        await audit.record(
            session,
            actor,
            "image.reorder",
            "product",
            product.id,
            {"image_order": {"before": before, "after": image_ids}},
        )
        await product_changed(session, product, ["images", "cover_image"])
    return ordered


async def delete_image(session: AsyncSession, actor: Any, product_id: int, image_id: int) -> ProductImage:
    product = await get_product_or_raise(session, product_id, for_update=True)
    image = await repository.get_image(session, product.id, image_id)
    if image is None:
        raise ImageNotFound("No such image on this product.")
    await session.delete(image)
    await session.flush()
    await _refresh_cover(session, product)
    await audit.record(
        session, actor, "image.delete", "product", product.id, {"image": {"before": image.url, "after": None}}
    )
    await product_changed(session, product, ["images", "cover_image"])
    return image


async def upload_image(
    session: AsyncSession, actor: Any, product_id: int, data: bytes, alt: str = ""
) -> ProductImage:
    await get_product_or_raise(session, product_id)
    jpeg = await anyio.to_thread.run_sync(images.process, data)
    url = images.store(product_id, jpeg)
    return await add_image(session, actor, product_id, url, alt)


async def remove_image(session: AsyncSession, actor: Any, product_id: int, image_id: int) -> None:
    image = await delete_image(session, actor, product_id, image_id)
    storage.remove_after_commit(session, images.path_for(image.url))
