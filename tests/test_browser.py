"""A real Chromium (Debian's package) driven by Playwright against `streamlit run app.py` on a
fresh store: every page in both languages, a language switch, and the upload of a
GB18030-encoded CSV with Chinese headers. Screenshots go to tests/screenshots/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import require_chromium, settle, start_app
from kam_analytics.i18n import catalog

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "screenshots"
# the README's pictures of the product (docs/img/), retaken on every run so they show the pages as they are
README_SHOTS = {("zh", ""): "overview_zh", ("en", "concentration"): "concentration_en", ("en", "churn"): "churn_en"}
PAGES = [("", "overview_title"), ("concentration", "concentration_title"), ("key_accounts", "key_accounts_title"),
         ("segments", "segments_title"), ("churn", "churn_title"), ("receivables", "receivables_title"), ("account", "account_title"),
         ("reviews", "reviews_title"), ("alerts", "alerts_title"), ("data", "data_title")]

pytestmark = pytest.mark.browser
STORE: dict = {}  # the server's store file (``server``), for the command line beside the browser

require_chromium("browser tests")
from playwright.sync_api import Error as PlaywrightError, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app (`python -m ui.serve`, as `make run` starts it) on a free port with a fresh store (seeded with the demo on start)."""
    store = tmp_path_factory.mktemp("browser") / "kam.db"
    url, process = start_app(store, store.with_suffix(".log"))
    STORE["path"] = store
    yield url
    process.terminate()
    process.wait(timeout=20)


