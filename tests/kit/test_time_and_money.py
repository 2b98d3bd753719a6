"""The shop's clock and its money text: the one place each is written (app.kit.time, app.kit.money)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from app.kit.money import MAX_PRICE_FEN, fen_to_yuan, format_yuan
from app.kit.time import format_shop_time, shop_day_start, shop_today
from app.payments.providers.base import yuan_to_fen
from app.storefront.admin_products import yuan_to_fen as typed_yuan_to_fen


class TestShopDay:
    def test_the_shop_day_turns_at_beijing_midnight_not_utc(self):
        assert shop_today(datetime(2026, 11, 29, 15, 59, tzinfo=UTC)) == date(2026, 11, 29)
        assert shop_today(datetime(2026, 11, 29, 16, 0, tzinfo=UTC)) == date(2026, 11, 30)

    def test_a_shop_day_starts_at_16_00_utc_the_day_before(self):
        assert shop_day_start(date(2026, 11, 30)) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)

    def test_times_are_shown_in_beijing_time(self):
        assert format_shop_time(datetime(2026, 11, 29, 16, 5, tzinfo=UTC)) == "2026-11-30 00:05:00"

    def test_a_time_at_the_calendars_edge_is_shown_as_utc_instead_of_failing(self):
        assert format_shop_time(datetime(9999, 12, 31, 20, 0, tzinfo=UTC)) == "9999-12-31 20:00:00 UTC"


class TestMoneyText:
    def test_pages_show_yen_signs_and_two_decimals(self):
        assert [format_yuan(f) for f in (0, 5, 5990, 12800, -150)] == [
            "¥0.00",
            "¥0.05",
            "¥59.90",
            "¥128.00",
            "-¥1.50",
        ]

    @given(st.integers(min_value=0, max_value=MAX_PRICE_FEN))
    def test_what_we_send_a_gateway_reads_back_as_the_same_fen(self, fen):
        assert yuan_to_fen(fen_to_yuan(fen)) == fen

    @given(st.integers(min_value=0, max_value=99_999_99))
    def test_what_a_page_shows_staff_can_type_back_into_a_price(self, fen):
        assert typed_yuan_to_fen(format_yuan(fen)) == fen
