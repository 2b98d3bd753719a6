"""Plain factory functions with keyword overrides (straight to the database, as a shop would look)."""

from __future__ import annotations

import itertools
from typing import Any

from app.catalog import cache, repository, service
from app.catalog.models import Category, Product, ProductStatus, Sku
from app.db import session_scope, utcnow

_seq = itertools.count(1)


async def create_category(
    *, name: str | None = None, parent: Category | None = None, **overrides: Any
) -> Category:
    async with session_scope() as session:
        category = Category(
            name=name or f"分类{next(_seq)}", parent_id=parent.id if parent else None, **overrides
        )
        session.add(category)
        await session.flush()
        cache.invalidate(session)
    return category


async def create_product(
    *,
    name: str = "五常大米 稻花香2号",
    status: str = ProductStatus.published.value,
    category: Category | None = None,
    skus: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Product:
    """A product with SKUs (default one 5 kg SKU at ¥128.00, 100 in stock; `skus=[]` for none), written as a
    staff save would: search text, lowest price and the catalogue's cache version."""
    fields: dict[str, Any] = dict(
        subtitle="当季新米 黑龙江五常原产",
        description="五常市民乐乡稻田种植，米粒饱满，蒸煮后清香软糯。",
        origin="黑龙江五常",
        variety="稻花香2号",
    )
    fields.update(overrides)
    if skus is None:
        skus = [{"name": "5kg 真空包装", "price_fen": 12800, "stock": 100, "weight_g": 5000}]
    async with session_scope() as session:
        product = Product(
            name=name,
            status=status,
            category_id=category.id if category else None,
            published_at=utcnow() if status == ProductStatus.published else None,
            **fields,
        )
        service.reindex(product)
        session.add(product)
        await session.flush()
        for position, sku in enumerate(skus):
            session.add(Sku(product_id=product.id, sort_order=position, **sku))
        await session.flush()
        await repository.refresh_min_price(session, product.id)
        cache.invalidate(session)  # as every staff write does
        await session.refresh(product)
    return product


async def create_sku(product: Product, **overrides: Any) -> Sku:
    """One more SKU of `product` (default 5 kg at ¥59.90, 100 in stock)."""
    fields: dict[str, Any] = dict(name="5kg 真空包装", price_fen=5990, stock=100, weight_g=5000)
    fields.update(overrides)
    async with session_scope() as session:
        sku = Sku(product_id=product.id, **fields)
        session.add(sku)
        await session.flush()
        await repository.refresh_min_price(session, product.id)
        cache.invalidate(session)
        await session.refresh(sku)
    return sku


async def skus_of(product: Product) -> list[Sku]:
    async with session_scope() as session:
        return list(await repository.list_skus(session, product.id, active_only=False))