def _visit(page, url: str, title: str, shot: str) -> None:
    page.goto(url)
    expect(page.locator("h1").first).to_have_text(title, timeout=90_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {url}"
    SHOTS.mkdir(exist_ok=True)
    page.wait_for_timeout(1500)  # let Plotly draw before the screenshot
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


def test_every_page_in_both_languages(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    for lang in ("zh", "en"):
        for path, title_key in PAGES:
            _visit(page, f"{server}/{path}?lang={lang}", catalog(lang)[title_key], f"{lang}_{path or 'overview'}")
            if (lang, path) in README_SHOTS:
                page.screenshot(path=str(ROOT / "docs" / "img" / f"{README_SHOTS[lang, path]}.png"))
            if lang == "zh":  # Streamlit's own English: its menu hidden, the uploader in Chinese
                expect(page.locator('[data-testid="stMainMenu"]')).to_be_hidden()
                if path == "data":
                    button = '[data-testid="stFileUploaderDropzone"] button'
                    after = page.evaluate(f"getComputedStyle(document.querySelector('{button}'), '::after').content")
                    assert after == '"选择文件"', after
                    assert page.get_by_text("Upload", exact=True).filter(visible=True).count() == 0
                    assert page.get_by_text("per file").filter(visible=True).count() == 0
                    expect(page.get_by_role("button", name="选择文件").first).to_be_visible()
            if path == "":  # a chart's toolbar offers no raw "Show data" view in either language
                chart = page.locator('[data-testid="stEChartsChart"]').first
                chart.hover()
                page.wait_for_timeout(300)
                assert page.locator('button[aria-label="Show data"]:visible').count() == 0
                assert page.get_by_role("button", name="Show data").filter(visible=True).count() == 0
    # the overview of the demo shows its figures: 1,500 customers
    page.goto(f"{server}/?lang=en")
    expect(page.get_by_text("1,500").first).to_be_visible(timeout=60_000)
    page.close()


def test_language_switch_keeps_the_page(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _visit(page, f"{server}/concentration?lang=zh", catalog("zh")["concentration_title"], "switch_before")
    page.locator('[data-testid="stSidebar"]').get_by_text("English", exact=True).click()
    expect(page.locator("h1").first).to_have_text(catalog("en")["concentration_title"], timeout=60_000)
    assert "lang=en" in page.url
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_sidebar_filters_open_apply_and_say_so_when_closed(server, browser, lang):
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sidebar = page.locator('[data-testid="stSidebar"]')
    revenue = page.locator('[data-testid="stMetricValue"]').first
    _visit(page, f"{server}/?lang={lang}", words["overview_title"], f"{lang}_filters_closed")
    everything = revenue.text_content()
    assert sidebar.locator('[data-testid="stMultiSelect"]').count() == 0  # closed: none drawn
    sidebar.get_by_text(words["sidebar_filters"], exact=True).click()
    region = sidebar.locator('[data-testid="stMultiSelect"]').filter(has_text=words["field_region"])
    expect(region).to_have_count(1, timeout=60_000)
    settle(page)  # (a click while the run that opened the box still draws can be lost)
    # the regions offered (the list also offers Streamlit's own "Select all", which would filter nothing)
    regions = page.get_by_role("option").filter(has_not_text=re.compile(r"^\s*Select all\s*$"))
    for attempt in range(4):  # (on a loaded machine a click can come too early, or a rerun can close the list: again)
        try:
            region.click()
            expect(regions.first).to_be_visible(timeout=10_000)
            chosen = regions.first.text_content(timeout=5_000).strip()
            page.get_by_role("option", name=chosen, exact=True).click(timeout=5_000)
            expect(region).to_contain_text(chosen, timeout=10_000)
            break
        except (AssertionError, PlaywrightError):
            tags = region.locator('[data-baseweb="tag"]')
            if tags.count() == 1:  # chosen after all (the check came before the rerun drew it)
                chosen = tags.first.text_content().strip()
                break
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            settle(page)
    page.keyboard.press("Escape")
    settle(page)
    only = revenue.text_content()
    assert only != everything
    sidebar.get_by_text(words["sidebar_filters"], exact=True).click()  # closed again
    expect(sidebar.get_by_text(words["sidebar_filters_in_use"].format(count=1))).to_be_visible(timeout=60_000)
    settle(page)
    assert sidebar.locator('[data-testid="stMultiSelect"]').count() == 0
    assert revenue.text_content() == only
    page.screenshot(path=str(SHOTS / f"{lang}_filters_in_use.png"), full_page=True)
    # the same figure as a link to that region gives (a filter read from the link, not clicked)
    _visit(page, f"{server}/?lang={lang}&region={chosen}", words["overview_title"], f"{lang}_filters_linked")
    assert revenue.text_content() == only
    expect(region).to_have_count(1)  # a link opens them
    page.close()


def _scored_in_2025() -> int:
    """The demo's customers with an order in 2025, counted on the generated lines themselves."""
    from kam_analytics import demo

    lines = demo.generate()
    return lines.loc[lines["订单日期"] >= "2025-01-01", "客户编号"].nunique()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_key_account_settings_open_apply_and_stay_when_closed(server, browser, lang):
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    main = page.locator('[data-testid="stMain"]')
    count = main.locator('[data-testid="stMetricValue"]').first  # the first metric: how many key accounts
    _visit(page, f"{server}/key_accounts?lang={lang}", words["key_accounts_title"], f"{lang}_ka_settings_closed")
    assert main.locator('[data-testid="stMetricLabel"]').first.text_content().strip() == words["ka_key_accounts"]
    at_75 = int(count.text_content().replace(",", ""))
    assert main.locator('[data-testid="stSlider"]').count() == 0  # closed: no setting drawn
    main.get_by_text(words["ka_settings"], exact=True).click()
    minimum = main.locator('[data-testid="stSlider"]').filter(has_text=words["ka_min_score"])
    expect(minimum).to_have_count(1, timeout=60_000)
    minimum.get_by_role("slider").focus()
    page.keyboard.press("Home")  # minimum score 0: every account but the pseudo key accounts
    expect(count).not_to_have_text(str(at_75), timeout=60_000)
    settle(page)
    at_0 = int(count.text_content().replace(",", ""))
    pseudo = main.locator('[data-testid="stMetric"]').nth(2)
    assert pseudo.locator('[data-testid="stMetricLabel"]').text_content().strip() == words["flag_name_pseudo_key_account"]
    # every account the standard scores (an order in 2025, the twelve months ending on the data's
    # last day) but the pseudo key accounts
    assert at_0 == _scored_in_2025() - int(pseudo.locator('[data-testid="stMetricValue"]').text_content()) > at_75
    page.screenshot(path=str(SHOTS / f"{lang}_ka_settings_open.png"), full_page=True)
    main.get_by_text(words["ka_settings"], exact=True).click()  # closed again: the setting still applies
    expect(main.locator('[data-testid="stSlider"]')).to_have_count(0, timeout=60_000)
    settle(page)
    assert int(count.text_content().replace(",", "")) == at_0
    page.close()


def test_upload_a_gb18030_csv_and_see_it_analysed(server, browser, tmp_path):
    csv = tmp_path / "华东客户订单.csv"
    lines = ["客户编号,客户名称,订单日期,含税金额,大区"]
    # 4 customers; revenue 甲 5,000 + 3,000 = 8,000; 乙 1,500; 丙 400; 丁 100 -> total 10,000
    lines += ["K01,杭州甲贸易有限公司,2025/1/3,\"5,000.00\",华东", "K01,杭州甲贸易有限公司,2025/2/7,\"3,000.00\",华东",
              "K02,苏州乙科技,2025/1/20,\"1,500.00\",华东", "K03,宁波丙实业,2025/2/1,400,华东", "K04,无锡丁公司,2025/2/2,100,华东"]
    csv.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    zh = catalog("zh")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    _visit(page, f"{server}/data?lang=zh", zh["data_title"], "upload_0_data")
    page.locator('input[type="file"]').first.set_input_files(str(csv))
    expect(page.get_by_text("GB18030").first).to_be_visible(timeout=60_000)
    settle(page)
    page.screenshot(path=str(SHOTS / "upload_1_preview.png"), full_page=True)
    page.get_by_role("button", name=zh["upload_load"], exact=True).click()
    expect(page.get_by_text("已导入“华东客户订单”").first).to_be_visible(timeout=90_000)
    settle(page)
    page.screenshot(path=str(SHOTS / "upload_2_report.png"), full_page=True)
    page.get_by_role("button", name=zh["report_analyse"]).click()
    expect(page.locator("h1").first).to_have_text(zh["overview_title"], timeout=60_000)
    settle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_role("combobox", name=zh["sidebar_dataset"])).to_have_value("华东客户订单")
    metrics = page.locator('[data-testid="stMetricValue"]')
    expect(metrics.nth(0)).to_have_text("1.0万")  # 10,000 in 万
    expect(metrics.nth(1)).to_have_text("4")
    expect(metrics.nth(3)).to_have_text("80.0%")  # 8,000 / 10,000
    page.screenshot(path=str(SHOTS / "upload_3_overview.png"), full_page=True)
    page.close()


def echarts_tooltip(chart) -> str:
    """The text of the tooltip ECharts shows over ``chart`` ('' when none shows): a div it
    adds beside its canvas."""
    return chart.evaluate("""el => { for (const div of el.querySelectorAll('div')) {
        if (div.style.zIndex === '9999999' && div.style.display !== 'none' && div.style.opacity !== '0')
            return div.innerText; } return ''; }""")


def test_clicking_a_pareto_point_opens_the_account(server, browser):
    from kam_analytics.echarts import PARETO_GRID

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _visit(page, f"{server}/concentration?lang=en", catalog("en")["concentration_title"], "en_concentration_pareto")
    chart = page.locator(ECHARTS).first
    expect(chart).to_be_visible(timeout=30_000)
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # (the entry animation)
    # the rank axis runs from 0 to 1,500.5 (the demo's customers) inside the fixed grid: rank 1
    # is 1 / 1,500.5 of the way in from the left; up that line, the first marker is its
    box = chart.bounding_box()
    width = box["width"] - PARETO_GRID["left"] - PARETO_GRID["right"]
    x = box["x"] + PARETO_GRID["left"] + width * 1 / 1500.5
    hovered = ""
    for y in range(int(box["y"] + box["height"] - PARETO_GRID["bottom"]), int(box["y"] + PARETO_GRID["top"]), -2):
        page.mouse.move(x, y)
        page.wait_for_timeout(60)
        hovered = echarts_tooltip(chart)
        if hovered:
            break
    # the demo's whale (planted: more than 10% of all revenue) is rank 1
    assert hovered.startswith("C0001"), hovered
    page.mouse.click(x, y)
    expect(page.locator("h1").first).to_have_text(catalog("en")["account_title"], timeout=60_000)
    expect(page.get_by_role("heading", level=3).first).to_contain_text("C0001", timeout=30_000)
    page.screenshot(path=str(SHOTS / "en_account_from_pareto.png"), full_page=True)
    page.close()


def test_key_accounts_page_shows_the_planted_patterns(server, browser):
    from kam_analytics import demo

    for lang in ("zh", "en"):
        words = catalog(lang)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        _visit(page, f"{server}/key_accounts?lang={lang}", words["key_accounts_title"], f"{lang}_key_accounts_metrics")
        metrics = page.locator('[data-testid="stMetricValue"]')
        # the headline counts: pseudo key accounts, negative margin, (rising), slow payers — as planted
        expect(metrics.nth(2)).to_have_text(str(len(demo.PLANTED["pseudo_key"])))
        expect(metrics.nth(3)).to_have_text(str(len(demo.PLANTED["unprofitable"])))
        expect(metrics.nth(5)).to_have_text(str(len(demo.PLANTED["slow_payer"])))
        page.get_by_role("tab", name=words["ka_tab_pseudo"]).click()
        captions = page.locator('[data-testid="stCaptionContainer"]')
        expect(captions.filter(has_text=words["flag_help_pseudo_key_account"][:12]).first).to_be_visible(timeout=60_000)
        settle(page)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / f"{lang}_key_accounts_pseudo.png"), full_page=True)
        page.close()


