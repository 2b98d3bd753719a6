"""The catalogue's products as staff see and change them: reads with every status and SKU, and writes
(audited, evented, invalidating). Beside it: `categories`, `reads` (search and the public pages, cached)
and `gallery` (a product's images).

For other domains:
* `note_stock_change(session, sku_id, product_id, before, after)` emits `stock.low` when stock falls below
  `LOW_STOCK_THRESHOLD` (orders may call it after a checkout's atomic stock update).
* `invalidate(session)` (re-exported from app.catalog.cache) after a change customers should see
  at once in lists (e.g. sales counts; otherwise they refresh within the cache TTL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit, events
from app.catalog import repository, search
from app.catalog.cache import invalidate
from app.catalog.errors import (
    PriceAboveOriginal,
    ProductNotFound,
    ProductNotPublishable,
    SkuNotFound,
    UnknownCategory,
)
from app.catalog.models import Product, ProductStatus, Sku
from app.catalog.reads import detail_dict, list_item, search_products
from app.catalog.schemas import (
    ProductAdminListItem,
    ProductAdminRead,
    ProductCreate,
    ProductUpdate,
    SkuAdminRead,
    SkuCreate,
    SkuUpdate,
)
from app.db import utcnow
from app.kit.pagination import Page, PageParams

# A staff stock change that takes a SKU from at least this many units to fewer emits `stock.low`.
LOW_STOCK_THRESHOLD = 10

__all__ = ["invalidate", "LOW_STOCK_THRESHOLD"]

_PRODUCT_FIELDS = (
    "name",
    "subtitle",
    "description",
    "category_id",
    "origin",
    "variety",
    "grade",
    "harvest_year",
    "shelf_life_days",
    "storage_advice",
    "sort_weight",
    "status",
    "cover_image",
)
_SKU_FIELDS = (
    "name",
    "price_fen",
    "original_price_fen",
    "weight_g",
    "gtin",
    "sort_order",
    "is_active",
    "stock",
)


async def get_product_or_raise(
    session: AsyncSession, product_id: int, *, for_update: bool = False
) -> Product:
    product = await repository.get_product(session, product_id, for_update=for_update)
    if product is None:
        raise ProductNotFound("No such product.")
    return product


async def admin_product(session: AsyncSession, product: Product) -> ProductAdminRead:
    detail = await detail_dict(session, product, stock_markers=False)
    skus = await repository.list_skus(session, product.id, active_only=False)
    detail.update(
        status=product.status,
        sort_weight=product.sort_weight,
        published_at=product.published_at,
        created_at=product.created_at,
        updated_at=product.updated_at,
        skus=[SkuAdminRead.model_validate(s) for s in skus],
    )
    return ProductAdminRead.model_validate(detail)


async def admin_product_list(
    session: AsyncSession,
    page: PageParams,
    *,
    q: str | None,
    status: str | None,
    category_id: int | None,
    sort: str | None,
) -> Page[ProductAdminListItem]:
    rows, total = await search_products(
        session,
        page,
        q=q,
        category_id=category_id,
        sort=sort,
        statuses=[status] if status else None,
    )
    items = [
        ProductAdminListItem.model_validate(
            {**list_item(p), "status": p.status, "category_id": p.category_id, "updated_at": p.updated_at}
        )
        for p in rows
    ]
    return Page(items=items, total=min(total, repository.LIST_COUNT_CAP), page=page.page, size=page.size)


# ---------------------------------------------------------------- staff writes


def _product_snapshot(product: Product) -> dict[str, Any]:
    return {field: getattr(product, field) for field in _PRODUCT_FIELDS}


def _sku_snapshot(sku: Sku) -> dict[str, Any]:
    return {field: getattr(sku, field) for field in _SKU_FIELDS}


def reindex(product: Product) -> None:
    """Rewrite the normalised search columns from the product's text (see app.catalog.search)."""
    product.search_name = search.search_field(product.name)
    product.search_subtitle = search.search_field(
        product.subtitle, product.variety, product.origin, product.grade
    )
    product.search_body = search.search_field(product.description, with_pinyin=False)


async def _check_category(session: AsyncSession, category_id: int | None) -> None:
    if category_id is not None and await repository.get_category(session, category_id) is None:
        raise UnknownCategory(f"There is no category {category_id}.")


async def _active_sku_count(session: AsyncSession, product_id: int) -> int:
    stmt = select(func.count()).where(Sku.product_id == product_id, Sku.is_active.is_(True))
    return int((await session.execute(stmt)).scalar_one())


async def product_changed(session: AsyncSession, product: Product, changed: Iterable[str]) -> None:
    """Everything a customer-visible product change does besides the change itself."""
    fields = sorted(set(changed))
    if not fields:
        return
    product.updated_at = utcnow()
    await session.flush()
    await events.emit(
        session,
        "product.updated",
        {
            "product_id": product.id,
            "status": product.status,
            "changed": fields,
            "updated_at": product.updated_at.isoformat(),
        },
        subject=f"product/{product.id}",
    )
    invalidate(session)


