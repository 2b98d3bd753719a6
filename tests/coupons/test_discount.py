"""The discount arithmetic, as properties: never negative, never above the eligible subtotal, percent
rounded down and capped, and the per-line shares add up to the order's discount exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.coupons.discount import Terms, discount_fen, split

fen = st.integers(min_value=0, max_value=50_000_000)
terms = st.one_of(
    st.builds(
        Terms,
        kind=st.just("fixed"),
        amount_fen=st.integers(min_value=1, max_value=100_000_000),
        percent_off=st.none(),
        max_discount_fen=st.none(),
        threshold_fen=st.integers(min_value=0, max_value=100_000_000),
    ),
    st.builds(
        Terms,
        kind=st.just("percent"),
        amount_fen=st.none(),
        percent_off=st.integers(min_value=1, max_value=99),
        max_discount_fen=st.none() | st.integers(min_value=1, max_value=100_000_000),
        threshold_fen=st.integers(min_value=0, max_value=100_000_000),
    ),
)


class TestDiscount:
    @given(terms, fen)
    def test_never_negative_never_above_the_eligible_subtotal(self, t, eligible):
        assert 0 <= discount_fen(t, eligible) <= eligible

    @given(terms, fen)
    def test_nothing_below_the_threshold(self, t, eligible):
        if eligible < t.threshold_fen:
            assert discount_fen(t, eligible) == 0

    @given(terms.filter(lambda t: t.kind == "percent"), fen)
    def test_percent_is_rounded_down_to_the_fen_and_capped(self, t, eligible):
        off = discount_fen(t, eligible)
        if eligible >= t.threshold_fen:
            exact = eligible * t.percent_off / 100
            cap = t.max_discount_fen if t.max_discount_fen is not None else exact
            assert off == min(int(eligible * t.percent_off // 100), cap)
            assert off <= exact

    def test_the_examples(self):
        manjian = Terms("fixed", 3000, None, None, 19900)
        assert discount_fen(manjian, 19899) == 0
        assert discount_fen(manjian, 19900) == 3000
        fifteen = Terms("percent", None, 15, 2000, 0)
        assert discount_fen(fifteen, 1999) == 299  # 299.85 rounded down
        assert discount_fen(fifteen, 100_000) == 2000  # capped
        assert discount_fen(Terms("fixed", 5000, None, None, 0), 3000) == 3000  # never above the lines


class TestSplit:
    @given(st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=30), st.data())
    def test_shares_add_up_exactly_and_no_line_gets_more_than_its_subtotal(self, subtotals, data):
        total = data.draw(st.integers(min_value=0, max_value=sum(subtotals)))
        shares = split(total, subtotals)
        assert sum(shares) == total
        assert all(0 <= share <= subtotal for share, subtotal in zip(shares, subtotals, strict=True))

    @given(st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=30), st.data())
    def test_shares_are_within_a_fen_of_the_proportional_amount(self, subtotals, data):
        total = data.draw(st.integers(min_value=0, max_value=sum(subtotals)))
        whole = sum(subtotals)
        for share, subtotal in zip(split(total, subtotals), subtotals, strict=True):
            assert abs(share * whole - total * subtotal) < whole

    def test_largest_remainder_then_the_earlier_line(self):
        assert split(100, [100, 100, 100]) == [34, 33, 33]
        assert split(10, [5990, 12900 * 2]) == [2, 8]
