"""Every user-visible string, in 中文 and English, from ``locales/<lang>.json``.

``t(key, lang, **params)`` formats the catalog entry with ``str.format``. A key missing in a
catalog, or a placeholder the caller does not fill, is a bug: with KAM_STRICT_I18N=1 (set by
the tests) it raises; otherwise it falls back to English, then to the key itself, and to the
unformatted text, so a page never crashes over a string.
"""
from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("zh", "en")
_LOCALES = Path(__file__).with_name("locales")


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    with open(_LOCALES / f"{lang}.json", encoding="utf-8") as fh:
        return json.load(fh)


def normalise_lang(lang: str | None) -> str:
    """'zh-CN', 'zh_TW', 'ZH' -> 'zh'; anything not Chinese -> 'en'."""
    return "zh" if str(lang or "").lower().startswith("zh") else "en"


class CatalogError(KeyError):
    """A catalog key missing, or a placeholder left unfilled (raised only in strict mode)."""


def _strict() -> bool:
    return os.environ.get("KAM_STRICT_I18N") == "1"


def t(key: str, lang: str = "en", **params) -> str:
    text = catalog(normalise_lang(lang)).get(key)
    if text is None:
        if _strict():
            raise CatalogError(f"no catalog entry {key!r} in {normalise_lang(lang)}")
        text = catalog("en").get(key) or key
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError) as error:
        if _strict():
            raise CatalogError(f"catalog entry {key!r}: {type(error).__name__} {error}") from None
        return text


def join_list(items, lang: str, sentences: bool = False) -> str:
    """Items joined as the language writes a list: '、' in 中文 and ', ' in English; with
    ``sentences`` (items that hold commas themselves) '；' and '; '."""
    return t("list_separator_sentences" if sentences else "list_separator", lang).join(str(i) for i in items)


def sentences(items, lang: str) -> str:
    """Whole sentences one after the other as the language writes them: a space between them
    in English, none in 中文."""
    text = ""
    for item in items:
        text = t("two_sentences", lang, first=text, second=item) if text else str(item)
    return text


def customer_label(customer_id, name=None) -> str:
    """How a customer is named in lists, charts and pickers: 'C0001 · 北京华信' when it has a
    name that says more than its id, else the id alone."""
    customer_id = str(customer_id)
    if isinstance(name, str) and name.strip() and name != customer_id:
        return f"{customer_id} · {name}"
    return customer_id


def format_amount(value: float | None, lang: str, decimals: int = 1) -> str:
    """A money amount for display: 中文 uses 万 (1e4) and 亿 (1e8); English uses K, M and B.

    Amounts below 10,000 (zh) / 1,000 (en) are shown in full with thousands separators;
    nothing at all (under half a cent either way) as '0'. None or NaN shows as '–'.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if abs(value) < 0.005:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    size, suffix = amount_unit(magnitude, lang)
    if suffix:
        return f"{sign}{magnitude / size:,.{decimals}f}{suffix}"
    return f"{sign}{magnitude:,.0f}" if magnitude >= 100 else f"{sign}{magnitude:,.2f}"


def format_exact(value: float | None) -> str:
    """A money amount to the cent with thousands separators (the exact value behind a rounded
    ``format_amount``): 251234567.891 -> '251,234,567.89'; None or NaN -> '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = round(float(value), 2)
    return f"{value + 0.0:,.2f}"  # (+ 0.0: no '-0.00')


def amount_unit(magnitude: float, lang: str) -> tuple[float, str]:
    """The unit a money amount of this size is written in, (size, suffix): 中文 1e8 '亿' from
    1亿 up, 1e4 '万' from 1万 up; English 1e9 'B', 1e6 'M', 1e3 'K' likewise; below those
    (1, ''). The sign is ignored; NaN gets (1, '')."""
    magnitude = abs(float(magnitude))
    steps = [(1e8, "亿"), (1e4, "万")] if normalise_lang(lang) == "zh" else [(1e9, "B"), (1e6, "M"), (1e3, "K")]
    return next(((size, suffix) for size, suffix in steps if magnitude >= size), (1.0, ""))


def format_share(value: float | None, decimals: int = 1) -> str:
    """A fraction 0–1 as a percentage string: 0.1234 -> '12.3%'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value * 100:.{decimals}f}%"


def format_count(value: int | float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{int(value):,}"
