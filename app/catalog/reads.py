"""Reading the catalogue: product search, and the public list and detail (cached, stock always live).

Extension point for traceability: a product's story (`{"certificates": [...], "batches": [...]}`,
JSON-ready dicts) is told by the teller app.flows.product_story plugs in with `tell_stories_with`.
Writes there that change a product page must call `app.catalog.cache.invalidate(session)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import cache, live, ratings, repository, search, search_index
from app.catalog.categories import descendants
from app.catalog.errors import ProductNotFound
from app.catalog.models import Product, ProductStatus
from app.catalog.schemas import ImageRead, ProductListQuery
from app.db import session_scope
from app.kit.pagination import PageParams


def list_item(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "subtitle": product.subtitle,
        "cover_image": product.cover_image,
        "min_price_fen": product.min_price_fen,
        "origin": product.origin,
        "variety": product.variety,
        "sales": product.sales_count,
        "rating_avg": ratings.average(product),
        "rating_count": product.rating_count,
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
    terms = search.query_terms(q)
    index = await search_index.kind(session) if terms else "like"
    plain = category_id is None and min_price_fen is None and max_price_fen is None and not origin
    public = statuses is not None and list(statuses) == repository.PUBLISHED
    if index == "mroonga" and plain and public and sort in (None, "relevance"):
        # The common public search: ranked, counted and paged by the index alone.
        query = search_index.mroonga_query(terms)
        if query is None:
            return [], 0
        return await repository.ranked_page(
            session, query, status=repository.PUBLISHED[0], offset=page.offset, limit=page.size, narrow=narrow
        )
    stmt, count = repository.product_query(
        statuses=statuses,
        terms=terms,
        index=index,
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
                    "items": [list_item(p) for p in rows],
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


async def detail_dict(session: AsyncSession, product: Product, *, stock_markers: bool) -> dict[str, Any]:
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
        "rating_avg": ratings.average(product),
        "rating_count": product.rating_count,
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
        return orjson.dumps(await detail_dict(session, product, stock_markers=True))


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
            return orjson.dumps(await detail_dict(session, product, stock_markers=False))
    return body


async def product_detail(product_id: int) -> dict[str, Any]:
    """The public product detail as a dict (for the storefront pages)."""
    return orjson.loads(await product_detail_json(product_id))
