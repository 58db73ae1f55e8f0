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
    (0.0, "zh", "0"), (-0.001, "en", "0"), (0.01, "en", "0.01"),  # nothing at all reads as 0, not 0.00
])
def test_format_amount(value, lang, expected):
    assert format_amount(value, lang) == expected


def test_format_share_and_fallback(monkeypatch):
    assert format_share(0.1234) == "12.3%"
    monkeypatch.delenv("KAM_STRICT_I18N")  # the app's behaviour: never crash over a string
    assert t("no.such.key", "zh") == "no.such.key"
    # a placeholder left unfilled: the text is shown unformatted rather than not at all
    assert t("dataset_unknown", "en", name="x") == "There is no dataset called '{name}'. Datasets in the store: {names}."


def test_strict_mode_fails_loudly():
    from kam_analytics.i18n import CatalogError

    with pytest.raises(CatalogError, match="no.such.key"):
        t("no.such.key", "zh")
    with pytest.raises(CatalogError, match="names"):
        t("dataset_unknown", "en", name="x")


@pytest.mark.parametrize("lang,items,sentences,expected", [
    ("zh", ["铂金", "黄金"], False, "铂金、黄金"), ("en", ["platinum", "gold"], False, "platinum, gold"),
    ("zh", ["a, b", "c"], True, "a, b；c"), ("en", ["a, b", "c"], True, "a, b; c"), ("en", [], False, ""),
])
def test_lists_are_joined_as_the_language_writes_them(lang, items, sentences, expected):
    from kam_analytics.i18n import join_list

    assert join_list(items, lang, sentences) == expected


@pytest.mark.parametrize("customer_id,name,expected", [
    ("C0001", "北京华信", "C0001 · 北京华信"), ("C0001", None, "C0001"), ("C0001", "C0001", "C0001"),
    ("C0001", " ", "C0001"), (12923, float("nan"), "12923"),
])
def test_customer_label(customer_id, name, expected):
    from kam_analytics.i18n import customer_label

    assert customer_label(customer_id, name) == expected
    assert t("dataset_unknown", "zh", name="x", names="y") == "没有名为“x”的数据集。现有数据集：y。"


def test_streamlits_own_english_is_hidden_or_replaced_in_chinese():
    from ui.chrome import css_text, style_sheet

    zh, en = style_sheet("zh", 1024), style_sheet("en", 1024)
    assert 'button[aria-label="Show data"]' in en and 'button[aria-label="Show data"]' in zh
    assert '[data-testid="stMainMenu"]{display:none}' in zh and "stMainMenu" not in en
    assert 'content:"将文件拖到此处 · 每个文件最大 1 GB"' in zh and 'content:"选择文件"' in zh
    assert "1 GB" not in en  # the English page keeps Streamlit's own English
    # a catalog text cannot end the rule or the style element
    assert css_text('a"b\\c</style>') == '"a\\22 b\\5c c\\3c /style\\3e "'
