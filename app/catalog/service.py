"""The catalogue: public reads (cached, stock always live) and staff writes (audited, evented, invalidating).

Extension point for traceability: when `app.traceability.service.product_story(session, product_id)` exists,
the product detail calls it and shows its `{"certificates": [...], "batches": [...]}` (JSON-ready dicts).
Writes there that change a product page must call `app.catalog.cache.invalidate(session)`.

For other domains:
* `note_stock_change(session, sku_id, product_id, before, after)` emits `stock.low` when stock falls below
  `LOW_STOCK_THRESHOLD` (orders may call it after a checkout's atomic stock update).
* `invalidate(session)` (re-exported from app.catalog.cache) after a change customers should see
  at once in lists (e.g. sales counts; otherwise they refresh within the cache TTL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit, events
from app.catalog import cache, live, repository, search
from app.catalog.cache import invalidate
from app.catalog.errors import (
    CategoryCycle,
    CategoryInUse,
    CategoryNotFound,
    ImageNotFound,
    ImageOrderMismatch,
    PriceAboveOriginal,
    ProductNotFound,
    ProductNotPublishable,
    SkuNotFound,
    UnknownCategory,
)
from app.catalog.models import Category, Product, ProductImage, ProductStatus, Sku
from app.catalog.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ImageRead,
    ProductAdminListItem,
    ProductAdminRead,
    ProductCreate,
    ProductListQuery,
    ProductUpdate,
    SkuAdminRead,
    SkuCreate,
    SkuUpdate,
)
from app.db import session_scope, utcnow
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


# ---------------------------------------------------------------- categories


def descendants(categories: Iterable[Category], root_id: int) -> list[int]:
    """root_id and every category below it."""
    children: dict[int | None, list[int]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category.id)
    found, stack = [], [root_id]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.append(current)
        stack.extend(children.get(current, []))
    return found


async def categories_json() -> bytes:
    async def build() -> bytes:
        async with session_scope() as session:
            rows = await repository.list_categories(session)
            return orjson.dumps([{"id": c.id, "name": c.name, "parent_id": c.parent_id} for c in rows])

    return await cache.cached(await live.version(), "categories", build)


async def list_categories(session: AsyncSession) -> Sequence[Category]:
    return await repository.list_categories(session)


async def get_category_or_raise(session: AsyncSession, category_id: int) -> Category:
    category = await repository.get_category(session, category_id)
    if category is None:
        raise CategoryNotFound("No such category.")
    return category


async def _check_parent(session: AsyncSession, category_id: int | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    if await repository.get_category(session, parent_id) is None:
        raise UnknownCategory(f"There is no category {parent_id}.")
    if category_id is not None and parent_id in descendants(
        await repository.list_categories(session), category_id
    ):
        raise CategoryCycle("A category cannot be moved below itself.")


def _category_snapshot(category: Category) -> dict[str, Any]:
    return {"name": category.name, "parent_id": category.parent_id, "sort_order": category.sort_order}


async def create_category(session: AsyncSession, actor: Any, data: CategoryCreate) -> Category:
    await _check_parent(session, None, data.parent_id)
    category = Category(name=data.name, parent_id=data.parent_id, sort_order=data.sort_order)
    session.add(category)
    await session.flush()
    await audit.record(
        session,
        actor,
        "category.create",
        "category",
        category.id,
        audit.diff({}, _category_snapshot(category)),
    )
    invalidate(session)
    return category


async def update_category(
    session: AsyncSession, actor: Any, category_id: int, data: CategoryUpdate
) -> Category:
    category = await get_category_or_raise(session, category_id)
    before = _category_snapshot(category)
    changes = data.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        await _check_parent(session, category.id, changes["parent_id"])
    for field, value in changes.items():
        setattr(category, field, value)
    await session.flush()
    changed = audit.diff(before, _category_snapshot(category))
    if changed:
        await audit.record(session, actor, "category.update", "category", category.id, changed)
        invalidate(session)
    return category


async def delete_category(session: AsyncSession, actor: Any, category_id: int) -> None:
    category = await get_category_or_raise(session, category_id)
    if await repository.category_has_children(session, category_id):
        raise CategoryInUse("Move or delete its subcategories first.")
    if await repository.category_has_products(session, category_id):
        raise CategoryInUse("Products still belong to this category.")
    before = _category_snapshot(category)
    await session.delete(category)
    await session.flush()
    await audit.record(session, actor, "category.delete", "category", category_id, audit.diff(before, {}))
    invalidate(session)


# ---------------------------------------------------------------- public reads


def _list_item(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "subtitle": product.subtitle,
        "cover_image": product.cover_image,
        "min_price_fen": product.min_price_fen,
        "origin": product.origin,
        "variety": product.variety,
        "sales": product.sales_count,
    }


async def _category_filter(session: AsyncSession, category_id: int | None) -> list[int] | None:
    if category_id is None:
        return None
    return descendants(await repository.list_categories(session), category_id)


async def search_products(
    session: AsyncSession,
    page: PageParams,
    *,
    q: str | None = None,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    origin: str | None = None,
    sort: str | None = None,
    statuses: Sequence[str] | None = repository.PUBLISHED,
    narrow: bool = False,
) -> tuple[list[Product], int]:
    stmt, count = repository.product_query(
        statuses=statuses,
        terms=search.query_terms(q),
        category_ids=await _category_filter(session, category_id),
        min_price_fen=min_price_fen,
        max_price_fen=max_price_fen,
        origin=origin.strip()[:64] if origin else None,
        sort=sort,
        narrow=narrow,
    )
    total = (await session.execute(count)).scalar_one()
    rows = (await session.execute(stmt.offset(page.offset).limit(page.size))).scalars().all()
    return list(rows), int(total)


async def product_list_json(
    page: PageParams,
    *,
    q: str | None = None,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    origin: str | None = None,
    sort: str | None = None,
) -> bytes:
    """The public list page as JSON bytes (cached)."""
    terms = search.query_terms(q)
    origin = origin.strip()[:64] if origin else None
    params = orjson.dumps(
        [terms, category_id, min_price_fen, max_price_fen, origin, sort, page.page, page.size]
    )
    key = "list:" + hashlib.blake2b(params, digest_size=16).hexdigest()

    async def build() -> bytes:
        async with session_scope() as session:
            rows, total = await search_products(
                session,
                page,
                q=" ".join(terms),
                category_id=category_id,
                min_price_fen=min_price_fen,
                max_price_fen=max_price_fen,
                origin=origin,
                sort=sort,
                narrow=True,
            )
            return orjson.dumps(
                {
                    "items": [_list_item(p) for p in rows],
                    "total": min(total, repository.LIST_COUNT_CAP),
                    "page": page.page,
                    "size": page.size,
                    "total_exact": total <= repository.LIST_COUNT_CAP,
                }
            )

    return await cache.cached(await live.version(), key, build)


async def public_product_list_json(query: ProductListQuery) -> bytes:
    """The public list page for validated query parameters (the route and app.catalog.fast_reads)."""
    return await product_list_json(
        PageParams(page=query.page, size=query.size),
        q=query.q,
        category_id=query.category_id,
        min_price_fen=query.min_price_fen,
        max_price_fen=query.max_price_fen,
        origin=query.origin,
        sort=query.sort,
    )


# A product's story (its batches and certificates) is told by traceability, a layer above catalog, which
# catalog cannot import. app.flows.product_story plugs the teller in at start-up (app.main.create_app);
# until then a product has no story.
StoryTeller = Callable[[AsyncSession, int], Awaitable[dict[str, list[Any]]]]
_story_teller: StoryTeller | None = None


def tell_stories_with(teller: StoryTeller | None) -> None:
    global _story_teller
    _story_teller = teller


async def _traceability_story(session: AsyncSession, product_id: int) -> dict[str, list[Any]]:
    if _story_teller is None:
        return {"certificates": [], "batches": []}
    return await _story_teller(session, product_id)


def _stock_marker(sku_id: int) -> str:
    return f"@@stock:{sku_id}@@"


async def _detail_dict(session: AsyncSession, product: Product, *, stock_markers: bool) -> dict[str, Any]:
    skus = await repository.list_skus(session, product.id, active_only=True)
    images = await repository.list_images(session, product.id)
    story = await _traceability_story(session, product.id)
    return {
        "id": product.id,
        "name": product.name,
        "subtitle": product.subtitle,
        "description": product.description,
        "category_id": product.category_id,
        "origin": product.origin,
        "variety": product.variety,
        "grade": product.grade,
        "harvest_year": product.harvest_year,
        "shelf_life_days": product.shelf_life_days,
        "storage_advice": product.storage_advice,
        "cover_image": product.cover_image,
        "min_price_fen": product.min_price_fen,
        "sales": product.sales_count,
        "images": [ImageRead.model_validate(i).model_dump() for i in images],
        "skus": [
            {
                "id": s.id,
                "name": s.name,
                "price_fen": s.price_fen,
                "original_price_fen": s.original_price_fen,
                "stock": _stock_marker(s.id) if stock_markers else s.stock,
                "weight_g": s.weight_g,
            }
            for s in skus
        ],
        "certificates": story["certificates"],
        "batches": story["batches"],
    }


_NOT_FOUND = b"-"


async def _detail_template(product_id: int) -> bytes:
    async with session_scope() as session:
        product = await repository.get_product(session, product_id)
        if product is None or product.status != ProductStatus.published:
            return _NOT_FOUND
        return orjson.dumps(await _detail_dict(session, product, stock_markers=True))


async def product_detail_json(product_id: int) -> bytes:
    """The public product detail as JSON bytes: cached, with each SKU's live stock filled in."""
    # One query gives the version (which cached page is current) and the live stock.
    version, stock = await live.version_and_stock(product_id)
    template = await cache.cached(version, f"detail:{product_id}", lambda: _detail_template(product_id))
    if template == _NOT_FOUND:
        raise ProductNotFound("No such product.")
    body = template
    for sku_id, units in stock.items():
        body = body.replace(f'"{_stock_marker(sku_id)}"'.encode(), str(units).encode())
    if b'"@@stock:' in body:  # a SKU vanished since the page was cached: build it afresh
        async with session_scope() as session:
            product = await repository.get_product(session, product_id)
            if product is None or product.status != ProductStatus.published:
                raise ProductNotFound("No such product.")
            return orjson.dumps(await _detail_dict(session, product, stock_markers=False))
    return body


