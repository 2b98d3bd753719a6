"""Chinese search that behaves the same on SQLite and MariaDB.

Each product keeps three normalised search columns, rewritten by the service on every write:

* `search_name`     — the name, its pinyin (`wuchangdami`) and initials (`wcdm`)
* `search_subtitle` — subtitle, variety, origin and grade, with pinyin and initials
* `search_body`     — the description (text only: initials of a long text would match anything)

Both the columns and the query go through `normalize` (NFKC, lower case, single spaces), and the columns use a
binary collation on MariaDB, so `LIKE` compares the same bytes on both databases. A query is cut to
`MAX_QUERY_CHARS` characters and `MAX_TERMS` words; every word must match one of the columns (substring,
LIKE wildcards escaped), and a word found in the name weighs more than one in the subtitle, more than one
only in the description.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, load_phrases_dict, pinyin

MAX_QUERY_CHARS = 64
MAX_TERMS = 5
_SEPARATOR = "\n"  # never inside a query term (terms are split on whitespace)
_MAX_VARIANTS = 6
_SPACES = re.compile(r"\s+")

# Readings that pypinyin's phrase dictionary gets wrong for our goods.
load_phrases_dict(
    {
        "长粒": [["cháng"], ["lì"]],
        "长粒香": [["cháng"], ["lì"], ["xiāng"]],
        "五常": [["wǔ"], ["cháng"]],
    }
)


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


@lru_cache(maxsize=4096)
def pinyin_forms(text: str) -> tuple[str, ...]:
    """Full pinyin and initials of `text` (already normalised), with the other readings of polyphonic
    characters as extra variants: 长粒香 → changlixiang, zhanglixiang, clx, zlx."""
    if not _has_han(text):
        return ()
    readings = pinyin(text, style=Style.NORMAL, heteronym=True, errors="default")
    base = [r[0] for r in readings]
    variants = [base]
    for i, options in enumerate(readings):
        for alternative in options[1:]:
            if len(variants) >= _MAX_VARIANTS:
                break
            variant = list(base)
            variant[i] = alternative
            variants.append(variant)
    fulls: list[str] = []
    initials: list[str] = []
    for variant in variants:
        full = "".join(part.replace(" ", "") for part in variant)
        short = "".join(part[:1] for part in variant if part.strip())
        if full not in fulls:
            fulls.append(full)
        if short not in initials:
            initials.append(short)
    return tuple(fulls + initials)


def search_field(*texts: str | None, with_pinyin: bool = True) -> str:
    parts: list[str] = []
    for raw in texts:
        if not raw:
            continue
        text = normalize(raw)
        parts.append(text)
        if with_pinyin:
            parts.extend(pinyin_forms(text))
    return _SEPARATOR.join(parts)


def query_terms(q: str | None) -> list[str]:
    """The words of a shopper's query, normalised and capped (an empty list means no search)."""
    if not q:
        return []
    text = normalize(q[: MAX_QUERY_CHARS * 4])[:MAX_QUERY_CHARS]
    terms: list[str] = []
    for word in text.split(" "):
        if word and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]