def test_clicking_a_cluster_point_opens_the_account(server, browser):
    words = catalog("zh")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    _visit(page, f"{server}/segments?lang=zh", words["segments_title"], "zh_segments_sizes")
    page.get_by_role("tab", name=words["seg_tab_clusters"]).click()
    panel = page.get_by_role("tabpanel", name=words["seg_tab_clusters"])
    expect(panel.locator(".js-plotly-plot")).to_be_visible(timeout=60_000)
    settle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "zh_segments_clusters.png"), full_page=True)
    # with over a thousand points Plotly draws on a WebGL canvas: find the pixel of the customer
    # with the most revenue (top of the chart, clear of the crowd) from the figure's own axes
    x, y = panel.locator(".js-plotly-plot").evaluate("""gd => {
        let best = null;
        for (const trace of gd._fullData) trace.y.forEach((v, i) => {
            if (best === null || v > best.y) best = {x: trace.x[i], y: v}; });
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.c2p(best.x), box.top + ya._offset + ya.c2p(best.y)];
    }""")
    page.mouse.move(x, y)
    # the demo's whale (planted: more than 10% of all revenue) is that customer
    expect(page.locator(".hoverlayer")).to_contain_text("C0001", timeout=10_000)
    page.mouse.click(x, y)
    expect(page.locator("h1").first).to_have_text(words["account_title"], timeout=60_000)
    expect(page.get_by_role("heading", level=3).first).to_contain_text("C0001", timeout=30_000)
    page.screenshot(path=str(SHOTS / "zh_account_from_cluster.png"), full_page=True)
    page.close()