async def product_detail(product_id: int) -> dict[str, Any]:
    """The public product detail as a dict (for the storefront pages)."""
    return orjson.loads(await product_detail_json(product_id))


# ---------------------------------------------------------------- staff reads


async def get_product_or_raise(
    session: AsyncSession, product_id: int, *, for_update: bool = False
) -> Product:
    product = await repository.get_product(session, product_id, for_update=for_update)
    if product is None:
        raise ProductNotFound("No such product.")
    return product


async def admin_product(session: AsyncSession, product: Product) -> ProductAdminRead:
    detail = await _detail_dict(session, product, stock_markers=False)
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
            {**_list_item(p), "status": p.status, "category_id": p.category_id, "updated_at": p.updated_at}
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


async def _changed(session: AsyncSession, product: Product, changed: Iterable[str]) -> None:
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
        await _changed(session, product, changed)
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
    await _changed(session, product, ["skus"])
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
        await _changed(session, product, ["skus"])
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


# ---------------------------------------------------------------- images


async def _refresh_cover(session: AsyncSession, product: Product) -> list[ProductImage]:
    images = list(await repository.list_images(session, product.id))
    product.cover_image = images[0].url if images else None
    return images


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
    await _changed(session, product, ["images"] + (["cover_image"] if before != product.cover_image else []))
    return image


