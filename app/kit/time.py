"""The shop's clock. Stored times are UTC; people, order numbers, calendar days (certificates, best-before
dates, report filters) and the payment gateways speak Beijing time.

Beijing time is a fixed UTC+8 (China has had no daylight saving since 1991), so it needs no tz database.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

SHOP_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def shop_today(now: datetime | None = None) -> date:
    """The shop's calendar day at `now` (default: the current time)."""
    return (now or datetime.now(UTC)).astimezone(SHOP_TZ).date()


def shop_day_start(day: date) -> datetime:
    """Midnight of a shop calendar day, in UTC (where a day's rows start in the database)."""
    return datetime.combine(day, time.min, SHOP_TZ).astimezone(UTC)


def format_shop_time(at: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An aware time as Beijing wall-clock text. A time at the calendar's edge (9999-12-31 in UTC) has no
    Beijing time: it is shown as it is, marked UTC, rather than failing a page or an export."""
    try:
        return at.astimezone(SHOP_TZ).strftime(fmt)
    except (OverflowError, ValueError):
        return at.strftime(fmt) + " UTC"
