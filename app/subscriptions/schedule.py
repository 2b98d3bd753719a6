"""The delivery calendar and the refund of a cancellation: plain arithmetic, no database.

Dates are the shop's calendar days (Beijing, app.kit.time). A monthly subscription keeps the day of the
month it started on, or the month's last day when the month is shorter: started on 31 January, it delivers
on 28 (29) February, then 31 March."""

from __future__ import annotations

import calendar
import enum
from datetime import date, timedelta


class Interval(enum.StrEnum):
    weekly = "weekly"
    biweekly = "biweekly"
    monthly = "monthly"


def add_months(start: date, months: int) -> date:
    """`start` moved `months` calendar months on, the day clamped to the month's last."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def delivery_on(anchor: date, interval: Interval | str, slot: int) -> date:
    """The date of the `slot`-th step (0: the anchor itself) of the calendar that starts on `anchor`."""
    interval = Interval(interval)
    if interval is Interval.monthly:
        return add_months(anchor, slot)
    return anchor + timedelta(days=slot * (7 if interval is Interval.weekly else 14))


def first_slot_from(anchor: date, interval: Interval | str, slot: int, today: date) -> int:
    """The first slot from `slot` on whose date is today or later (a resumed subscription does not send the
    deliveries of its pause all at once)."""
    while delivery_on(anchor, interval, slot) < today:
        slot += 1
    return slot


def refund_fen(total_fen: int, periods: int, delivered: int) -> int:
    """What a cancellation gives back: the prepaid total minus what was delivered. A delivered period is worth
    total × delivered / periods, rounded down (the customer's favour), so the refund and the delivered value
    always add up to the total exactly, to the fen, whether or not the total divides by the periods."""
    if not 0 <= delivered <= periods or periods < 1 or total_fen < 0:
        raise ValueError("need 0 <= delivered <= periods, periods >= 1, total_fen >= 0")
    return total_fen - total_fen * delivered // periods