async def reorder_images(
    session: AsyncSession, actor: Any, product_id: int, image_ids: list[int]
) -> list[ProductImage]:
    product = await get_product_or_raise(session, product_id, for_update=True)
    images = {i.id: i for i in await repository.list_images(session, product.id)}
    if sorted(image_ids) != sorted(images) or len(set(image_ids)) != len(image_ids):
        raise ImageOrderMismatch("List every image of this product exactly once.")
    before = [i.id for i in sorted(images.values(), key=lambda i: (i.position, i.id))]
    for position, image_id in enumerate(image_ids):
        images[image_id].position = position
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
        await _changed(session, product, ["images", "cover_image"])
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
    await _changed(session, product, ["images", "cover_image"])
    return image


async def upload_image(
    session: AsyncSession, actor: Any, product_id: int, data: bytes, alt: str = ""
) -> ProductImage:
    import anyio

    from app.catalog import images

    await get_product_or_raise(session, product_id)
    jpeg = await anyio.to_thread.run_sync(images.process, data)
    url = images.store(product_id, jpeg)
    return await add_image(session, actor, product_id, url, alt)


async def remove_image(session: AsyncSession, actor: Any, product_id: int, image_id: int) -> None:
    from app.catalog import images
    from app.db import after_commit

    image = await delete_image(session, actor, product_id, image_id)

    async def unlink() -> None:
        images.remove(image.url)

    after_commit(session, f"catalog.image.unlink.{image.id}", unlink)
