"""The calendar and the refund arithmetic (app.subscriptions.schedule)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.subscriptions.schedule import add_months, delivery_on, first_slot_from, refund_fen


class TestMonths:
    def test_started_on_31_january_delivers_on_the_last_of_february_then_31_march(self):
        anchor = date(2027, 1, 31)
        assert [delivery_on(anchor, "monthly", n) for n in range(4)] == [
            date(2027, 1, 31),
            date(2027, 2, 28),
            date(2027, 3, 31),
            date(2027, 4, 30),
        ]

    def test_a_leap_year_february_has_its_29th(self):
        assert delivery_on(date(2028, 1, 31), "monthly", 1) == date(2028, 2, 29)

    def test_across_the_year_end(self):
        assert delivery_on(date(2026, 11, 30), "monthly", 3) == date(2027, 2, 28)
        assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)

    def test_weekly_and_biweekly(self):
        anchor = date(2026, 12, 28)
        assert delivery_on(anchor, "weekly", 1) == date(2027, 1, 4)
        assert delivery_on(anchor, "biweekly", 2) == date(2027, 1, 25)

    @given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 200))
    def test_monthly_keeps_the_day_or_the_months_last(self, anchor, n):
        day = delivery_on(anchor, "monthly", n)
        assert day.day == anchor.day or (day.day < anchor.day and add_months(day, 0).day == day.day)
        assert (day.year * 12 + day.month) - (anchor.year * 12 + anchor.month) == n

    def test_first_slot_from_today_skips_the_past_dates(self):
        anchor = date(2027, 1, 31)
        assert first_slot_from(anchor, "monthly", 0, date(2027, 3, 1)) == 2


class TestRefund:
    @given(st.integers(0, 10**9), st.integers(1, 24), st.data())
    def test_refund_and_delivered_add_up_to_the_total_exactly(self, total, periods, data):
        delivered = data.draw(st.integers(0, periods))
        refund = refund_fen(total, periods, delivered)
        exact = total * (periods - delivered) / periods
        assert 0 <= refund <= total
        assert exact <= refund < exact + 1  # to the fen, rounded in the customer's favour
        assert refund_fen(total, periods, 0) == total and refund_fen(total, periods, periods) == 0

    @given(st.integers(0, 10**9), st.integers(2, 24), st.data())
    def test_each_period_delivered_refunds_less(self, total, periods, data):
        delivered = data.draw(st.integers(0, periods - 1))
        assert refund_fen(total, periods, delivered + 1) <= refund_fen(total, periods, delivered)

    def test_odd_totals_that_do_not_divide(self):
        assert [refund_fen(10_001, 3, d) for d in range(4)] == [10_001, 6_668, 3_334, 0]
        assert refund_fen(1, 3, 1) == 1 and refund_fen(2, 3, 2) == 1

    @pytest.mark.parametrize("args", [(100, 0, 0), (100, 3, 4), (100, 3, -1), (-1, 3, 1)])
    def test_nonsense_is_refused(self, args):
        with pytest.raises(ValueError):
            refund_fen(*args)
