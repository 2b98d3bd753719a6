"""The dashboard's SQL, in one place. Every query reads a bounded range of an index (issue 18: at 1M orders
and 10M codes the old panels scanned whole tables):

* today's orders and sales, sales per day: `ix_orders_created_at` over the days shown
* orders by status: `ix_orders_status_id`, each count stopped at `count_cap + 1` entries
* low stock: `ix_skus_is_active_stock` from the lowest stock up, joined to published products by key
* flagged codes: `ix_trace_codes_flagged_at` from the newest
* certificates: `ix_certificates_valid_until` over the window
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product, ProductStatus, Sku
from app.orders.models import Order, OrderStatus
from app.traceability.models import Certificate, TraceCode

# Orders whose money the shop has (or had, until a refund completes).
SOLD = (OrderStatus.paid, OrderStatus.shipped, OrderStatus.completed, OrderStatus.refunding)


@dataclass
class Dashboard:
    orders_today: int = 0
    sales_today_fen: int = 0
    # Beijing day -> (orders, sales in fen), oldest first
    sales_by_day: list[tuple[date, int, int]] = field(default_factory=list)
    # status -> count, at most count_cap + 1 (more means "more than count_cap")
    by_status: dict[str, int] = field(default_factory=dict)
    low_stock: list[Any] = field(default_factory=list)  # (product_id, product name, sku name, stock)
    flagged_codes: list[Any] = field(default_factory=list)  # (code, scan_count, flagged_at, batch_id)
    certificates: list[Certificate] = field(default_factory=list)


async def dashboard(
    session: AsyncSession,
    *,
    days: list[tuple[date, datetime, datetime]],
    low_stock_below: int,
    certificates_from: date,
    certificates_until: date,
    count_cap: int,
    limit: int = 10,
) -> Dashboard:
    """Everything the dashboard shows. `days` are (Beijing date, start, end) in UTC, oldest first, the last
    one today."""
    result = Dashboard()
    sold = Order.status.in_([s.value for s in SOLD])
    for day, start, end in days:
        row = (
            await session.execute(
                select(
                    func.count(), func.coalesce(func.sum(case((sold, Order.total_fen), else_=0)), 0)
                ).where(Order.created_at >= start, Order.created_at < end)
            )
        ).one()
        result.sales_by_day.append((day, int(row[0]), int(row[1])))
    if result.sales_by_day:
        _, result.orders_today, result.sales_today_fen = result.sales_by_day[-1]

    for status in OrderStatus:
        bounded = select(Order.id).where(Order.status == status.value).limit(count_cap + 1).subquery()
        result.by_status[status.value] = int(
            (await session.execute(select(func.count()).select_from(bounded))).scalar_one()
        )

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
