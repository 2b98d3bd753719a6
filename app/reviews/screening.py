"""What a review's text may not carry: the shop's banned words (REVIEW_BANNED_WORDS), and contact details
(contact spam: links, phone or QQ numbers, WeChat ids), however they are disguised.

The text is folded before it is searched: NFKC (full-width ０-９ and ａ-ｚ, circled ①, become plain), lower
case, Chinese digits (一 二 … 幺 零) become digits, and the separators people put between digits or around
a dot (spaces, dashes, dots, 。 点) go away. Then "1 3 8-0013-8000", "１３８００１３８０００", "幺三八…",
"vx", "微 信", "加V", "daoxiang点com" and "www.example.cn" are all caught.
"""

from __future__ import annotations

import re
import unicodedata

from app.config import get_settings
from app.reviews.errors import ReviewRejected

_CN_DIGITS = str.maketrans("〇零一壹幺二贰两三叁四肆五伍六陆七柒八捌九玖", "0011122233445566778899")
_GAPS = re.compile(r"[\s\-_.·•・,，、/|+*~()（）\[\]【】'\"“”‘’]+")
_DIGITS = re.compile(r"\d{7,}")  # phone (7–8 landline, 11 mobile) or QQ numbers
# Numbers a rice review may carry and that are not contacts: dates (2026-11-30, 2026年11月30日) and batch
# numbers (WC-2026-001); taken out before the digits are counted.
_HARMLESS = re.compile(
    r"(?:19|20)\d{2}\s*[-./年]\s*\d{1,2}\s*[-./月]\s*\d{1,2}\s*[日号]?|[a-z]{2,4}-\d{4}-\d{1,6}"
)
_CONTACT_WORDS = re.compile(
    r"微信|薇信|威信|徽信|v信|vx|wx号|weixin|wechat|加v|加微|qq号|qq:|扣扣|企鹅号|联系方式|私信我"
)
_URL = re.compile(
    r"https?:|www\.|://|[a-z0-9][a-z0-9-]*(?:\.|点|dot)(?:com|cn|net|org|top|xyz|cc|vip|shop|io|me|info|link|site|club)(?![a-z])"
)
_URL_PLAIN = re.compile(
    r"[a-z0-9-]+(?:。|点|dot)(?:com|cn|net|org|top|xyz|cc|vip|shop|io|me|info|link|site|club)"
)


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().translate(_CN_DIGITS)


def banned_words() -> list[str]:
    return [w.strip() for w in get_settings().review_banned_words.split(",") if w.strip()]


def found_banned(text: str) -> list[str]:
    folded = _GAPS.sub("", fold(text))
    return [w for w in banned_words() if _GAPS.sub("", fold(w)) in folded]


def has_contact(text: str) -> bool:
    folded = fold(text)
    squeezed = _GAPS.sub("", _HARMLESS.sub(" ", folded))
    if _DIGITS.search(squeezed) or _CONTACT_WORDS.search(squeezed):
        return True
    spaced = re.sub(r"\s+", "", folded).replace("。", ".")
    return bool(_URL.search(spaced) or _URL_PLAIN.search(squeezed))


def check(text: str) -> None:
    """Raise ReviewRejected (422 `review_rejected`) naming the banned words, or for contact details."""
    words = found_banned(text)
    if words:
        raise ReviewRejected(f"评价含有不允许的词语：{'、'.join(words)}", reason="banned_words", words=words)
    if has_contact(text):
        raise ReviewRejected("评价中不能留联系方式（链接、电话、微信、QQ 等）。", reason="contact", words=[])
