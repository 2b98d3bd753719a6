"""What the back-office dashboard shows, gathered from each domain's service (read-only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product, Sku
from app.catalog.service import LOW_STOCK_THRESHOLD
from app.kit.money import format_yuan
from app.orders import service as orders_service
from app.orders.models import OrderStatus
from app.storefront.templating import SHOP_TZ

# Orders whose money the shop has (or had, until a refund completes).
_SOLD = {"paid", "shipped", "completed", "refunding"}
_TODAY_SCAN_LIMIT = 1000


@dataclass
class Panel:
    title: str
    rows: list[Any] = field(default_factory=list)
    empty: str = "暂无"
    link: str | None = None


async def today_figures(session: AsyncSession) -> list[tuple[str, str]]:
    today = datetime.now(SHOP_TZ).date()
    rows, total = await orders_service.list_for_staff(
        session, status=None, date_from=today, date_to=today, phone=None, offset=0, limit=_TODAY_SCAN_LIMIT
    )
    sold = [order for order, _ in rows if order.status in _SOLD]
    _, waiting = await orders_service.list_for_staff(
        session, status=OrderStatus.paid, date_from=None, date_to=None, phone=None, offset=0, limit=1
    )
    _, refunds = await orders_service.list_for_staff(
        session, status=OrderStatus.refunding, date_from=None, date_to=None, phone=None, offset=0, limit=1
    )
    return [
        ("今日订单", str(total)),
        ("今日销售额", format_yuan(sum(o.total_fen for o in sold))),
        ("待发货", str(waiting)),
        ("待处理退款", str(refunds)),
    ]


async def low_stock(session: AsyncSession, limit: int = 10) -> Panel:
    rows = await session.execute(
        select(Product.id, Product.name, Sku.name, Sku.stock)
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.is_active.is_(True), Sku.stock < LOW_STOCK_THRESHOLD, Product.status == "published")
        .order_by(Sku.stock, Sku.id)
        .limit(limit)
    )
    return Panel(
        title=f"库存不足（少于 {LOW_STOCK_THRESHOLD} 件）",
        rows=[
            {"text": f"{name} {sku_name}", "note": f"剩 {stock} 件", "href": f"/admin/products/{pid}"}
            for pid, name, sku_name, stock in rows.all()
        ],
        empty="所有在售规格库存充足",
    )
