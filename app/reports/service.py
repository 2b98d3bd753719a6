from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import LOW_STOCK_THRESHOLD
from app.kit.time import SHOP_TZ
from app.reports import repository
from app.reports.repository import Dashboard

# Each status count stops here: the dashboard shows "10000+" rather than counting a million orders.
COUNT_CAP = 10_000
SALES_DAYS = 7
CERTIFICATE_DAYS = 30


async def dashboard(session: AsyncSession, now: datetime) -> Dashboard:
    """The dashboard at `now`: the last SALES_DAYS Beijing days, certificates that expired in the last
    CERTIFICATE_DAYS days or expire within the next, low stock, flagged codes, orders by status."""
    today = now.astimezone(SHOP_TZ).date()
    days = []
    for back in range(SALES_DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime.combine(day, time.min, SHOP_TZ).astimezone(UTC)
        days.append((day, start, start + timedelta(days=1)))
    return await repository.dashboard(
        session,
        days=days,
        low_stock_below=LOW_STOCK_THRESHOLD,
        certificates_from=today - timedelta(days=CERTIFICATE_DAYS),
        certificates_until=today + timedelta(days=CERTIFICATE_DAYS),
        count_cap=COUNT_CAP,
    )
