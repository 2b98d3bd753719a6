from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import LOW_STOCK_THRESHOLD
from app.kit.time import SHOP_TZ
from app.reports import repository
from app.reports.repository import Dashboard

SALES_DAYS = 7
CERTIFICATE_DAYS = 30


async def dashboard(session: AsyncSession, now: datetime) -> Dashboard:
    """The dashboard at `now`: the last SALES_DAYS Beijing days, certificates that expired in the last
    CERTIFICATE_DAYS days or expire within the next, low stock, flagged codes, orders by status."""
    today = now.astimezone(SHOP_TZ).date()
    days = [today - timedelta(days=back) for back in range(SALES_DAYS - 1, -1, -1)]
    return await repository.dashboard(
        session,
        days=days,
        low_stock_below=LOW_STOCK_THRESHOLD,
        certificates_from=today - timedelta(days=CERTIFICATE_DAYS),
        certificates_until=today + timedelta(days=CERTIFICATE_DAYS),
    )
