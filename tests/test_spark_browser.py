"""Every page on a dataset attached from Spark, in Chromium: the demo's lines written to
Parquet, attached from the Data page (as an editor would), then each page opened on it and on
the loaded original side by side — same headline figures, no error."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CHROMIUM, ROOT, settle, start_app
from kam_analytics import spark as engines
from kam_analytics.i18n import catalog

SHOTS = ROOT / "tests" / "screenshots"
PAGES = [("", "overview_title"), ("concentration", "concentration_title"), ("key_accounts", "key_accounts_title"),
         ("segments", "segments_title"), ("churn", "churn_title"), ("account", "account_title"), ("data", "data_title")]

pytestmark = [pytest.mark.browser, pytest.mark.spark, pytest.mark.slow]

if not Path(CHROMIUM).exists() or not engines.java_available():
    print("\nSpark browser test skipped: needs Debian's chromium and Java 17 (make browser java)")
    pytest.skip("needs chromium and Java 17", allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the dev requirements install it
    pytest.skip("playwright is not installed (make dev)", allow_module_level=True)


# the account page's P&L metrics: shown for the demo, which has a costs file, not for its copy
# attached to Spark (tests/test_spark.py compares the P&L on both engines)
PNL_LABELS = ("col_gross_profit", "col_cost_to_serve", "col_net_profit", "col_net_margin")


def test_attach_from_the_data_page_and_open_every_page_on_spark(tmp_path):
    from kam_analytics.store import Store

    db = tmp_path / "kam.db"
    url, process = start_app(db, tmp_path / "app.log")  # (a new store with the demo)
    try:
        words = catalog("en")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"{url}/data?lang=en")
            expect(page.locator("h1").first).to_have_text(words["data_title"], timeout=90_000)
            settle(page, timeout=240_000)
            with Store.open(db) as store:
                demo = store.datasets()[0]
                parquet = tmp_path / "demo.parquet"
                store.cursor().execute(f"COPY (SELECT * FROM {demo.table_name}) TO '{parquet}' (FORMAT parquet)")
            page.get_by_role("tab", name=words["data_tab_attach"]).click()
            page.get_by_role("textbox", name=words["attach_table"]).fill(f"parquet.`{parquet}`")
            page.get_by_label(words["upload_name"]).last.fill("demo on spark")
            page.get_by_role("button", name=words["attach_go"]).click()
            expect(page.get_by_text("Attached “demo on spark”: 55,092 lines, 1,500 customers").first) \
                .to_be_visible(timeout=240_000)
            page.screenshot(path=str(SHOTS / "spark_attach.png"), full_page=True)
            with Store.open(db) as store:
                spark_id = store.dataset("demo on spark").id
                assert store.dataset("demo on spark").engine == "spark"
            shown = {}
            for ds in (demo.id, spark_id):
                for path, title in PAGES:
                    page.goto(f"{url}/{path}?lang=en&ds={ds}")
                    expect(page.locator("h1").first).to_have_text(words[title], timeout=240_000)
                    settle(page, timeout=240_000)
                    if ds == spark_id:  # (a page on Spark may still be computing its figures after a first settle)
                        expect(page.locator('[data-testid="stMetricValue"]')).to_have_count(
                            len(shown[(demo.id, path)]), timeout=240_000)
                        settle(page, timeout=240_000)
                    assert page.locator('[data-testid="stException"]').count() == 0, (ds, path)
                    assert page.locator('[data-testid="stAlert"]').filter(
                        has_text="Something went wrong").count() == 0, (ds, path)
                    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
                    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
                    pnl = {words[k] for k in PNL_LABELS}
                    shown[(ds, path)] = [v for label, v in zip(labels, values) if label.strip() not in pnl]
                    if ds == spark_id:
                        page.screenshot(path=str(SHOTS / f"spark_{path or 'overview'}.png"), full_page=True)
            browser.close()
        for path, _ in PAGES:  # the same headline figures on both engines
            assert shown[(spark_id, path)] == shown[(demo.id, path)], path
        assert shown[(spark_id, "")][:2] == ["1.1B", "1,500"]
    finally:
        process.terminate()
        process.wait(timeout=30)
