"""More flows in a real Chromium against `streamlit run app.py` on the demo store (split from
test_browser.py so two test workers share them): an upload's session folder, the overview's
links to the churn lists, receivables on the page and from a file, and the review on file."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import require_chromium, run_cli, settle, start_app
from kam_analytics.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "screenshots"

pytestmark = pytest.mark.browser
STORE: dict = {}  # the server's store file (``server``), for the command line beside the browser

require_chromium("browser tests")
from playwright.sync_api import expect  # noqa: E402
from test_browser import _visit, titled_chart  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app (`python -m ui.serve`, as `make run` starts it) on a free port with a fresh store (seeded with the demo on start)."""
    store = tmp_path_factory.mktemp("browser_flows") / "kam.db"
    url, process = start_app(store, store.with_suffix(".log"))
    STORE["path"] = store
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_an_upload_waits_in_its_session_folder_and_goes_when_the_session_ends(browser, tmp_path):
    # a file chosen but not loaded is kept for its session only: another session's periodic
    # check removes it within 15 s of the first session's tab closing
    db = tmp_path / "kam.db"
    url, process = start_app(db, tmp_path / "app.log")
    try:
        uploads = db.parent / "tmp" / "uploads"
        csv = tmp_path / "pending.csv"
        csv.write_text("customer_id,order_date,amount\nP1,2024-01-01,10\n", encoding="utf-8")
        first = browser.new_page()
        _visit(first, f"{url}/data?lang=en", catalog("en")["data_title"], "upload_pending")
        first.locator('input[type="file"]').first.set_input_files(str(csv))
        expect(first.get_by_text("UTF-8").first).to_be_visible(timeout=60_000)
        [session] = list(uploads.iterdir())
        assert [p.name for p in session.glob("*/*")] == ["pending.csv"]
        second = browser.new_page()
        _visit(second, f"{url}/?lang=en", catalog("en")["overview_title"], "upload_pending_other")
        first.close()
        deadline = time.time() + 40
        while session.exists() and time.time() < deadline:
            time.sleep(1)
        assert not session.exists()
        second.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_links_to_both_churn_lists_and_the_model_card(server, browser, lang):
    # the overview counts the key accounts that lapsed by their own rhythm and names the largest;
    # its link opens exactly that list: as many accounts, the named one first
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    _visit(page, f"{server}/?lang={lang}", words["overview_title"], f"{lang}_overview_links")
    # the key accounts' outlook: the 90 days after the data's end (2025-12-31) against the
    # same days a year earlier
    expect(page.get_by_text(words["outlook_title"].format(days=90))).to_be_visible()
    caption = page.get_by_text("2026-01-01").first
    expect(caption).to_contain_text("2026-03-31")
    expect(caption).to_contain_text("2025-01-01")
    sentence = re.escape(words["attention_lapsed"])
    for name, pattern in (("count", r"(?P<count>\d+)"), ("customer", r"(?P<customer>.+?)")):
        sentence = sentence.replace(re.escape("{" + name + "}"), pattern)
    sentence = re.sub(r"\\\{\w+\\\}", ".+?", sentence)
    found = re.search(sentence, page.inner_text('[data-testid="stMain"]'))
    assert found, "no lapsed key accounts on the overview"
    count, customer = int(found["count"]), found["customer"]
    page.get_by_role("button", name=words["open_churn_lapsed"]).first.click()
    expect(page.locator("h1").first).to_have_text(words["churn_title"], timeout=90_000)
    page.get_by_text(words["churn_days_silent"]).first.wait_for(state="attached", timeout=120_000)
    settle(page)
    accounts = page.locator('[data-testid="stMetric"]').filter(has_text=words["churn_accounts"])
    expect(accounts.locator('[data-testid="stMetricValue"]')).to_have_text(f"{count:,}")
    assert page.get_by_text(customer, exact=True).count() >= 1
    expect(page.get_by_text(words["churn_revenue_last_year"]).first).to_be_visible()
    page.screenshot(path=str(SHOTS / f"{lang}_churn_lapsed.png"), full_page=True)
    page.get_by_text(words["churn_list_at_risk"], exact=True).click()
    page.get_by_text(words["churn_expected_revenue"]).first.wait_for(state="attached", timeout=120_000)
    settle(page)
    expect(page.get_by_text(customer, exact=True)).to_have_count(0, timeout=60_000)  # (the old grid goes last)
    page.screenshot(path=str(SHOTS / f"{lang}_churn_at_risk.png"), full_page=True)
    page.get_by_role("tab", name=words["churn_tab_card"]).click()
    expect(page.locator(".js-plotly-plot .gtitle").filter(has_text=words["churn_reliability_chart"]).first) \
        .to_be_visible(timeout=180_000)
    expect(page.get_by_text(words["churn_card_calibration"]).first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / f"{lang}_churn_card.png"), full_page=True)
    # did follow-ups help: the demo's data ends in 2025 and its follow-ups (none yet) are dated
    # today, so none falls within 14 days after the replay date: the page says so
    page.get_by_role("tab", name=words["churn_tab_post_mortem"]).click()
    replay = "2025-10-02"  # the data's end 2025-12-31 minus the 90-day horizon
    expect(page.get_by_text(words["churn_followup_effect_no_followups"].format(days=14, date=replay))) \
        .to_be_visible(timeout=180_000)
    page.screenshot(path=str(SHOTS / f"{lang}_churn_followup_effect.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_receivables_page_finds_the_slow_payers_and_exports(server, browser, tmp_path, lang):
    # the demo plants C0020–C0024 paying 60–150 days after the due date; they are not key
    # accounts, so they show once the list is all customers
    import pandas as pd

    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    _visit(page, f"{server}/receivables?lang={lang}", words["receivables_title"], f"{lang}_receivables")
    expect(page.get_by_text(words["recv_dso"]).first).to_be_visible()
    page.get_by_text(words["recv_scope_all"], exact=True).click()
    settle(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=words["recv_download_csv"]).click()
    path = tmp_path / f"receivables-{lang}.csv"
    download.value.save_as(path)
    # the page's language over numbers
    owed = pd.read_csv(path, encoding="utf-8-sig", dtype={words["col_customer_id"]: str}).set_index(words["col_customer_id"])
    assert len(owed) == 1500
    buckets = [words[f"recv_{b}"] for b in ("not_due", "overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_90_plus")]
    assert ((owed[buckets].sum(axis=1) - owed[words["recv_outstanding"]]).abs() < 0.05).all()  # the buckets add up
    slow = owed.index[owed[words["recv_flags"]].fillna("").str.contains(words["receivables_flag_slow_payer"], regex=False)]
    assert sorted(slow) == ["C0020", "C0021", "C0022", "C0023", "C0024"]
    page.get_by_role("tab", name=words["recv_tab_deterioration"]).click()
    page.get_by_text("C0020", exact=True).first.wait_for(state="attached", timeout=120_000)
    settle(page)
    page.screenshot(path=str(SHOTS / f"{lang}_receivables_worse.png"), full_page=True)
    page.get_by_role("tab", name=words["recv_tab_exposure"]).click()
    expect(titled_chart(page, words["chart_pareto"].format(measure=words["measure_receivables"]))) \
        .to_be_visible(timeout=60_000)
    page.screenshot(path=str(SHOTS / f"{lang}_receivables_exposure.png"), full_page=True)
    _visit(page, f"{server}/account?lang={lang}&account=C0020", words["account_title"], f"{lang}_account_receivables")
    expect(page.get_by_role("heading", name=words["account_receivables"])).to_be_visible(timeout=60_000)
    page.get_by_text(words["recv_why_slow_payer"].split("{")[0].strip() or words["recv_days_late"]).first.wait_for(
        state="attached", timeout=60_000)
    page.close()


def test_a_receivables_file_attached_in_the_browser_is_analysed(browser, tmp_path):
    # the hand-worked export of test_receivables (GB18030, 10 rows: 7 loaded, 3 refused):
    # as of 2024-06-30 A owes 750 and B 600
    from test_receivables import AR_FILE

    db = tmp_path / "kam.db"
    sales = tmp_path / "sales.csv"
    sales.write_text("客户编号,订单日期,金额\nA,2024-01-05,100\nZ,2024-06-30,50\n", encoding="utf-8")
    assert run_cli("ingest", sales, "--dataset", "销售", db=db).returncode == 0
    export = tmp_path / "应收账款.csv"
    export.write_bytes(AR_FILE.encode("gb18030"))
    url, process = start_app(db, tmp_path / "app.log", demo=False)
    try:
        zh = catalog("zh")
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        _visit(page, f"{url}/data?lang=zh", zh["data_title"], "recv_file_0")
        page.get_by_role("tab", name=zh["data_tab_manage"]).click()
        expect(page.get_by_text(zh["recv_file_title"]).first).to_be_visible(timeout=60_000)
        page.locator('[data-testid="stFileUploader"]').filter(has_text=zh["recv_file_upload"]) \
            .locator('input[type="file"]').set_input_files(str(export))
        settle(page)
        page.get_by_role("button", name=zh["recv_file_attach"].format(name="销售")).click()
        loaded = zh["recv_file_loaded"].format(file="应收账款.csv", rows=7, invoices=5, customers=2, matched=1)
        expect(page.get_by_text(loaded, exact=False).first).to_be_visible(timeout=90_000)
        expect(page.get_by_text(zh["recv_file_undated"].format(count=1), exact=False).first).to_be_visible()
        page.screenshot(path=str(SHOTS / "recv_file_1_attached.png"), full_page=True)
        _visit(page, f"{url}/receivables?lang=zh&period=custom&start=2024-01-01&end=2024-06-30", zh["receivables_title"],
               "recv_file_2_page")
        metrics = page.locator('[data-testid="stMetricValue"]')
        expect(metrics.nth(0)).to_have_text("1,350")  # 750 + 600
        page.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_review_made_in_the_browser_compares_and_prints(server, browser, tmp_path):
    """Two reviews of the demo created on the Reviews page in Chinese, compared in English; the
    PDF downloaded in each language holds the comparison the command line gives."""
    import json

    import pypdf

    from kam_analytics.i18n import format_amount, format_share

    zh, en = catalog("zh"), catalog("en")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    _visit(page, f"{server}/reviews?lang=zh", zh["reviews_title"], "zh_reviews_empty")
    expect(page.get_by_text(zh["reviews_none"])).to_be_visible()
    for day in ("2025/09/30", "2025/12/31"):
        for part, value in zip(("year", "month", "day"), day.split("/")):  # (the date's segments, as a user types them)
            page.get_by_role("spinbutton", name=f"{part}, {zh['reviews_as_of']}").click()
            page.keyboard.type(value)
        page.keyboard.press("Escape")  # (the calendar a click opens, closed)
        page.get_by_role("button", name=zh["reviews_create"]).click()
        expect(page.get_by_text(re.compile(f"（截至 {day.replace('/', '-')}）已存档"))).to_be_visible(timeout=120_000)
        settle(page)
    listed = json.loads(run_cli("review", "list", "--dataset", "演示数据 Demo", "--json", db=STORE["path"]).stdout.splitlines()[-1])
    second, first = [r["review_id"] for r in listed["reviews"][:2]]
    compared = json.loads(run_cli("review", "compare", "--dataset", "演示数据 Demo", "--from", first, "--to", second,
                                  "--json", db=STORE["path"]).stdout.splitlines()[-1])["bridge"]
    page.screenshot(path=str(SHOTS / "zh_reviews.png"), full_page=True)
    expect(page.get_by_text(format_share(compared["nrr"])).first).to_be_visible()
    texts = {}
    for lang, words in (("zh", zh), ("en", en)):
        if lang == "en":
            _visit(page, f"{server}/reviews?lang=en", en["reviews_title"], "en_reviews")
            expect(page.get_by_text(format_amount(compared["start_revenue"], "en")).first).to_be_visible()
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name=words["reviews_download_pdf"]).click()
        path = tmp_path / f"review-{lang}.pdf"
        download.value.save_as(path)
        texts[lang] = "\n".join(p.extract_text() for p in pypdf.PdfReader(path).pages)
        settle(page)
    page.close()
    for lang in ("zh", "en"):
        assert format_share(compared["nrr"]) in texts[lang] and format_amount(compared["end_revenue"], lang) in texts[lang]
    assert "华信控股集团" in texts["zh"] or "有限公司" in texts["zh"]  # Chinese names as text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_demo_key_account_that_loses_money_after_its_costs(server, browser, lang):
    # the demo's costs file: C0337 is a key account profitable on gross margin, a loss once its
    # dedicated staff, rebates and logistics are counted (tests/test_costs.py works it out)
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    _visit(page, f"{server}/key_accounts?lang={lang}", words["key_accounts_title"], f"{lang}_key_accounts_costs")
    page.get_by_role("tab", name=words["ka_tab_loss"]).click()
    page.get_by_text("C0337", exact=True).first.wait_for(state="attached", timeout=120_000)
    settle(page)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / f"{lang}_key_accounts_loss.png"), full_page=True)
    _visit(page, f"{server}/account?lang={lang}&account=C0337", words["account_title"], f"{lang}_account_pnl")
    expect(page.get_by_role("heading", name=words["account_pnl"])).to_be_visible(timeout=60_000)
    expect(titled_chart(page, words["pnl_waterfall_title"])).to_be_visible(timeout=60_000)
    net = page.locator('[data-testid="stMetric"]').filter(has_text=words["col_net_profit"])
    expect(net.locator('[data-testid="stMetricValue"]')).to_contain_text("-")
    page.wait_for_timeout(1500)  # let Plotly draw before the screenshot
    page.screenshot(path=str(SHOTS / f"{lang}_account_pnl.png"), full_page=True)
    page.close()
