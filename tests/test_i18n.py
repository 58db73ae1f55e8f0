"""Both catalogs hold the same keys and the same placeholders; number formats per language."""
from __future__ import annotations

import re

import pytest

from kam_analytics.i18n import catalog, format_amount, format_share, t


def test_catalogs_have_the_same_keys():
    assert set(catalog("en")) == set(catalog("zh"))


def test_placeholders_match_and_no_empty_strings():
    for key in catalog("en"):
        en, zh = catalog("en")[key], catalog("zh")[key]
        assert en.strip() and zh.strip(), key
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", zh)), key


def test_chinese_strings_are_chinese():
    # every Chinese entry that has letters in English has some CJK in Chinese (not left in English)
    for key, en in catalog("en").items():
        zh = catalog("zh")[key]
        if re.search(r"[A-Za-z]{4,}", re.sub(r"{\w+}|--?[\w-]+|[\w.]+\.py|KAM Analytics|CSV|Excel|Parquet|TSV|TXT|"
                                            r"UTF-\d+|WPS|ABC|HHI|Gini|RFM|AUC|ASC \d+|GAAP", "", en)):
            assert re.search(r"[\u4e00-\u9fff]", zh), key


@pytest.mark.parametrize("value,lang,expected", [
    (123456789.0, "zh", "1.2亿"), (2_345_678.0, "zh", "234.6万"), (9_999.0, "zh", "9,999"),
    (123456789.0, "en", "123.5M"), (2_345.0, "en", "2.3K"), (1_500_000_000.0, "en", "1.5B"),
    (-2_345_678.0, "zh", "-234.6万"), (12.5, "en", "12.50"), (None, "en", "–"),
])
def test_format_amount(value, lang, expected):
    assert format_amount(value, lang) == expected


def test_format_share_and_fallback():
    assert format_share(0.1234) == "12.3%"
    assert t("no.such.key", "zh") == "no.such.key"
    assert t("dataset_unknown", "zh", name="x", names="y") == "没有名为“x”的数据集。现有数据集：y。"
