"""Money is integer fen everywhere; this is the only place it becomes text."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# ¥0.00 .. ¥1,000,000.00: anything outside is a typo, not a price.
MAX_PRICE_FEN = 100_000_000
PriceFen = Annotated[int, Field(ge=0, le=MAX_PRICE_FEN, strict=True)]


def format_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100}.{fen % 100:02d}"


def fen_to_yuan_string(fen: int) -> str:
    """'59.90' for 5990 — the form payment gateways want, without floats."""
    return f"{fen // 100}.{fen % 100:02d}"