def test_scorecard_downloads_are_made_on_click(server, browser, tmp_path):
    # the files are generated when the button is clicked (an Excel file of 100,000 rows takes
    # ~11 s, too long to build on every run of the page); both must hold the whole scorecard
    import pandas as pd

    from kam_analytics import demo

    words = catalog("en")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})  # (the window accepts downloads)
    _visit(page, f"{server}/key_accounts?lang=en", words["key_accounts_title"], "en_key_accounts_download")
    key_count = int(page.locator('[data-testid="stMetricValue"]').nth(0).text_content())
    files = {}
    for label, suffix in (("ka_download_csv", "csv"), ("ka_download_xlsx", "xlsx")):
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name=words[label]).click()
        files[suffix] = tmp_path / f"scorecard.{suffix}"
        download.value.save_as(files[suffix])
        settle(page)
    page.close()
    # the page's language: headers, yes/no, flags in words
    csv = pd.read_csv(files["csv"], dtype={words["col_customer_id"]: str})
    xlsx = pd.read_excel(files["xlsx"], dtype={words["col_customer_id"]: str})
    assert len(csv) == len(xlsx) == _scored_in_2025()  # every account the standard scores
    assert (csv[words["ka_key_account"]] == words["yes"]).sum() == key_count
    flags = csv[words["ka_flags"]].fillna("")
    pseudo = set(csv.loc[flags.str.contains(words["flag_name_pseudo_key_account"], regex=False), words["col_customer_id"]])
    assert pseudo == set(demo.PLANTED["pseudo_key"])
    assert set(xlsx[words["col_customer_id"]]) == set(csv[words["col_customer_id"]])


