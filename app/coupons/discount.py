"""What a coupon takes off an order, and how that splits over the order's lines. Pure arithmetic on fen,
shared by checkout (app.checkout.pipeline.apply_promotions) and the pages that preview a coupon.

* `fixed`: `amount_fen` off once the eligible subtotal reaches `threshold_fen` (满 199 减 30), never more
  than the eligible subtotal.
* `percent`: `percent_off` % of the eligible subtotal, rounded down to the fen, at most `max_discount_fen`;
  the threshold applies too.

The discount is split over the eligible lines in proportion to their subtotals, by largest remainder: the
shares add up to the discount exactly, and no line gets more than its own subtotal (a partial refund of
one line returns what was paid for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Terms(NamedTuple):
    kind: str
    amount_fen: int | None
    percent_off: int | None
    max_discount_fen: int | None
    threshold_fen: int


def discount_fen(terms: Terms, eligible_subtotal_fen: int) -> int:
    """What the coupon takes off `eligible_subtotal_fen`; 0 below the threshold or without eligible lines."""
    if eligible_subtotal_fen <= 0 or eligible_subtotal_fen < terms.threshold_fen:
        return 0
    if terms.kind == "fixed":
        off = terms.amount_fen or 0
    else:
        off = eligible_subtotal_fen * (terms.percent_off or 0) // 100
        if terms.max_discount_fen is not None:
            off = min(off, terms.max_discount_fen)
    return max(0, min(off, eligible_subtotal_fen))


def split(total_fen: int, subtotals: Sequence[int]) -> list[int]:
    """`total_fen` over lines of `subtotals` in proportion, largest remainder first (ties: the earlier line).
    Requires 0 <= total_fen <= sum(subtotals)."""
    whole = sum(subtotals)
    assert 0 <= total_fen <= whole, (total_fen, whole)
    if total_fen == 0:
        return [0] * len(subtotals)
    shares = [total_fen * s // whole for s in subtotals]
    remainders = [total_fen * s % whole for s in subtotals]
    left = total_fen - sum(shares)
    # A line with a remainder gets at most one more fen: its share was strictly below total*s/whole <= s.
    for i in sorted(range(len(subtotals)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares
