"""What the back-office dashboard shows, gathered from each domain's service (read-only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Product, Sku
from app.catalog.service import LOW_STOCK_THRESHOLD
from app.kit.money import format_yuan
from app.kit.time import shop_today
from app.orders import service as orders_service
from app.orders.models import OrderStatus
from app.storefront.templating import certificate_label

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
    today = shop_today()
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


async def expiring_certificates(session: AsyncSession, within_days: int = 30) -> Panel:
    from app.traceability import repository as trace_repository
    from app.traceability import service as trace_service

    rows, _ = await trace_repository.list_certificates(
        session, producer_id=None, batch_id=None, product_id=None, offset=0, limit=500
    )
    horizon = shop_today() + timedelta(days=within_days)
    soon = sorted(
        (trace_service.certificate_read(c) for c in rows if c.valid_until <= horizon),
        key=lambda c: c.valid_until,
    )
    return Panel(
        title=f"证书到期提醒（{within_days} 天内）",
        rows=[
            {
                "text": f"{certificate_label(c.kind)} {c.number}（{c.issuer}）",
                "note": ("已过期 " if c.expired else "到期 ") + c.valid_until.isoformat(),
            }
            for c in soon[:10]
        ],
        empty="近期没有到期的证书",
        link="/admin/certificates",
    )


async def suspicious_codes(session: AsyncSession, limit: int = 10) -> Panel:
    from app.traceability.models import TraceCode

    rows = await session.execute(
        select(TraceCode.code, TraceCode.scan_count, TraceCode.flagged_at, TraceCode.batch_id)
        .where(TraceCode.flagged_at.is_not(None))
        .order_by(TraceCode.flagged_at.desc())
        .limit(limit)
    )
    return Panel(
        title="可疑溯源码（扫描次数异常）",
        rows=[
            {"text": code, "note": f"扫描 {scans} 次", "href": f"/admin/batches/{batch_id}"}
            for code, scans, _flagged, batch_id in rows.all()
        ],
        empty="暂无可疑扫描",
    )
