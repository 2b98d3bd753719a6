"""A product's rating aggregates (sum and count of its visible reviews' ratings).

The reviews domain, above catalog, calls `adjust` in the transaction that creates, edits, hides or shows a
review: one atomic UPDATE (`rating_sum = rating_sum + :d`), never a read-modify-write, so concurrent reviews
add up exactly; and the cached catalogue pages are invalidated with that same commit (app.catalog.cache), so
the public list and detail serve the new average with no per-request work.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import cache
from app.catalog.models import Product


def average(product: Any) -> float | None:
    """One decimal, rounded half up (4.25 → 4.3); None without reviews."""
    if not product.rating_count:
        return None
    exact = Decimal(product.rating_sum) / Decimal(product.rating_count)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


async def adjust(session: AsyncSession, product_id: int, *, sum_delta: int, count_delta: int) -> None:
    if not sum_delta and not count_delta:
        return
    await session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(
            rating_sum=Product.rating_sum + sum_delta,
            rating_count=Product.rating_count + count_delta,
        )
        .execution_options(synchronize_session=False)
    )
    cache.invalidate(session)