def test_upload_shows_the_row_count_both_ways_and_refuses_mixed_encodings(server, browser, tmp_path):
    from kam_analytics.ingest.report import report_details

    en, zh = catalog("en"), catalog("zh")
    aligned = tmp_path / "cdnow.txt"
    aligned.write_bytes(b" customer_id  date number_of_cds  dollar_value\r\n00001 19970101 1  11.77\r\n"
                        b"00002 19970112 1 12.00\r\n00002  19970112 5    77.00\r\n")
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    _visit(page, f"{server}/data?lang=en", en["data_title"], "trust_0_data")
    page.locator('input[type="file"]').first.set_input_files(str(aligned))
    settle(page)
    page.get_by_role("button", name=en["upload_load"], exact=True).click()
    # counted by hand: 4 records = 1 header + 0 blank + 3 data rows; 3 loaded + 0 rejected
    counts = report_details({"count_method": "line count", "file_records": 4, "header_records": 1, "blank_rows": 0,
                             "data_rows": 3, "rows": 3, "rejected": 0}, "en")[0]
    expect(page.get_by_text(counts).first).to_be_visible(timeout=90_000)
    settle(page)
    page.screenshot(path=str(SHOTS / "trust_1_report_en.png"), full_page=True)

    mixed = tmp_path / "混合编码.csv"
    mixed.write_bytes("客户编号,订单日期,金额\n北京客户,2024-01-01,5\n".encode() + "上海客户,2024-01-02,7\n".encode("gbk"))
    _visit(page, f"{server}/data?lang=zh", zh["data_title"], "trust_2_data_zh")
    page.locator('input[type="file"]').first.set_input_files(str(mixed))
    settle(page)
    sentence = zh["file_mixed_encoding"].format(file="混合编码.csv", utf8_line=1, other_line=3, other="GB18030")
    # the preview already reads the whole sample and refuses it: no load button is offered
    expect(page.get_by_text(sentence).first).to_be_visible(timeout=90_000)
    assert page.get_by_role("button", name=zh["upload_load"], exact=True).count() == 0
    page.screenshot(path=str(SHOTS / "trust_3_mixed_zh.png"), full_page=True)


PLOTLY, ECHARTS = ".js-plotly-plot", '[data-testid="stEChartsChart"]'


def titled_chart(page, title: str):
    """The chart drawn with this title: Plotly writes it in the SVG, ECharts (on a canvas)
    names it in the chart's description for screen readers ('… a chart about "<title>" …')."""
    return page.locator(f"{PLOTLY} .gtitle").filter(has_text=title).or_(
        page.locator(f'{ECHARTS}[aria-label*="{title}"]')).first


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_first_view_charts_draw_titled_in_the_language(server, browser, lang):
    # the charts a page opens with (ECharts): the overview's trend, by month and by quarter, the account's
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    _visit(page, f"{server}/?lang={lang}", words["overview_title"], f"{lang}_overview_trend")
    expect(titled_chart(page, words["chart_revenue_trend"])).to_be_visible(timeout=30_000)
    page.locator('[data-testid="stButtonGroup"] button').filter(has_text=words["axis_quarter"]).click()
    settle(page)
    expect(titled_chart(page, words["chart_revenue_trend"])).to_be_visible(timeout=30_000)
    # quarters, each labelled by its first month: 2023-04 is one, 2023-02 (a month) no longer
    # (waited for: the chart is redrawn after the run that follows the click)
    expect(page.locator(ECHARTS).first).to_have_attribute("aria-label", re.compile(r"^(?!.*2023-02).*2023-04", re.S),
                                                          timeout=30_000)
    _visit(page, f"{server}/account?lang={lang}&account=C0001", words["account_title"], f"{lang}_account_trend")
    expect(titled_chart(page, words["chart_account_trend"])).to_be_visible(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(SHOTS / f"{lang}_account_trend.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_tab_with_a_chart_draws(server, browser, lang):
    # the tabs whose figures live in charts.py: each draws its chart, titled in the language
    words = catalog(lang)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    for path, title_key, tabs in [
        ("segments", "segments_title", [("seg_tab_segments", "seg_chart_sizes"), ("seg_tab_grid", "seg_chart_grid"),
                                        ("seg_tab_clusters", "seg_chart_clusters")]),
        ("churn", "churn_title", [("churn_tab_post_mortem", "churn_post_mortem_chart")]),
        ("key_accounts", "key_accounts_title", [("ka_tab_pyramid", None)]),
    ]:
        _visit(page, f"{server}/{path}?lang={lang}", words[title_key], f"{lang}_{path}_tabs")
        for tab_key, chart_title_key in tabs:
            page.get_by_role("tab", name=words[tab_key]).click()
            settle(page)
            chart = page.locator(f"{PLOTLY}, {ECHARTS}").first
            expect(chart).to_be_visible(timeout=30_000)
            if chart_title_key:
                expect(titled_chart(page, words[chart_title_key])).to_be_visible(timeout=30_000)
            assert page.locator('[data-testid="stException"]').count() == 0, f"{path}: {tab_key}"
            page.wait_for_timeout(800)
            page.screenshot(path=str(SHOTS / f"{lang}_{path}_{tab_key}.png"), full_page=True)
    page.close()
