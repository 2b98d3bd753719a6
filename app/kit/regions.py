"""China's 34 provincial-level divisions (GB/T 2260) and the one function that maps what people type to them.

An address's province is one of `PROVINCES`, stored by its canonical name; the API, the pages and the
shipping fee all go through `canonical()`. Free text decided the remote-area surcharge before, and an invisible
character, a "中国" in front, a traditional character or pinyin dodged it: whatever reaches `canonical()` is
normalised first, then matched whole against the known forms of each name, so every spelling of a remote
province is that province, and anything else is no province at all.

Normalising: Unicode NFKC (full-width letters, compatibility ideographs, Kangxi radicals), then tone marks,
invisible and format characters (category Cf: zero-width space and joiners, BOM, bidi controls...), other
default-ignorable characters (variation selectors, Hangul fillers), whitespace, control characters and
punctuation are dropped; Latin letters are lower-cased; traditional and variant characters become the
simplified ones; a leading 中国 / 中华人民共和国 (or China / PRC / zhongguo) is dropped.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import NamedTuple


class Province(NamedTuple):
    code: str  # GB/T 2260, the first two digits
    name: str  # the canonical (full) name, as stored
    short: str  # the common short form
    latin: tuple[str, ...]  # pinyin and English forms, lower case, letters only


_DIVISIONS = (
    Province("11", "北京市", "北京", ("beijing", "peking")),
    Province("12", "天津市", "天津", ("tianjin",)),
    Province("13", "河北省", "河北", ("hebei",)),
    Province("14", "山西省", "山西", ("shanxi",)),
    Province("15", "内蒙古自治区", "内蒙古", ("neimenggu", "neimeng", "neimongol", "innermongolia")),
    Province("21", "辽宁省", "辽宁", ("liaoning",)),
    Province("22", "吉林省", "吉林", ("jilin",)),
    Province("23", "黑龙江省", "黑龙江", ("heilongjiang",)),
    Province("31", "上海市", "上海", ("shanghai",)),
    Province("32", "江苏省", "江苏", ("jiangsu",)),
    Province("33", "浙江省", "浙江", ("zhejiang",)),
    Province("34", "安徽省", "安徽", ("anhui",)),
    Province("35", "福建省", "福建", ("fujian",)),
    Province("36", "江西省", "江西", ("jiangxi",)),
    Province("37", "山东省", "山东", ("shandong",)),
    Province("41", "河南省", "河南", ("henan",)),
    Province("42", "湖北省", "湖北", ("hubei",)),
    Province("43", "湖南省", "湖南", ("hunan",)),
    Province("44", "广东省", "广东", ("guangdong",)),
    Province("45", "广西壮族自治区", "广西", ("guangxi",)),
    Province("46", "海南省", "海南", ("hainan",)),
    Province("50", "重庆市", "重庆", ("chongqing",)),
    Province("51", "四川省", "四川", ("sichuan",)),
    Province("52", "贵州省", "贵州", ("guizhou",)),
    Province("53", "云南省", "云南", ("yunnan",)),
    Province("54", "西藏自治区", "西藏", ("xizang", "tibet")),
    Province("61", "陕西省", "陕西", ("shaanxi",)),
    Province("62", "甘肃省", "甘肃", ("gansu",)),
    Province("63", "青海省", "青海", ("qinghai",)),
    Province("64", "宁夏回族自治区", "宁夏", ("ningxia",)),
    Province("65", "新疆维吾尔自治区", "新疆", ("xinjiang", "sinkiang")),
    Province("71", "台湾省", "台湾", ("taiwan",)),
    Province("81", "香港特别行政区", "香港", ("xianggang", "hongkong")),
    Province("82", "澳门特别行政区", "澳门", ("aomen", "macao", "macau")),
)

# The canonical names, in GB/T 2260 order: the choices of every address form.
PROVINCES: tuple[str, ...] = tuple(p.name for p in _DIVISIONS)
BY_NAME = {p.name: p for p in _DIVISIONS}

_CHINESE = (
    {p.short: p.name for p in _DIVISIONS} | {p.name: p.name for p in _DIVISIONS} | {"内蒙": "内蒙古自治区"}
)
_LATIN = {form: p.name for p in _DIVISIONS for form in p.latin}

# Endings peeled off one at a time (longest first) until what is left is a known short name.
_CHINESE_ENDINGS = ("特别行政区", "维吾尔族", "自治区", "维吾尔", "壮族", "回族", "中国", "省", "市")
_LATIN_ENDINGS = tuple(
    sorted(
        (
            "specialadministrativeregion",
            "tebiexingzhengqu",
            "autonomousregion",
            "zizhiqu",
            "region",
            "province",
            "municipality",
            "city",
            "sheng",
            "shi",
            "sar",
            "uygur",
            "uyghur",
            "uighur",
            "weiwuerzu",
            "weiwuer",
            "zhuangzu",
            "zhuang",
            "huizu",
            "hui",
            "china",
            "prc",
        ),
        key=len,
        reverse=True,
    )
)
_PREFIXES = (
    "中华人民共和国",
    "中国",
    "peoplesrepublicofchina",
    "zhonghuarenmingongheguo",
    "zhongguo",
    "china",
    "prc",
)

# Traditional and variant forms of the characters in the names (and in 中国 / 中华人民共和国).
_SIMPLIFIED = str.maketrans(
    {
        "內": "内",
        "遼": "辽",
        "寧": "宁",
        "龍": "龙",
        "蘇": "苏",
        "東": "东",
        "廣": "广",
        "広": "广",
        "壯": "壮",
        "慶": "庆",
        "貴": "贵",
        "雲": "云",
        "陝": "陕",
        "肅": "肃",
        "靑": "青",
        "維": "维",
        "爾": "尔",
        "區": "区",
        "臺": "台",
        "灣": "湾",
        "門": "门",
        "別": "别",
        "國": "国",
        "華": "华",
        "⻄": "西",
        "⻘": "青",
        "⻔": "门",
        "⻰": "龙",
        "⻓": "长",
        "彊": "疆",
    }
)

# Default-ignorable characters that are not of category Cf, Mn or whitespace (Hangul fillers and the like).
_IGNORABLE = frozenset("\u115f\u1160\u3164\uffa0\u17b4\u17b5\u2800")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me", "Zs", "Zl", "Zp"})


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    kept = (
        ch
        for ch in text
        if ch not in _IGNORABLE
        and unicodedata.category(ch) not in _DROPPED_CATEGORIES
        and not unicodedata.category(ch).startswith("P")
    )
    return unicodedata.normalize("NFC", "".join(kept)).lower().translate(_SIMPLIFIED)


def _strip_country(text: str) -> str:
    """Without a leading 中国 / China... in either script (中国Xinjiang, China新疆)."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if text.startswith(prefix) and len(text) > len(prefix):
                text, stripped = text[len(prefix) :], True
                break
    return text


def _match(text: str, known: dict[str, str], endings: tuple[str, ...]) -> str | None:
    while True:
        if text in known:
            return known[text]
        for ending in endings:
            if text.endswith(ending) and len(text) > len(ending):
                text = text[: -len(ending)]
                break
        else:
            return None


@functools.lru_cache(maxsize=4096)  # checkout maps the address's province on every order; few names recur
def canonical(text: str | None) -> str | None:
    """The canonical name of the province `text` names, or None when it names none."""
    if not text or len(text) > 200:
        return None
    cleaned = _strip_country(_clean(text))
    if cleaned.isascii():
        return _match(cleaned, _LATIN, _LATIN_ENDINGS)
    return _match(cleaned, _CHINESE, _CHINESE_ENDINGS)


def province_or_error(text: str) -> str:
    """For validators: the canonical name, or ValueError with a message that lists where to look."""
    name = canonical(text)
    if name is None:
        raise ValueError("not a province-level division of China (GB/T 2260); choose one of the list")
    return name
