"""Categories, products and their SKUs: most published, a few popular ones selling most."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.catalog import search
from app.catalog.models import Category, Product, ProductStatus, Sku
from app.seed_scale.bulk import Progress, ago, bulk
from app.seed_scale.words import GRADES, PACKS, TOWNS, VARIETIES, WORDS


async def ensure_categories(conn: AsyncConnection) -> list[int]:
    table = Category.__table__
    ids = list((await conn.execute(select(table.c.id))).scalars().all())
    if not ids:
        await conn.execute(insert(table), [{"name": n, "sort_order": i} for i, n in enumerate(VARIETIES)])
        ids = list((await conn.execute(select(table.c.id))).scalars().all())
    return [int(i) for i in ids]


async def seed_products(
    rng: random.Random,
    now: datetime,
    count: int,
    category_ids: Sequence[int],
    run: str,
    progress: Progress,
) -> tuple[list[int], list[tuple[int, int, int, str, str]]]:
    """Products and their 2-3 SKUs; returns product ids and (sku id, product id, price, name, sku name)."""
    if count <= 0:
        return [], []
    specs: list[dict[str, Any]] = []

    def products() -> Iterator[dict[str, Any]]:
        for i in range(count):
            variety = rng.choice(VARIETIES)
            town = rng.choice(TOWNS)
            grade = rng.choice(GRADES)
            name = f"五常大米 {variety} {rng.choice(WORDS)} {run}{i}"
            subtitle = f"{town}{grade}{variety}，当季新米"
            description = f"产自五常市{town}，{variety}，{grade}。寒地黑土一季稻，现磨现发。"
            packs = rng.sample(PACKS, rng.choice((2, 2, 3)))
            markup = rng.randint(-500, 3000)
            specs.append({"packs": packs, "markup": markup})
            created = ago(rng, now, 365)
            published = rng.random() < 0.9
            yield {
                "category_id": rng.choice(category_ids),
                "name": name,
                "subtitle": subtitle,
                "description": description,
                "origin": f"黑龙江五常{town}",
                "variety": variety,
                "grade": grade,
                "harvest_year": now.year - rng.choice((0, 0, 1)),
                "status": ProductStatus.published.value if published else ProductStatus.draft.value,
                # A long tail: most products sell little, a few sell a lot.
                "sales_count": int(rng.paretovariate(1.2) * 10) - 10,
                "sort_weight": rng.choice((0, 0, 0, 0, 10, 50, 100)),
                "min_price_fen": min(p for _, _, p in packs) + markup,
                "published_at": created if published else None,
                "search_name": search.search_field(name),
                "search_subtitle": search.search_field(subtitle, variety, f"黑龙江五常{town}", grade),
                "search_body": search.search_field(description, with_pinyin=False),
                "created_at": created,
                "updated_at": created,
            }

    product_ids = await bulk(Product.__table__, products(), count, "products", progress)

    def skus() -> Iterator[dict[str, Any]]:
        for product_id, spec in zip(product_ids, specs, strict=True):
            for position, (sku_name, weight, price) in enumerate(spec["packs"]):
                yield {
                    "product_id": product_id,
                    "name": sku_name,
                    "price_fen": price + spec["markup"],
                    "stock": rng.choice((0, 3, 8)) if rng.random() < 0.03 else rng.randint(20, 2000),
                    "weight_g": weight,
                    "is_active": True,
                    "sort_order": position,
                    "created_at": now,
                    "updated_at": now,
                }

    sku_total = sum(len(s["packs"]) for s in specs)
    sku_ids = await bulk(Sku.__table__, skus(), sku_total, "skus", progress)
    rows: list[tuple[int, int, int, str, str]] = []
    it = iter(sku_ids)
    for product_id, spec in zip(product_ids, specs, strict=True):
        for sku_name, _, price in spec["packs"]:
            rows.append((next(it), product_id, price + spec["markup"], f"五常大米 {product_id}", sku_name))
    return product_ids, rows
