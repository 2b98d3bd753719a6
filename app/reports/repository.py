"""The dashboard's SQL, in one place. Nothing grows with the orders or the codes (issue 18: at 1M orders
and 10M codes the old panels scanned whole tables):

* today's orders and sales, sales per day, orders by status: the maintained figures of app.orders.stats
  (a few rows per day, kept in step by the writes themselves, exact)
* low stock: `ix_skus_is_active_stock` from the lowest stock up, joined to published products by key
* flagged codes: `ix_trace_codes_flagged_at` from the newest
* certificates: `ix_certificates_valid_until` over the window

The last three are top-10 lists: their index, which the engine maintains in the writing transaction, is
the aggregate, and each read stops after ten entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product, ProductStatus, Sku
from app.orders import stats as order_stats
from app.orders.models import OrderStatus
from app.traceability.models import Certificate, TraceCode

# Orders whose money the shop has (or had, until a refund completes).
SOLD = (OrderStatus.paid, OrderStatus.shipped, OrderStatus.completed, OrderStatus.refunding)


@dataclass
class Dashboard:
    orders_today: int = 0
    sales_today_fen: int = 0
    # Beijing day -> (orders, sales in fen), oldest first
    sales_by_day: list[tuple[date, int, int]] = field(default_factory=list)
    # status -> count (exact)
    by_status: dict[str, int] = field(default_factory=dict)
    low_stock: list[Any] = field(default_factory=list)  # (product_id, product name, sku name, stock)
    flagged_codes: list[Any] = field(default_factory=list)  # (code, scan_count, flagged_at, batch_id)
    certificates: list[Certificate] = field(default_factory=list)


async def dashboard(
    session: AsyncSession,
    *,
    days: list[date],
    low_stock_below: int,
    certificates_from: date,
    certificates_until: date,
    limit: int = 10,
) -> Dashboard:
    """Everything the dashboard shows. `days` are Beijing dates, oldest first, the last one today."""
    result = Dashboard()
    if days:
        figures = await order_stats.by_day(session, days[0], days[-1], [s.value for s in SOLD])
        for day in days:
            orders, sales = figures.get(day, (0, 0))
            result.sales_by_day.append((day, orders, sales))
        _, result.orders_today, result.sales_today_fen = result.sales_by_day[-1]
    result.by_status = await order_stats.by_status(session)

    low = await session.execute(
        select(Product.id, Product.name, Sku.name, Sku.stock)
        .join(Product, and_(Product.id == Sku.product_id, Product.status == ProductStatus.published.value))
        # `= true`, not `IS TRUE`: MariaDB uses an index only for the former.
        .where(Sku.is_active == true(), Sku.stock < low_stock_below)
        .order_by(Sku.stock, Sku.id)
        .limit(limit)
    )
    result.low_stock = list(low.all())

    flagged = await session.execute(
        select(TraceCode.code, TraceCode.scan_count, TraceCode.flagged_at, TraceCode.batch_id)
        .where(TraceCode.flagged_at.is_not(None))
        .order_by(TraceCode.flagged_at.desc())
        .limit(limit)
    )
    result.flagged_codes = list(flagged.all())

    certificates = await session.execute(
        select(Certificate)
        .where(Certificate.valid_until >= certificates_from, Certificate.valid_until <= certificates_until)
        .order_by(Certificate.valid_until, Certificate.id)
        .limit(limit)
    )
    result.certificates = list(certificates.scalars().all())
    return result
