"""`daoxiang seed-scale`: a shop of realistic size, generated in bulk, for measuring the shop as it grows.

Rows go in with multi-row INSERTs of `CHUNK` rows (the ORM is bypassed: a million ORM objects would take
hours), each chunk in its own transaction, so progress is visible and a stopped run keeps what it wrote.
Each run adds to what is there: running it twice doubles the shop. The data is shaped like a year of a
busy rice shop: most products published, a few popular products selling most (so a batch's recall list
is long), orders spread over the last year with ids rising with time, a few flagged and revoked codes,
some SKUs low on stock and some certificates about to expire.

`rebuild_statistics` runs at the end (ANALYZE TABLE on MariaDB) so the optimiser sees the new sizes.
"""

from __future__ import annotations

import random
import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from app.catalog import search_index
from app.db import get_engine, session_scope
from app.orders import stats as order_stats
from app.seed_scale.bulk import Progress, ScaleReport, rebuild_statistics
from app.seed_scale.catalog import ensure_categories, seed_products
from app.seed_scale.orders import seed_orders
from app.seed_scale.traceability import seed_traceability
from app.seed_scale.users import seed_users
from app.users.models import User

__all__ = ["ScaleReport", "rebuild_statistics", "seed_scale"]


async def seed_scale(
    *, products: int, orders: int, codes: int, seed: int | None = None, progress: Progress | None = None
) -> ScaleReport:
    rng = random.Random(seed)
    progress = progress or (lambda label, done, total: None)
    report = ScaleReport()
    started = time.perf_counter()
    now = datetime.now(UTC)
    run = secrets.token_hex(3)  # keeps names, phones and batch numbers of separate runs apart

    async with get_engine().begin() as conn:
        category_ids = await ensure_categories(conn)
        user_base = int((await conn.execute(select(func.count()).select_from(User.__table__))).scalar_one())

    product_ids, sku_rows = await seed_products(rng, now, products, category_ids, run, progress)
    report.products, report.skus = len(product_ids), len(sku_rows)

    customers = max(1, min(orders // 8, 200_000)) if orders else 0
    user_ids = await seed_users(rng, now, customers, user_base, progress)
    report.users = len(user_ids)

    batches = await seed_traceability(rng, now, product_ids, codes, run, progress, report)

    if orders and sku_rows and user_ids:
        await seed_orders(rng, now, orders, sku_rows, user_ids, batches, progress, report)
        async with session_scope() as session:
            await order_stats.fold(session, limit=10**9)

    async with get_engine().begin() as conn:  # bulk inserts pass no flush hook: index the new rows
        await search_index.sync(conn)
    await rebuild_statistics()
    report.seconds = time.perf_counter() - started
    return report