async def _set_status(session: AsyncSession, product: Product, status: str) -> None:
    if status == product.status:
        return
    if status == ProductStatus.published:
        if await _active_sku_count(session, product.id) == 0:
            raise ProductNotPublishable("A product needs at least one active SKU to be published.")
        product.status = status
        product.published_at = utcnow()
        await session.flush()
        await events.emit(
            session,
            "product.published",
            {
                "product_id": product.id,
                "name": product.name,
                "category_id": product.category_id,
                "min_price_fen": product.min_price_fen,
                "published_at": product.published_at.isoformat(),
            },
            subject=f"product/{product.id}",
        )
    else:
        product.status = status


def _new_sku(product_id: int, data: SkuCreate) -> Sku:
    return Sku(product_id=product_id, is_active=True, **data.model_dump())


async def create_product(session: AsyncSession, actor: Any, data: ProductCreate) -> Product:
    await _check_category(session, data.category_id)
    product = Product(
        **data.model_dump(exclude={"skus", "status"}),
        status=ProductStatus.draft.value,
    )
    reindex(product)
    session.add(product)
    await session.flush()
    for sku_data in data.skus:
        session.add(_new_sku(product.id, sku_data))
    await session.flush()
    await repository.refresh_min_price(session, product.id)
    await session.refresh(product)
    await _set_status(session, product, data.status)
    await session.flush()
    await audit.record(
        session,
        actor,
        "product.create",
        "product",
        product.id,
        {
            **audit.diff({}, _product_snapshot(product)),
            "skus": {"before": None, "after": [s.model_dump() for s in data.skus]},
        },
    )
    invalidate(session)
    return product


async def update_product(session: AsyncSession, actor: Any, product_id: int, data: ProductUpdate) -> Product:
    product = await get_product_or_raise(session, product_id, for_update=True)
    before = _product_snapshot(product)
    values = data.model_dump(exclude_unset=True)
    status = values.pop("status", None)
    if "category_id" in values:
        await _check_category(session, values["category_id"])
    for field, value in values.items():
        setattr(product, field, value)
    reindex(product)
    if status is not None:
        await _set_status(session, product, status)
    await session.flush()
    changed = audit.diff(before, _product_snapshot(product))
    if changed:
        await audit.record(session, actor, "product.update", "product", product.id, changed)
        await product_changed(session, product, changed)
    return product


async def set_product_status(session: AsyncSession, actor: Any, product_id: int, status: str) -> Product:
    return await update_product(session, actor, product_id, ProductUpdate(status=status))


async def add_sku(session: AsyncSession, actor: Any, product_id: int, data: SkuCreate) -> Sku:
    product = await get_product_or_raise(session, product_id, for_update=True)
    sku = _new_sku(product.id, data)
    session.add(sku)
    await session.flush()
    await repository.refresh_min_price(session, product.id)
    await session.refresh(product)
    await audit.record(session, actor, "sku.create", "sku", sku.id, audit.diff({}, _sku_snapshot(sku)))
    await product_changed(session, product, ["skus"])
    return sku


async def get_sku_or_raise(session: AsyncSession, sku_id: int) -> Sku:
    sku = await repository.get_sku(session, sku_id)
    if sku is None:
        raise SkuNotFound("No such SKU.")
    return sku


async def update_sku(session: AsyncSession, actor: Any, sku_id: int, data: SkuUpdate) -> Sku:
    sku = await get_sku_or_raise(session, sku_id)
    product = await get_product_or_raise(session, sku.product_id, for_update=True)
    await session.refresh(sku)
    before = _sku_snapshot(sku)
    values = data.model_dump(exclude_unset=True)
    price = values.get("price_fen", sku.price_fen)
    original = values.get("original_price_fen", sku.original_price_fen)
    if original is not None and original < price:
        raise PriceAboveOriginal("original_price_fen must not be below price_fen.")
    for field, value in values.items():
        setattr(sku, field, value)
    await session.flush()
    if product.status == ProductStatus.published and await _active_sku_count(session, product.id) == 0:
        raise ProductNotPublishable(
            "A published product must keep at least one active SKU; archive it instead."
        )
    await repository.refresh_min_price(session, product.id)
    await session.refresh(product)
    changed = audit.diff(before, _sku_snapshot(sku))
    if changed:
        await audit.record(session, actor, "sku.update", "sku", sku.id, changed)
        await product_changed(session, product, ["skus"])
    return sku


async def set_stock(session: AsyncSession, actor: Any, sku_id: int, stock: int) -> Sku:
    result = await repository.set_stock(session, sku_id, stock)
    if result is None:
        raise SkuNotFound("No such SKU.")
    before, after = result
    sku = await get_sku_or_raise(session, sku_id)
    await session.refresh(sku)
    if before != after:
        await audit.record(
            session, actor, "sku.stock", "sku", sku_id, {"stock": {"before": before, "after": after}}
        )
        await note_stock_change(session, sku_id, sku.product_id, before, after)
    # Stock is read live on every product page; no cache to invalidate.
    return sku


async def note_stock_change(
    session: AsyncSession, sku_id: int, product_id: int, before: int, after: int
) -> None:
    """Emit `stock.low` when a change takes a SKU below LOW_STOCK_THRESHOLD (once per crossing)."""
    if before >= LOW_STOCK_THRESHOLD > after:
        await events.emit(
            session,
            "stock.low",
            {"sku_id": sku_id, "product_id": product_id, "stock": after, "threshold": LOW_STOCK_THRESHOLD},
            subject=f"sku/{sku_id}",
        )
