"""Money is integer fen everywhere; this is the only place it becomes text."""

from __future__ import annotations

# ¥0.00 .. ¥1,000,000.00: anything outside is a typo, not a price.
MAX_PRICE_FEN = 100_000_000


def fen_to_yuan(fen: int) -> str:
    """'59.90' for 5990, without floats: the form payment gateways and the staff export want."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def format_yuan(fen: int) -> str:
    """'¥59.90' for 5990: what people read on pages and in notifications."""
    return "-¥" + fen_to_yuan(-fen) if fen < 0 else "¥" + fen_to_yuan(fen)
