"""One yuan → fen parser (app.kit.money.yuan_to_fen) behind the three places text becomes money: gateway
notices, the staff's price fields and the product import. Each keeps its own way of refusing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog.importer import _amount_fen
from app.kit.money import MAX_PRICE_FEN, NotAnAmount, fen_to_yuan, yuan_to_fen
from app.payments.errors import BadNotification
from app.payments.providers.base import yuan_to_fen as notified_fen
from app.storefront.admin_products import yuan_to_fen as typed_fen

REFUSED = [
    "",
    "-1",
    "-0.01",
    "+5",
    "1.234",
    "1.230",
    "1e3",
    "1E2",
    "NaN",
    "nan",
    "Infinity",
    "inf",
    "1.",
    ".5",
    " 1",
    "1 ",
    "1,000",
    "1_000",
    "¥1",
    "١٢",
    "12345678901",
    "0x10",
    "1..2",
    "abc",
]


def _plain_amounts() -> st.SearchStrategy[str]:
    """Every spelling of an amount the parser accepts: 0-10 digits before the point, 0-2 after."""
    return st.builds(
        lambda whole, frac: whole + (f".{frac}" if frac is not None else ""),
        st.from_regex(r"[0-9]{1,10}", fullmatch=True),
        st.none() | st.from_regex(r"[0-9]{1,2}", fullmatch=True),
    )


class TestTheParser:
    @given(st.integers(min_value=0, max_value=10**12 - 1))
    def test_fen_written_as_yuan_read_back_as_the_same_fen(self, fen):
        assert yuan_to_fen(fen_to_yuan(fen)) == fen

    @given(_plain_amounts())
    def test_a_plain_amount_is_read_exactly_as_decimal_reads_it(self, text):
        assert yuan_to_fen(text) == Decimal(text) * 100

    @given(st.text(max_size=16))
    def test_any_text_is_either_a_plain_amount_or_refused(self, text):
        try:
            fen = yuan_to_fen(text)
        except NotAnAmount:
            return
        assert text.isascii() and text.replace(".", "", 1).isdigit()
        assert fen == Decimal(text) * 100

    @given(st.decimals(allow_nan=True, allow_infinity=True))
    def test_signs_exponents_nan_and_more_than_two_decimals_are_refused(self, value):
        text = str(value)
        plain = (
            value.is_finite()
            and not value.is_signed()
            and "E" not in text
            and value.as_tuple().exponent >= -2
            and len(text.split(".")[0]) <= 10
        )
        if plain:
            assert yuan_to_fen(text) == value * 100
        else:
            with pytest.raises(NotAnAmount):
                yuan_to_fen(text)

    @pytest.mark.parametrize("text", REFUSED)
    def test_refused(self, text):
        with pytest.raises(NotAnAmount):
            yuan_to_fen(text)

    def test_a_ceiling_is_kept_when_given(self):
        assert yuan_to_fen("1000000", max_fen=MAX_PRICE_FEN) == MAX_PRICE_FEN
        with pytest.raises(NotAnAmount, match="more than"):
            yuan_to_fen("1000000.01", max_fen=MAX_PRICE_FEN)

    def test_too_many_decimals_is_said_as_such(self):
        with pytest.raises(NotAnAmount, match="more than two decimal places"):
            yuan_to_fen("1.234")


class TestEachCallerKeepsItsRefusal:
    @given(_plain_amounts())
    def test_the_three_callers_agree_on_plain_amounts(self, text):
        fen = yuan_to_fen(text)
        assert notified_fen(text) == fen
        assert typed_fen(text) == (fen if fen <= 999_999_999 else None)
        if 0 < fen <= MAX_PRICE_FEN:
            assert _amount_fen(text, "price") == fen

    @pytest.mark.parametrize("text", REFUSED)
    def test_a_gateway_amount_that_is_not_plain_is_a_bad_notification(self, text):
        with pytest.raises(BadNotification):
            notified_fen(text)

    @pytest.mark.parametrize("text", [t for t in REFUSED if t not in (" 1", "1 ", "¥1")])
    def test_a_typed_price_that_is_not_plain_is_none(self, text):
        assert typed_fen(text) is None

    def test_staff_may_type_a_yuan_sign_and_spaces(self):
        assert typed_fen(" ¥59.9 ") == 5990

    @pytest.mark.parametrize("text", ["1.234", "1e3", "NaN", "-1", "0", "1000000.01"])
    def test_an_imported_price_that_is_not_one_is_a_value_error_naming_the_column(self, text):
        with pytest.raises(ValueError, match="^price: "):
            _amount_fen(text, "price")

    def test_an_import_may_carry_currency_signs_and_thousands_commas(self):
        assert _amount_fen("￥1,299.50", "price") == 129950
        assert _amount_fen(59.9, "price") == 5990
