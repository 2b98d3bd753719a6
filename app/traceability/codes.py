"""Trace codes: 65 random bits in Crockford base32 plus Crockford's mod-37 check symbol.

A code is 13 data symbols and one check symbol (14 characters). Reading is forgiving the way Crockford
intends (case-insensitive, I/L read as 1, O as 0, hyphens and spaces ignored), and the check symbol catches
every single-symbol mistake and every swap of two adjacent symbols, so a mistyped code is rejected here,
before any database lookup.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_ALPHABET = ALPHABET + "*~$=U"
DATA_LENGTH = 13  # 13 * 5 = 65 bits, all random
RANDOM_BITS = DATA_LENGTH * 5
CODE_LENGTH = DATA_LENGTH + 1
# Longer input than a hyphenated code could ever be is refused before any work.
MAX_INPUT_LENGTH = 40

_DECODE = {ch: i for i, ch in enumerate(ALPHABET)}
_DECODE.update({"O": 0, "I": 1, "L": 1})
_CHECK_DECODE = {ch: i for i, ch in enumerate(CHECK_ALPHABET)}
_CHECK_DECODE.update({"O": 0, "I": 1, "L": 1})


def _encode(value: int) -> str:
    symbols = []
    for _ in range(DATA_LENGTH):
        symbols.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(symbols))


def check_symbol(value: int) -> str:
    return CHECK_ALPHABET[value % 37]


def code_from_int(value: int) -> str:
    if not 0 <= value < 1 << RANDOM_BITS:
        raise ValueError("value out of range")
    return _encode(value) + check_symbol(value)


def new_code() -> str:
    return code_from_int(secrets.randbits(RANDOM_BITS))


def normalize(raw: str) -> str | None:
    """The canonical form of a code as typed or scanned, or None when it cannot be one of ours."""
    if not raw or len(raw) > MAX_INPUT_LENGTH:
        return None
    text = raw.replace("-", "").replace(" ", "").upper()
    if len(text) != CODE_LENGTH:
        return None
    value = 0
    for ch in text[:DATA_LENGTH]:
        digit = _DECODE.get(ch)
        if digit is None:
            return None
        value = value * 32 + digit
    check = _CHECK_DECODE.get(text[-1])
    if check is None or check != value % 37:
        return None
    return _encode(value) + CHECK_ALPHABET[check]


def pretty(code: str) -> str:
    """For printing under a QR code: groups of four are easier to read aloud and type."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
