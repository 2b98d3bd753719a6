"""Money is integer fen everywhere; this is the only place it becomes text, and the only place text
becomes fen again."""

from __future__ import annotations

import re
from decimal import Decimal

# ¥0.00 .. ¥1,000,000.00: anything outside is a typo, not a price.
MAX_PRICE_FEN = 100_000_000

# A plain amount: ASCII digits (at most ten: no gateway or person types more), then at most one point and
# the digits after it (counted below, so "1.234" is said to have too many decimals rather than be garbage).
# No sign, exponent, NaN, grouping, spaces or currency sign: a caller strips what its input may carry.
_PLAIN = re.compile(r"([0-9]{1,10})(?:\.([0-9]+))?")


class NotAnAmount(ValueError):
    """Text that is not a plain amount in yuan; str() says why, to follow the text ("'1e3' is not …")."""


def fen_to_yuan(fen: int) -> str:
    """'59.90' for 5990, without floats: the form payment gateways and the staff export want."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def format_yuan(fen: int) -> str:
    """'¥59.90' for 5990: what people read on pages and in notifications."""
    return "-¥" + fen_to_yuan(-fen) if fen < 0 else "¥" + fen_to_yuan(fen)


def yuan_to_fen(text: str, *, max_fen: int | None = None) -> int:
    """'59.90' → 5990, '59.9' → 5990, '128' → 12800, exactly (Decimal, never a float). Raises NotAnAmount
    for anything else: a sign, more than two decimals, an exponent ('1e3'), NaN or Infinity, more than ten
    digits before the point, or (given `max_fen`) more than `max_fen`. Each caller turns NotAnAmount into
    its own refusal (a bad notification, a form error, an import problem)."""
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise NotAnAmount("is not an amount in yuan")
    if len(match.group(2) or "") > 2:
        raise NotAnAmount("has more than two decimal places")
    fen = int(Decimal(text).scaleb(2))
    if max_fen is not None and fen > max_fen:
        raise NotAnAmount(f"is more than {fen_to_yuan(max_fen)} yuan")
    return fen
