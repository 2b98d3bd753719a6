from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, case, false, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from app.catalog import search_index
from app.catalog.models import Category, Product, ProductImage, ProductStatus, Sku

# Categories


async def list_categories(session: AsyncSession) -> Sequence[Category]:
    rows = await session.execute(select(Category).order_by(Category.sort_order, Category.id))
    return rows.scalars().all()


async def get_category(session: AsyncSession, category_id: int) -> Category | None:
    return await session.get(Category, category_id)


async def category_has_children(session: AsyncSession, category_id: int) -> bool:
    row = await session.execute(select(Category.id).where(Category.parent_id == category_id).limit(1))
    return row.first() is not None


async def category_has_products(session: AsyncSession, category_id: int) -> bool:
    row = await session.execute(select(Product.id).where(Product.category_id == category_id).limit(1))
    return row.first() is not None


# Products


async def get_product(session: AsyncSession, product_id: int, *, for_update: bool = False) -> Product | None:
    if for_update:
        stmt = select(Product).where(Product.id == product_id).with_for_update()
        return (await session.execute(stmt)).scalar_one_or_none()
    return await session.get(Product, product_id)


async def list_skus(session: AsyncSession, product_id: int, *, active_only: bool) -> Sequence[Sku]:
    stmt = select(Sku).where(Sku.product_id == product_id)
    if active_only:
        stmt = stmt.where(Sku.is_active.is_(True))
    return (await session.execute(stmt.order_by(Sku.sort_order, Sku.id))).scalars().all()


async def list_images(session: AsyncSession, product_id: int) -> Sequence[ProductImage]:
    stmt = (
        select(ProductImage)
        .where(ProductImage.product_id == product_id)
        .order_by(ProductImage.position, ProductImage.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def get_image(session: AsyncSession, product_id: int, image_id: int) -> ProductImage | None:
    stmt = select(ProductImage).where(ProductImage.id == image_id, ProductImage.product_id == product_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_sku(session: AsyncSession, sku_id: int, *, for_update: bool = False) -> Sku | None:
    stmt = select(Sku).where(Sku.id == sku_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def refresh_min_price(session: AsyncSession, product_id: int) -> None:
    cheapest = (
        select(func.coalesce(func.min(Sku.price_fen), 0))
        .where(Sku.product_id == product_id, Sku.is_active.is_(True))
        .scalar_subquery()
    )
    await session.execute(update(Product).where(Product.id == product_id).values(min_price_fen=cheapest))


async def set_stock(session: AsyncSession, sku_id: int, stock: int) -> tuple[int, int] | None:
    """Set a SKU's stock; (before, after), or None for an unknown SKU. The row is locked so the `before`
    is the value this write replaced, even with orders moving stock at the same moment."""
    row = (
        await session.execute(select(Sku.stock).where(Sku.id == sku_id).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        return None
    await session.execute(update(Sku).where(Sku.id == sku_id).values(stock=stock))
    return int(row), stock


def _search_filters(terms: list[str]) -> tuple[list[Any], Any]:
    """(WHERE clauses, relevance score) for the query words by LIKE; see app.catalog.search."""
    clauses: list[Any] = []
    score: Any = literal(0)
    for term in terms:
        in_name = Product.search_name.contains(term, autoescape=True)
        in_subtitle = Product.search_subtitle.contains(term, autoescape=True)
        in_body = Product.search_body.contains(term, autoescape=True)
        clauses.append(or_(in_name, in_subtitle, in_body))
        score = score + case((in_name, 100), (in_subtitle, 10), else_=1)
    return clauses, score


def _full_text_filters(
    terms: list[str], index: search_index.Kind, status_filter: list[Any]
) -> tuple[list[Any], Any, Any]:
    """(WHERE clauses, relevance score, join or None) for the query words on this database's index (see
    app.catalog.search_index)."""
    if index == "mroonga":
        query = search_index.mroonga_query(terms)
        if query is None:
            return [false()], literal(0), None
        hit = search_index.mroonga_match(query)
        hits = select(search_index.SEARCH.c.product_id, hit.label("score")).where(hit).subquery("search_hits")
        return [], hits.c.score, hits
    clauses, score = _search_filters(terms)
    if index == "fts5":
        query = search_index.fts_query(terms)
        if query is not None:
            clauses.append(Product.id.in_(search_index.fts_ids(query)))
        else:  # every word too short for trigrams: look among the best sellers only
            best_sellers = (
                select(Product.id)
                .where(*status_filter)
                .order_by(Product.sales_count.desc(), Product.id.desc())
                .limit(search_index.SHORT_QUERY_ROWS)
            )
            clauses.append(Product.id.in_(best_sellers))
    return clauses, score, None


def product_query(
    *,
    statuses: Sequence[str] | None,
    terms: list[str],
    category_ids: Sequence[int] | None,
    min_price_fen: int | None,
    max_price_fen: int | None,
    origin: str | None,
    sort: str | None,
    narrow: bool = False,
    index: search_index.Kind = "like",
) -> tuple[Select[Any], Select[Any]]:
    """(page query, count query) for a product list; `narrow` loads only the public list's columns."""
    where: list[Any] = []
    status_filter = [Product.status.in_(list(statuses))] if statuses is not None else []
    where.extend(status_filter)
    if category_ids is not None:
        where.append(Product.category_id.in_(list(category_ids)))
    if min_price_fen is not None:
        where.append(Product.min_price_fen >= min_price_fen)
    if max_price_fen is not None:
        where.append(Product.min_price_fen <= max_price_fen)
    if origin:
        where.append(Product.origin.contains(origin, autoescape=True))
    hits = None
    score: Any = literal(0)
    if terms:
        search_clauses, score, hits = _full_text_filters(terms, index, status_filter)
        where.extend(search_clauses)

    if sort is None:
        sort = "relevance" if terms else "default"
    order: list[Any]
    if sort == "relevance" and terms:
        order = [score.desc(), Product.sales_count.desc(), Product.id.desc()]
    elif sort == "price_asc":
        order = [Product.min_price_fen.asc(), Product.id.asc()]
    elif sort == "price_desc":
        order = [Product.min_price_fen.desc(), Product.id.desc()]
    elif sort == "sales":
        order = [Product.sales_count.desc(), Product.id.desc()]
    elif sort == "newest" and statuses is not None and list(statuses) == PUBLISHED:
        # Every published product has published_at (set on publishing; older rows backfilled by the
        # scale_indexes migration), so the public list reads ix_products_status_published_at in order.
        order = [Product.published_at.desc(), Product.id.desc()]
    elif sort == "newest":
        order = [func.coalesce(Product.published_at, Product.created_at).desc(), Product.id.desc()]
    else:  # the shop's own order: staff weight first, then newest
        order = [Product.sort_weight.desc(), Product.id.desc()]
    page = select(Product)
    matching = select(Product.id)
    if hits is not None:
        page = page.join(hits, hits.c.product_id == Product.id)
        matching = matching.join(hits, hits.c.product_id == Product.id)
    page = page.where(*where).order_by(*order)
    if narrow:
        # The public list shows a few short columns: leave the descriptions and search texts on disk.
        page = page.options(load_only(*LIST_COLUMNS))
    # Bounded: at most LIST_COUNT_CAP + 1 matching rows are counted, however many products there are.
    count = select(func.count()).select_from(matching.where(*where).limit(LIST_COUNT_CAP + 1).subquery())
    return page, count


async def ranked_page(
    session: AsyncSession, query: str, *, status: str, offset: int, limit: int, narrow: bool
) -> tuple[list[Product], int]:
    """A public search with no other filter, answered by the Mroonga table alone (relevance, then sales);
    the page's rows are read from `products` again, with their status, so the index can lag but never
    show an unpublished product."""
    ids_query, count_query = search_index.ranked_ids(query, status=status, cap=LIST_COUNT_CAP)
    ids = [int(i) for i in (await session.execute(ids_query.offset(offset).limit(limit))).scalars()]
    if offset == 0 and len(ids) < limit:
        total = len(ids)  # the first page holds every hit: no count (Mroonga counts row by row)
    else:
        total = int((await session.execute(count_query)).scalar_one())
    if not ids:
        return [], total
    stmt = select(Product).where(Product.id.in_(ids), Product.status == status)
    if narrow:
        stmt = stmt.options(load_only(*LIST_COLUMNS))
    found = {p.id: p for p in (await session.execute(stmt)).scalars()}
    return [found[i] for i in ids if i in found], total


# A list's `total` counts this many products at most; past it the total is shown as "at least" (the
# public list says `total_exact: false`). An exact count read every matching index entry on each cache
# miss: 90,000 at 100k products (issue 18).
LIST_COUNT_CAP = 10_000


PUBLISHED = [ProductStatus.published.value]
LIST_COLUMNS = (
    Product.id,
    Product.name,
    Product.subtitle,
    Product.cover_image,
    Product.min_price_fen,
    Product.origin,
    Product.variety,
    Product.sales_count,
    Product.status,
    Product.rating_sum,
    Product.rating_count,
)
