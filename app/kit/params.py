"""The one parser for numbers that arrive as text: ids, page numbers, quantities, form fields.

`str.isdigit()` and `int()` accept far more than a person types: `"²"` is a digit that `int()` refuses,
`"٣"`, `"３"`, `" 3"`, `"+3"` and `"3_000"` are numbers to `int()`, and a 5,000-digit string makes `int()`
raise. Here a number is 1 to 19 ASCII digits and nothing else, checked against its range before and after
conversion; anything else is None, which the caller turns into its ordinary answer (404 for an id that
cannot exist, 422 or the page's own message for a bad value).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator

# The largest id a BIGINT (and SQLite's INTEGER) can hold: a bigger one is a 422, not a driver overflow.
MAX_ID = 9_223_372_036_854_775_807
# The last page a list page offers (a larger ?page= shows this one).
MAX_PAGE = 10_000

_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
_ASCII_DIGITS_BYTES = re.compile(rb"[0-9]{1,19}")
_DIGITS_ONLY = re.compile(r"[0-9]+")


def _digits_only(value: object) -> object:
    # Pydantic's lax int also takes "+1", " 1", "1_000" and "1.0"; an id in an address is digits only.
    # (Too many digits is left to the range check: a 422 that says so.)
    if isinstance(value, str) and not _DIGITS_ONLY.fullmatch(value):
        raise ValueError("must be a whole number written with the digits 0-9")
    return value


# For any whole number read from a query string or path: digits only, then the field's own range.
DigitsOnly = BeforeValidator(_digits_only)

# Ids in paths: a positive BIGINT in ASCII digits; anything else is a 422 before it reaches the database.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID), DigitsOnly]
# Optional id filters in query strings, bounded the same way.
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID), DigitsOnly]


def parse_int(text: str | bytes | None, *, lo: int = 0, hi: int = MAX_ID) -> int | None:
    """`text` as a whole number in lo..hi, or None: ASCII digits only (no sign, spaces, `_`, other scripts)."""
    if text is None:
        return None
    pattern = _ASCII_DIGITS_BYTES if isinstance(text, bytes) else _ASCII_DIGITS
    if not pattern.fullmatch(text):  # type: ignore[arg-type]
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def parse_id(text: str | bytes | None) -> int | None:
    """An id that can exist (1..2**63-1), or None."""
    return parse_int(text, lo=1, hi=MAX_ID)


def parse_page(text: str | None, *, last: int = MAX_PAGE) -> int:
    """A list page's `?page=`: a whole number, at most `last`; anything else is page 1."""
    value = parse_int(text, lo=1)
    return 1 if value is None else min(value, last)


def form_idempotency_key(text: str) -> str | None:
    """A page form's hidden Idempotency-Key (8-64 ASCII characters, as the pages make them), or None: a
    malformed one places the order without a key rather than refusing the buyer."""
    return text if 8 <= len(text) <= 64 and text.isascii() else None
