"""What the back-office dashboard shows, from app.reports (one indexed read per panel): this module only
turns the figures into panels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import LOW_STOCK_THRESHOLD
from app.db import utcnow
from app.kit.money import format_yuan
from app.orders.models import OrderStatus
from app.reports import service as reports_service
from app.reports.repository import Dashboard
from app.storefront.templating import ORDER_STATUS, certificate_label


@dataclass
class Panel:
    title: str
    rows: list[Any] = field(default_factory=list)
    empty: str = "暂无"
    link: str | None = None


def _count(value: int) -> str:
    return f"{value:,}"


async def load(session: AsyncSession) -> tuple[list[tuple[str, str]], list[Panel]]:
    figures = await reports_service.dashboard(session, utcnow())
    return today_figures(figures), [
        sales_by_day(figures),
        orders_by_status(figures),
        low_stock(figures),
        expiring_certificates(figures),
        suspicious_codes(figures),
    ]


def today_figures(figures: Dashboard) -> list[tuple[str, str]]:
    return [
        ("今日订单", str(figures.orders_today)),
        ("今日销售额", format_yuan(figures.sales_today_fen)),
        ("待发货", _count(figures.by_status[OrderStatus.paid.value])),
        ("待处理退款", _count(figures.by_status[OrderStatus.refunding.value])),
    ]


def sales_by_day(figures: Dashboard) -> Panel:
    return Panel(
        title=f"近 {len(figures.sales_by_day)} 天销售",
        rows=[
            {"text": day.strftime("%m-%d"), "note": f"{orders} 单 · {format_yuan(fen)}"}
            for day, orders, fen in reversed(figures.sales_by_day)
        ],
        empty="暂无订单",
        link="/admin/orders",
    )


def orders_by_status(figures: Dashboard) -> Panel:
    return Panel(
        title="订单状态",
        rows=[
            {
                "text": ORDER_STATUS.get(status, status),
                "note": _count(count),
                "href": f"/admin/orders?status={status}",
            }
            for status, count in figures.by_status.items()
            if count
        ],
        empty="暂无订单",
    )


def low_stock(figures: Dashboard) -> Panel:
    return Panel(
        title=f"库存不足（少于 {LOW_STOCK_THRESHOLD} 件）",
        rows=[
            {"text": f"{name} {sku_name}", "note": f"剩 {stock} 件", "href": f"/admin/products/{pid}"}
            for pid, name, sku_name, stock in figures.low_stock
        ],
        empty="所有在售规格库存充足",
    )


def expiring_certificates(figures: Dashboard) -> Panel:
    today = utcnow().astimezone(reports_service.SHOP_TZ).date()
    return Panel(
        title=f"证书到期提醒（{reports_service.CERTIFICATE_DAYS} 天内）",
        rows=[
            {
                "text": f"{certificate_label(c.kind)} {c.number}（{c.issuer}）",
                "note": ("已过期 " if c.valid_until < today else "到期 ") + c.valid_until.isoformat(),
            }
            for c in figures.certificates
        ],
        empty="近期没有到期的证书",
        link="/admin/certificates",
    )


def suspicious_codes(figures: Dashboard) -> Panel:
    return Panel(
        title="可疑溯源码（扫描次数异常）",
        rows=[
            {"text": code, "note": f"扫描 {scans} 次", "href": f"/admin/batches/{batch_id}"}
            for code, scans, _flagged, batch_id in figures.flagged_codes
        ],
        empty="暂无可疑扫描",
    )
