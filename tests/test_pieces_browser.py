"""Data in pieces in a real Chromium, in both languages: two monthly exports (an .xlsx and a GBK
CSV) chosen together load as one dataset; next month's file is added to it, then the second
month re-exported with a correction: nothing counts twice."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import require_chromium, settle, start_app
from kam_analytics.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "screenshots"

pytestmark = pytest.mark.browser

require_chromium("data-in-pieces browser tests")
from playwright.sync_api import expect  # noqa: E402

HEAD = "订单编号,客户编号,订单日期,金额"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pieces")
    url, process = start_app(folder / "kam.db", folder / "app.log", demo=False)
    yield url
    process.terminate()
    process.wait(timeout=20)


def _upload(page, files: list[Path]) -> None:
    page.locator('input[type="file"]').first.set_input_files([str(f) for f in files])
    expect(page.locator('[data-testid="stTextInput"]').first).to_be_visible(timeout=60_000)
    settle(page)


def _name(page, words, name: str) -> None:
    box = page.get_by_label(words["upload_name"]).first  # (the upload form's; a Spark form below has one too)
    box.fill(name)
    box.press("Enter")
    settle(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_monthly_files_load_together_and_the_next_month_is_added(server, browser, tmp_path, lang):
    words = catalog(lang)
    name = f"月报 {lang}"
    jan = tmp_path / "一月.xlsx"
    pd.DataFrame({"订单编号": ["O1", "O2"], "客户编号": ["A", "B"], "订单日期": ["2024-01-05", "2024-01-20"],
                  "金额": [100, 200]}).to_excel(jan, index=False)
    feb = tmp_path / "二月.csv"
    feb.write_bytes((HEAD + "\r\nO3,A,2024-02-03,70\r\n").encode("gb18030"))
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(f"{server}/data?lang={lang}")
    expect(page.locator("h1").first).to_have_text(words["data_title"], timeout=90_000)
    settle(page)
    _upload(page, [jan, feb])
    several = words["upload_several"].format(count="2", files=words["list_separator"].join(["一月.xlsx", "二月.csv"]),
                                             first="一月.xlsx")
    expect(page.get_by_text(several).first).to_be_visible()
    _name(page, words, name)
    page.get_by_role("button", name=words["upload_load"], exact=True).click()
    loaded = words["report_loaded"].format(dataset=name, rows="3", customers="2", revenue="370",
                                           start="2024-01-05", end="2024-02-03")
    expect(page.get_by_text(loaded).first).to_be_visible(timeout=90_000)
    settle(page)
    page.screenshot(path=str(SHOTS / f"{lang}_pieces_loaded.png"), full_page=True)
    # March, then February again with O3 corrected to 90: added to the dataset by orders
    mar = tmp_path / "三月.csv"
    mar.write_text(HEAD + "\nO4,C,2024-03-02,30\n", encoding="utf-8")
    feb.write_bytes((HEAD + "\r\nO3,A,2024-02-03,90\r\n").encode("gb18030"))
    for file in (mar, feb):
        page.goto(f"{server}/data?lang={lang}")
        expect(page.locator("h1").first).to_have_text(words["data_title"], timeout=90_000)
        settle(page)
        _upload(page, [file])
        _name(page, words, name)
        page.get_by_text(words["upload_existing_append"], exact=True).click()
        settle(page)
        page.get_by_role("button", name=words["upload_add"], exact=True).click()
        expect(page.get_by_text(words["report_appended"].split("“")[0]).first).to_be_visible(timeout=90_000)
        settle(page)
    # O1 100 + O2 200 + O3 90 (replacing 70) + O4 30
    appended = words["report_appended"].format(dataset=name, rows="4", customers="3", revenue="420",
                                               start="2024-01-05", end="2024-03-02")
    expect(page.get_by_text(appended).first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(SHOTS / f"{lang}_pieces_appended.png"), full_page=True)
    page.close()
