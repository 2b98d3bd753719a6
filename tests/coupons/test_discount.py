"""The discount arithmetic, as properties: never negative, never above the eligible subtotal, percent
rounded down and capped, and the per-line shares add up to the order's discount exactly (the split alone,
and checkout's apply_promotions step on priced lines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.checkout import pipeline
from app.checkout.stores import CheckoutCoupon
from app.coupons.discount import Terms, discount_fen, split
from app.coupons.errors import CouponNotApplicable
from app.orders.schemas import OrderCreate

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


def _coupon(t: Terms, eligible: frozenset[int] | None) -> CheckoutCoupon:
    now = datetime.now(UTC)
    return CheckoutCoupon(
        1, "CODE", "unused", 1, t, now - timedelta(days=1), now + timedelta(days=1), eligible
    )


lines = st.lists(
    st.tuples(st.integers(min_value=1, max_value=99_999), st.integers(min_value=1, max_value=50)),
    min_size=1,
    max_size=12,
)


class TestApplyPromotions:
    """checkout's apply_promotions: the order's discount is the sum of its lines' shares, never negative,
    never above the eligible subtotal, and nothing on a line the coupon does not cover."""

    @given(terms, lines, st.data())
    async def test_the_lines_carry_the_order_discount_exactly(self, t, priced, data):
        covered = data.draw(st.sets(st.integers(min_value=0, max_value=len(priced) - 1)) | st.none())
        c = pipeline.Checkout(pipeline.STANDARD, None, 1, OrderCreate(address_id=1, items=None))  # type: ignore[arg-type]
        c.items = [
            {
                "sku_id": n + 1,
                "unit_price_fen": price,
                "quantity": qty,
                "subtotal_fen": price * qty,
                "discount_fen": 0,
            }
            for n, (price, qty) in enumerate(priced)
        ]
        eligible = None if covered is None else frozenset(n + 1 for n in covered)
        c.coupon = _coupon(t, eligible)
        c.now = datetime.now(UTC)
        covered_items = [i for i in c.items if eligible is None or i["sku_id"] in eligible]
        base = sum(i["subtotal_fen"] for i in covered_items)
        try:
            await pipeline.apply_promotions(c)
        except CouponNotApplicable as refused:
            assert discount_fen(t, base) == 0, refused.extra
            return
        assert c.discount_fen == sum(i["discount_fen"] for i in c.items) == discount_fen(t, base)
        assert 0 < c.discount_fen <= base
        assert all(0 <= i["discount_fen"] <= i["subtotal_fen"] for i in c.items)
        assert all(i["discount_fen"] == 0 for i in c.items if i not in covered_items)
