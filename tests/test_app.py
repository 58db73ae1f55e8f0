"""AppTest of every page in both languages, the upload flow with a real GB18030 file, and the
account drill-down. Expected figures are worked out by hand from the small file below."""
from __future__ import annotations

import getpass
import json
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kam_analytics.i18n import catalog
from ui.markdown import escape_markdown

PAGES = ["overview", "concentration", "key_accounts", "segments", "churn", "receivables", "account", "reviews", "alerts", "data"]
TITLE_KEY = {"overview": "overview_title", "concentration": "concentration_title",
             "key_accounts": "key_accounts_title", "segments": "segments_title", "churn": "churn_title",
             "receivables": "receivables_title", "account": "account_title", "reviews": "reviews_title",
             "alerts": "alerts_title", "data": "data_title"}

# Three customers. Revenue: C001 500 + 100 = 600, C002 300, C003 100 -> total 1,000.
# Top-1 share 600/1000 = 60.0%; top-5 share 100.0%. Last date 2024-03-10, so the 90-day
# active window is 2023-12-12..2024-03-10: C001 and C002 are active, C003 (2023-10-01) is not.
SMALL_CSV = (
    "客户编号,客户名称,订单日期,销售额,区域\r\n"
    "C001,上海甲公司,2024-01-15,500.00,华东\r\n"
    "C001,上海甲公司,2024-03-10,100.00,华东\r\n"
    "C002,广州乙公司,2024-02-20,300.00,华南\r\n"
    "C003,北京丙公司,2023-10-01,100.00,华北\r\n"
)


def T(key: str, lang: str, **params) -> str:
    text = catalog(lang)[key]
    return text.format(**params) if params else text


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A fresh store file for the app (no demo), and Streamlit's caches emptied around the test."""
    import streamlit as st

    monkeypatch.setenv("KAM_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setenv("KAM_NO_DEMO", "1")
    monkeypatch.delenv("KAM_LANG", raising=False)

    def load_small():
        from kam_analytics.ingest import ingest_file
        from kam_analytics.store import Store

        path = tmp_path / "小样本.csv"
        path.write_bytes(SMALL_CSV.encode("gb18030"))
        with Store.open(tmp_path / "app.duckdb") as store:
            ingest_file(store, path, dataset="测试数据")
        return path

    st.cache_data.clear()
    st.cache_resource.clear()
    yield load_small
    from ui.state import get_store

    try:
        get_store().close()
    except Exception:
        pass
    st.cache_data.clear()
    st.cache_resource.clear()


def load_csv(tmp_path, name: str, text: str) -> None:
    """Write ``text`` as <name>.csv and load it as dataset ``name`` into the app's store."""
    from kam_analytics.ingest import ingest_file
    from kam_analytics.store import Store

    path = tmp_path / f"{name}.csv"
    path.write_text(text, encoding="utf-8")
    with Store.open(tmp_path / "app.duckdb") as store:
        ingest_file(store, path, dataset=name)


def open_app(lang: str, page: str = "overview", **params) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.query_params["lang"] = lang
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def visible_texts(at: AppTest) -> list[str]:
    """Every piece of UI text a user can read on the page (labels, options, messages, chart titles)."""
    texts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success", "error"):
        texts += [str(e.value) for e in at.get(kind)]
    for e in at.metric:
        texts += [e.label, str(e.value)]
    for kind in ("button", "checkbox", "text_input", "date_input", "tabs", "expander"):
        texts += [str(getattr(e, "label", "")) for e in at.get(kind)]
    for kind in ("selectbox", "radio", "multiselect", "segmented_control"):
        for e in at.get(kind):
            texts.append(e.label)
            texts += [str(o) for o in getattr(e, "options", [])]
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec).get("layout", {})
        for part in (layout.get("title"), layout.get("xaxis", {}).get("title"), layout.get("yaxis", {}).get("title")):
            if isinstance(part, dict):
                texts.append(str(part.get("text", "")))
    for chart in at.get("echarts_chart"):
        option = json.loads(chart.proto.spec)
        texts.append(str(option.get("title", {}).get("text", "")))
        for axis in [option.get("xAxis", {})] + (option["yAxis"] if isinstance(option.get("yAxis"), list)
                                                 else [option.get("yAxis", {})]):
            texts.append(str(axis.get("name", "")))
            texts += [str(label) for label in axis.get("data", [])]
        texts += [str(series.get("name", "")) for series in option.get("series", [])]
        texts.append(re.sub(r"\{@\w+\}", "", str(option.get("tooltip", {}).get("formatter", ""))))  # less its slots
    return texts


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_its_title(app_env, page, lang):
    app_env()
    at = open_app(lang, page)
    assert [t.value for t in at.title] == [T(TITLE_KEY[page], lang)]
    assert at.sidebar.radio[0].value == lang


# English words that are allowed on a Chinese page: product and format names, data values.
# names a user types or reads as they are: products, formats, settings, Spark's table forms and types,
# and the canonical field names of a mapping (customer_id …)
ALLOWED = re.compile(r"KAM Analytics|Webhook|ABC|HHI|RFM|ASC \d+|GAAP|CSV|TSV|TXT|Excel|Parquet|xlsx|UTF-\d+|GB18030|Big5|English|C00\d"
                     r"|KAM_[A-Z_]+|Spark|DATE|TIMESTAMP|parquet\.\S+|sales\.orders|[a-z]+(?:_[a-z]+)+")


@pytest.mark.parametrize("page", PAGES)
def test_chinese_pages_have_no_english_left(app_env, page):
    app_env()
    at = open_app("zh", page)
    at.session_state["_sidebar_filters"] = True  # the filters open: their labels and values read too
    at.run()
    assert [m.label for m in at.sidebar.multiselect] == [T("field_region", "zh")]
    me = re.escape(getpass.getuser())  # the computer's user name signs follow-ups: data, not interface
    leftovers = [text for text in visible_texts(at) if re.search(r"[A-Za-z]{3,}", re.sub(me, "", ALLOWED.sub("", text)))]
    assert leftovers == []


@pytest.mark.parametrize("lang,revenue", [("zh", "1,000"), ("en", "1.0K")])
def test_overview_figures(app_env, lang, revenue):
    app_env()
    at = open_app(lang)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        T("kpi_revenue", lang): revenue, T("kpi_customers", lang): "3", T("kpi_active", lang): "2",
        T("kpi_top1", lang): "60.0%", T("kpi_top5", lang): "100.0%",
        T("ka_key_accounts", lang): "1",  # C001, score 91.7 (see test_key_accounts_page)
        # C001 brought 600 over its 56 days (2024-01-15..03-10): at that pace 600 × 90 / 56 = 964
        T("outlook_title", lang, days=90): "964",
    }
    # the one thing to look at: C001 alone brings 60% of revenue
    attention = [m.value for m in at.markdown if m.value.startswith("**1.**")]
    assert attention == ["**1.** " + escape_markdown(T("attention_dependency", lang, customer="上海甲公司", share="60.0%"))]
    # and C003, silent 161 days after its one order (more than max(60, 90)): on 2023-12-11, one
    # horizon earlier, it was the only customer of the standard's twelve months, so a key account
    # that lapsed — the win-back list's one account
    lapsed = [m.value for m in at.markdown if m.value.startswith("**2.**")]
    assert lapsed == ["**2.** " + escape_markdown(T("attention_lapsed", lang, count=1, customer="北京丙公司", revenue="100",
                                                     days=161))]
    assert not [m for m in at.markdown if m.value.startswith("**3.**")]


def test_period_filter_and_region_filter_change_the_figures(app_env):
    app_env()
    at = open_app("en", period="custom", start="2024-01-01", end="2024-02-29", region="华东|华南")
    metrics = {m.label: m.value for m in at.metric}
    # Jan–Feb 2024 in 华东/华南: C001 500 (2024-01-15) and C002 300 (2024-02-20) -> 800
    assert metrics["Revenue"] == "800"
    assert metrics["Customers"] == "2"
    assert metrics["Top-1 share"] == "62.5%"  # 500 / 800
    assert at.query_params["region"] in ("华东|华南", ["华东|华南"])  # AppTest keeps str or list


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_filters_are_drawn_while_open_and_apply_while_closed(app_env, lang):
    app_env()
    at = open_app(lang)
    # closed: no multiselect, every line counted (500 + 100 + 300 + 100)
    assert [e.label for e in at.sidebar.expander] == [T("sidebar_filters", lang)]
    assert not at.sidebar.multiselect
    revenue = T("kpi_revenue", lang)
    assert {m.label: m.value for m in at.metric}[revenue] == ("1,000" if lang == "zh" else "1.0K")
    at.session_state["_sidebar_filters"] = True  # opened
    at.run()
    assert sorted(at.sidebar.multiselect[0].options) == sorted(["华东", "华南", "华北"])
    at.sidebar.multiselect[0].select("华东").run()
    assert {m.label: m.value for m in at.metric}[revenue] == "600"  # C001's 500 + 100
    in_use = T("sidebar_filters_in_use", lang, count=1)
    assert in_use not in [c.value for c in at.sidebar.caption]  # open, the filter shows itself
    at.session_state["_sidebar_filters"] = False  # closed again: the filter stays, and says so
    at.run()
    assert not at.exception and not at.sidebar.multiselect
    assert {m.label: m.value for m in at.metric}[revenue] == "600"
    assert in_use in [c.value for c in at.sidebar.caption]
    at.switch_page("app_pages/concentration.py").run()  # on another page too
    assert in_use in [c.value for c in at.sidebar.caption]
    assert at.query_params["region"] in ("华东", ["华东"])


def test_account_page_from_a_link(app_env):
    app_env()
    at = open_app("zh", "account", account="C002")
    assert [s.value for s in at.subheader] == ["C002 · 广州乙公司", T("account_risk", "zh"), T("account_followups", "zh")]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("account_share", "zh")] == "30.0%"
    assert metrics[T("account_rank", "zh")] == T("account_rank_value", "zh", rank="2")  # (short: never cut off)
    assert any(T("account_rank_of", "zh", customers="3") in c.value for c in at.caption)
    assert metrics[T("kpi_revenue", "zh")] == "300"
    # its risk where a lead acts: too little history to train, so the rule d / (d + 90) with
    # d = 19 days since 2024-02-20: 19 / 109 = 17.4%; still active, so on the at-risk list
    assert metrics[T("churn_risk", "zh")] == "17.4%"
    assert escape_markdown(T("account_risk_list", "zh", listing=T("churn_list_at_risk", "zh"))) in [m.value for m in at.markdown]
    # the standard's window: the twelve months ending on 2024-03-10
    window = escape_markdown(T("account_window", "zh", start="2023-03-11", end="2024-03-10"))
    assert any(window in c.value for c in at.caption), [c.value for c in at.caption]
    # and the form to record a follow-up of this account (no account to choose: it is this one)
    assert [b.label for b in at.button if b.label == T("churn_save_followup", "zh")]
    assert not [s for s in at.selectbox if s.key == "_account_followup_customer"]


def _save_followup(at, status: str, note: str, customer: str):
    """Fill the page's follow-up form (English), save it, check it says so; the history shown."""
    [box] = [s for s in at.selectbox if s.label == "Follow-up"]
    box.set_value(status)
    [text] = [t for t in at.text_area if t.label == "Note"]
    text.input(note)
    [save] = [b for b in at.button if b.label == "Save the follow-up"]
    save.click().run()
    assert not at.exception
    assert at.success[0].value == f"Follow-up saved for {customer}."
    return at.dataframe[-1].value


def test_account_page_of_a_lapsed_account_and_a_follow_up_recorded_there(app_env):
    app_env()
    at = open_app("en", "account", account="C003")
    # one order on 2023-10-01, silent 161 days at 2024-03-10: more than max(60, 90) -> lapsed;
    # no risk figure for an account that has already lapsed
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("churn_risk", "en")] == "–"
    assert escape_markdown(T("account_risk_list", "en", listing=T("churn_list_lapsed", "en"))) in [m.value for m in at.markdown]
    at.sidebar.text_input(key="_w_local_name").input("王芳").run()
    history = _save_followup(at, "recovering", "visited, order promised", "C003")
    assert history["Note"].tolist() == ["visited, order promised"]
    assert history["Recorded by"].tolist() == ["王芳"]  # the name set in the sidebar


def test_account_search_by_chinese_name(app_env):
    app_env()
    at = open_app("en", "account")
    at.text_input(key="account_query").input("北京").run()
    assert not at.exception
    assert at.selectbox(key="account_choice").value == "C003"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Revenue"] == "100" and metrics["Share of revenue"] == "10.0%"


def test_upload_flow_with_a_gb18030_file(app_env, tmp_path):
    at = open_app("zh", "data")
    assert at.sidebar.info[0].value == T("sidebar_no_datasets", "zh")
    at.file_uploader[0].upload("客户订单.csv", SMALL_CSV.encode("gb18030"), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    detected = [m.value for m in at.markdown if T("upload_detected", "zh") in m.value][0]
    assert "GB18030" in detected and T("delimiter_comma", "zh") in detected
    mapping = {s.label: s.value for s in at.selectbox if s.key and s.key.startswith("map_")}
    assert mapping[T("field_customer_id", "zh") + " *"] == "客户编号"
    assert mapping[T("field_order_date", "zh") + " *"] == "订单日期"
    assert mapping[T("field_amount", "zh") + " *"] == "销售额"
    assert mapping[T("field_region", "zh")] == "区域"
    [name] = [t for t in at.text_input if t.key and t.key.startswith("name_")]
    assert name.value == "客户订单"
    [load] = [b for b in at.button if b.label == T("upload_load", "zh")]
    load.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success[0].value == T("report_loaded", "zh", dataset="客户订单", rows="4", customers="3",
                                    revenue="1,000", start="2023-10-01", end="2024-03-10")
    assert at.sidebar.selectbox[0].value is not None
    at.switch_page("app_pages/overview.py").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("kpi_revenue", "zh")] == "1,000"
    assert metrics[T("kpi_top1", "zh")] == "60.0%"


def test_upload_of_an_unusable_file_says_why(app_env):
    at = open_app("en", "data")
    at.file_uploader[0].upload("page.csv", b"<html><body>Sign in</body></html>", "text/csv").run()
    assert not at.exception
    assert [e.value for e in at.error] == [escape_markdown(T("file_html", "en", file="page.csv"))]
    assert not [b for b in at.button if b.label == "Load"]


def test_rename_and_delete_with_confirmation(app_env):
    app_env()
    at = open_app("en", "data")
    field = [k for k in (w.key for w in at.text_input) if k and k.startswith("rename_")][0]
    at.text_input(key=field).input("华东 2023").run()
    # typed again and clicked at once: the name as typed at the click is the one used
    at.text_input(key=field).input("华东 2024")
    [rename] = [b for b in at.button if b.label == "Rename"]
    rename.click().run()
    assert not at.exception
    assert at.selectbox(key="manage_dataset").options == ["华东 2024"]
    [delete] = [b for b in at.button if b.label == "Delete this dataset"]
    delete.click().run()
    assert at.warning[0].value == T("manage_delete_confirm", "en", name="华东 2024", rows="4")
    [cancel] = [b for b in at.button if b.label == "Cancel"]
    cancel.click().run()
    assert at.selectbox(key="manage_dataset").options == ["华东 2024"]
    [delete] = [b for b in at.button if b.label == "Delete this dataset"]
    delete.click().run()
    [yes] = [b for b in at.button if b.label == "Yes, delete"]
    yes.click().run()
    assert not at.exception
    assert [i.value for i in at.sidebar.info] == [T("sidebar_no_datasets", "en")]
    assert [i.value for i in at.main.info] == [T("no_dataset", "en")]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_concentration_page_figures(app_env, lang):
    # C001 600, C002 300, C003 100: worked out in test_concentration.test_three_customers_by_hand
    app_env()
    at = open_app(lang, "concentration")
    metrics = {}
    for m in at.metric:  # the first of a label: the what-if repeats HHI further down
        metrics.setdefault(m.label, m.value)
    assert {k: metrics[k] for k in ("HHI", T("gini", lang), "CR1", "CR5", "CR10")} == {
        "HHI": "4,600", T("gini", lang): "0.333", "CR1": "60.0%", "CR5": "100.0%", "CR10": "100.0%"}
    assert metrics[T("conc_customers", lang)] == "3"
    assert metrics[T("conc_hhi_level", lang)] == T("hhi_level_high", lang)
    assert metrics[T("conc_number_equivalent", lang)] == "2.2"
    assert metrics[T("conc_top20pct", lang)] == "60.0%"
    assert metrics[T("conc_for_80pct", lang)] == "2"
    warnings = [w.value for w in at.warning]
    assert warnings == [
        T("flag_major_customer", lang, customer="上海甲公司", share="60.0%"),
        T("flag_major_customer", lang, customer="广州乙公司", share="30.0%"),
        T("flag_major_customer", lang, customer="北京丙公司", share="10.0%"),
        # 600 of 1,000: more than half (重大依赖)
        T("flag_major_dependency", lang, customer="上海甲公司", share="60.0%", measure=T("flag_measure_revenue", lang)),
        T("flag_top5_above", lang, share="100.0%", level="30%"),
        T("flag_hhi_high", lang, hhi="4,600"),
    ]
    # what-if (a lazy tab: open it), default: lose the largest customer -> 600 lost (60%),
    # HHI of B 300 / C 100 = 6,250, Gini 0.333 -> 0.250
    at.session_state["conc_tab"] = T("conc_tab_whatif", lang)
    at.run()
    assert not at.exception
    whatif = {m.label: (m.value, m.delta) for m in at.metric[-4:]}
    assert whatif == {T("whatif_revenue_lost", lang): ("600", "-60.0%"), T("whatif_profit_lost", lang): ("–", ""),
                      "HHI": ("6,250", "+1,650"), "CR5": ("100.0%", "+0.0pp")}
    # a loss is red and down; the concentration after it grey, its direction in words
    from streamlit.proto.Metric_pb2 import Metric

    shown = {m.label: (m.proto.color, m.proto.direction) for m in at.metric[-4:]}
    assert shown[T("whatif_revenue_lost", lang)] == (Metric.MetricColor.RED, Metric.MetricDirection.DOWN)
    assert shown["HHI"][0] == shown["CR5"][0] == Metric.MetricColor.GRAY
    # HHI before: 0.6² + 0.3² + 0.1² = 0.46 -> 4,600; after 6,250: up
    assert escape_markdown(T("whatif_direction_up", lang, lost="600", share="60.0%", before="4,600", after="6,250")) \
        in [m.value for m in at.markdown]
    assert at.main.caption[-1].value == T("whatif_gini", lang, before="0.333", after="0.250")


def test_concentration_page_abc_cutoffs_are_editable(app_env):
    app_env()
    at = open_app("en", "concentration")
    assert at.main.caption[0].value == T("conc_abc_counts", "en", a="2", b="1", c="0", cut_a=80, cut_b=95)
    at.number_input(key="conc_cut_a").set_value(50).run()
    # before-shares 0, .6, .9: only the first is below 50%
    assert at.main.caption[0].value == T("conc_abc_counts", "en", a="1", b="2", c="0", cut_a=50, cut_b=95)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_key_accounts_page(app_env, lang):
    # Balanced weights over the 6 criteria the small file supports (percentiles, max rank):
    # C001: revenue 100, orders 100, regularity 100 (2 of Jan–Mar), avg order 100 (tie with C002),
    #       tenure 50, growth 100 (all equal) -> 550 / 6 = 91.7 ≥ 75: the only key account (60% of revenue)
    # C002: 50, 50 (tie), 50, 100, 0, 100 -> 58.3;  C003: 0, 50, 0, 0, 100, 100 -> 41.7
    app_env()
    at = open_app(lang, "key_accounts")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("ka_key_accounts", lang)] == "1"
    assert metrics[T("ka_key_share", lang)] == "60.0%"
    assert metrics[T("flag_name_pseudo_key_account", lang)] == "0"
    [listing] = [d.value for d in at.dataframe]
    assert listing[T("col_customer_id", lang)].tolist() == ["C001"]
    assert listing[T("ka_score", lang)].tolist() == [91.7]
    assert listing[T("criterion_tenure", lang)].tolist() == [pytest.approx(8.3, abs=0.05)]  # 50 / 6


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_key_account_settings_are_drawn_while_open_and_kept_while_closed(app_env, lang):
    # The small file, balanced weights: C001 91.7, C002 58.3, C003 41.7 (see above); revenue
    # tiers at cuts 20/50/80 of 3 customers: the first ceil(0.6) = 1 platinum, to ceil(1.5) = 2 gold.
    app_env()
    at = open_app(lang, "key_accounts")
    assert not at.slider and not at.number_input  # closed: no setting drawn, none changed
    assert not [c for c in at.caption if c.value.startswith(T("ka_settings_changed", lang).split("{")[0])]
    key_accounts = T("ka_key_accounts", lang)
    assert {m.label: m.value for m in at.metric}[key_accounts] == "1"
    at.session_state["ka_settings"] = True  # opened
    at.run()
    assert len([s for s in at.slider if s.key.startswith("_w_ka_w_")]) == 6  # the 6 criteria the file supports
    at.slider(key="_w_ka_min").set_value(50).run()  # C001 and C002 score 50 or more
    assert {m.label: m.value for m in at.metric}[key_accounts] == "2"
    assert {m.label: m.value for m in at.metric}[T("ka_key_share", lang)] == "90.0%"  # (600 + 300) / 1,000
    weight = next(s for s in at.slider if s.label == T("criterion_tenure", lang))
    weight.set_value(0.0).run()  # without tenure: C001 (100 * 5) / 5 = 100, C002 (50 + 50 + 50 + 100 + 100) / 5 = 70
    listing = at.dataframe[0].value
    assert listing[T("ka_score", lang)].tolist() == [100.0, 70.0]
    assert T("criterion_tenure", lang) not in listing
    at.session_state["ka_settings"] = False  # closed again: the settings still apply, and it says so
    at.run()
    assert not at.exception and not at.slider
    assert at.dataframe[0].value[T("ka_score", lang)].tolist() == [100.0, 70.0]
    changed = T("ka_settings_changed", lang, what=T("ka_settings_changed_weights", lang))
    assert changed in [c.value for c in at.caption]
    at.switch_page("app_pages/overview.py").run()
    at.switch_page("app_pages/key_accounts.py").run()  # and after another page
    assert at.dataframe[0].value[T("ka_score", lang)].tolist() == [100.0, 70.0]
    # tiers rule: platinum only, with the platinum cut at 60%: the first ceil(1.8) = 2 customers;
    # the gold cut (50) must now stay above 60, so it moves to 61
    at.session_state["ka_settings"] = True
    at.run()
    at.radio(key="_w_ka_rule").set_value("tiers").run()
    assert {m.label: m.value for m in at.metric}[key_accounts] == "1"  # C001, platinum
    at.number_input(key="_w_ka_cut1").set_value(60).run()
    assert not at.exception
    assert at.number_input(key="_w_ka_cut2").value == 61
    assert {m.label: m.value for m in at.metric}[key_accounts] == "2"
    at.button(key="ka_settings_reset").click().run()  # back to the balanced weights and cuts 20/50/80
    assert not at.exception
    assert [at.number_input(key=f"_w_ka_cut{i}").value for i in (1, 2, 3)] == [20, 50, 80]
    assert {m.label: m.value for m in at.metric}[key_accounts] == "1"  # platinum: C001 alone again
    assert at.dataframe[0].value[T("ka_score", lang)].tolist() == [91.7]  # tenure counted again
    assert not [b for b in at.button if b.key == "ka_settings_reset"]  # nothing left to reset
    at.session_state["ka_settings"] = False
    at.run()
    assert not [c for c in at.caption if c.value.startswith(T("ka_settings_changed", lang).split("{")[0])]
    # saved weights are what is in use: the preset shows them, nothing is "changed"
    at.session_state["ka_settings"] = True
    at.run()
    next(s for s in at.slider if s.label == T("criterion_tenure", lang)).set_value(0.0).run()
    next(b for b in at.button if b.label == T("ka_save_weights", lang)).click().run()
    assert not at.exception
    assert [x.value for x in at.success] == [T("ka_saved", lang)]
    assert next(x for x in at.selectbox if x.label == T("ka_preset", lang)).value == "saved"
    assert not [b for b in at.button if b.key == "ka_settings_reset"]
    assert at.dataframe[0].value[T("ka_score", lang)].tolist() == [100.0]  # C001 without tenure (C002's 70 < 75)
    at.session_state["ka_settings"] = False
    at.run()
    assert not [c for c in at.caption if c.value.startswith(T("ka_settings_changed", lang).split("{")[0])]
    assert at.dataframe[0].value[T("ka_score", lang)].tolist() == [100.0]


def test_account_page_shows_the_scorecard(app_env):
    app_env()
    at = open_app("en", "account", account="C001")
    assert not at.exception
    lines = [m.value for m in at.markdown if m.value.startswith("Scorecard")]
    assert lines == [T("account_scorecard_no_flags", "en", score="91.7", rank="1", tier=T("tier_platinum", "en"),
                       status=T("account_is_key", "en"))]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_segments_page(app_env, lang):
    # 3 customers, score = 1 + ⌊5 (r − 1) / 3⌋ for min ranks r = 1, 2, 3 -> 1, 2, 4.
    # Recency as of 2024-03-10: C001 0, C002 19, C003 161 days -> R 4, 2, 1;
    # frequency 2, 1, 1 -> F 4, 1, 1 (the tie takes the lower rank); monetary 600, 300, 100 -> M 4, 2, 1.
    # Segments: R4F4 loyal, R2F1 hibernating, R1F1 lost.
    app_env()
    at = open_app(lang, "segments")
    assert not at.exception
    at.session_state["seg_tab"] = T("seg_tab_customers", lang)
    at.run()
    [customers] = [d.value for d in at.dataframe]
    assert customers["RFM"].tolist() == ["444", "212", "111"]
    assert customers[T("seg_segment", lang)].tolist() == [
        T("segment_loyal", lang), T("segment_hibernating", lang), T("segment_lost", lang)]


@pytest.mark.parametrize("name", ["superstore.csv", "online_retail_sample.csv"])
def test_analysis_pages_on_the_shared_datasets(app_env, shared_dataset, tmp_path, name):
    from kam_analytics.ingest import ingest_file
    from kam_analytics.store import Store

    with Store.open(tmp_path / "app.duckdb") as store:
        ingest_file(store, shared_dataset(name), dataset="shared")
    for lang in ("zh", "en"):
        for page in ("overview", "concentration", "key_accounts", "segments"):
            at = open_app(lang, page)
            assert [t.value for t in at.title] == [T(TITLE_KEY[page], lang)]


EDGE_FILES = {
    # one customer, one order
    "one_customer": "客户编号,订单日期,金额\nK1,2024-05-01,100\n",
    # every customer nets to a return (negative revenue)
    "all_returns": "客户编号,订单日期,金额\nK1,2024-05-01,-100\nK2,2024-05-02,-50\n",
    # two customers tied exactly, no names, no order ids
    "ties": "客户编号,订单日期,金额\nB,2024-05-01,100\nA,2024-05-01,100\n",
}


@pytest.mark.parametrize("case", list(EDGE_FILES))
@pytest.mark.parametrize("page", PAGES)
def test_pages_survive_odd_datasets(app_env, tmp_path, case, page):
    load_csv(tmp_path, case, EDGE_FILES[case])
    at = open_app("zh", page)
    assert [t.value for t in at.title] == [T(TITLE_KEY[page], "zh")]


def test_a_filter_that_empties_the_slice_says_so(app_env):
    app_env()
    for page in ("overview", "concentration", "segments"):
        # December 2023 lies inside the data's range (2023-10-01 … 2024-03-10) but has no order
        at = open_app("en", page, period="custom", start="2023-12-01", end="2023-12-31")
        assert [i.value for i in at.main.info] == [T("empty_slice", "en")], page
    # the key-account standard reads the twelve months ending on the period's end, 2023-01-01 …
    # 2023-12-31, whatever its start: C003 (2023-10-01) is the one account it scores
    at = open_app("en", "key_accounts", period="custom", start="2023-12-01", end="2023-12-31")
    assert not at.main.info and not at.exception
    assert {m.label: m.value for m in at.metric}[T("ka_key_accounts", "en")] == "1"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_churn_page_on_short_history_says_it_uses_the_rule(app_env, lang):
    # four orders over five months cannot train a 90-day model: the page says the rule is used;
    # the watched accounts are the key accounts: C001 only (score 91.7), 0 days since its last order
    app_env()
    at = open_app(lang, "churn")
    assert [w.value for w in at.warning] == [T("churn_rule_history_short", lang, horizon=90)]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("churn_accounts", lang)] == "1"
    method = T("churn_method_line", lang, method=T("churn_method_rule", lang),
               calibration=T("churn_calibration_none", lang))
    assert method in [c.value for c in at.main.caption]
    listing, by_region = [d.value for d in at.dataframe]
    assert listing[T("col_customer_id", lang)].tolist() == ["C001"] and listing[T("churn_risk", lang)].tolist() == [0.0]
    # expected revenue: 600 over its 56 days (2024-01-15 .. 03-10) at the same pace for 90 days = 964.29
    assert by_region[T("field_region", lang)].tolist() == ["华东"]
    assert by_region[T("churn_expected_revenue", lang)].tolist() == ["964"]
    assert by_region[T("churn_revenue_at_risk", lang)].tolist() == ["0"]


def test_churn_follow_up_is_recorded_and_shown(app_env):
    app_env()
    at = open_app("en", "churn")
    at.session_state["churn_tab"] = "Follow-ups"
    at.run()
    assert not [t for t in at.text_input if t.label in ("Owner", "Recorded by")]  # the author is not typed
    history = _save_followup(at, "contacted", "打电话确认下季度订单", "C001")
    # without sign-in the person at the machine is the author: the account the app runs under
    assert history["Follow-up"].tolist() == ["contacted"]
    assert history["Recorded by"].tolist() == [getpass.getuser()]  # (not "local:…")


@pytest.mark.parametrize("stem", ["订单" * 150, "x" * 300])
def test_an_upload_with_a_very_long_file_name_is_previewed_and_loaded(app_env, stem):
    # 300 characters (900 bytes in Chinese) are more than a file system takes for a name
    from ui.uploads import MAX_NAME_BYTES, disk_name

    kept = disk_name(f"{stem}.csv")
    assert len(kept.encode()) <= MAX_NAME_BYTES and kept.endswith("….csv") and kept.startswith(stem[:20])
    at = open_app("en", "data")
    at.file_uploader[0].upload(f"{stem}.csv", SMALL_CSV.encode("gb18030"), "text/csv").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    detected = [m.value for m in at.markdown if T("upload_detected", "en") in m.value]
    assert detected and "GB18030" in detected[0]


def test_a_workbook_s_second_sheet_is_mapped_and_loaded_after_the_name_is_typed(app_env):
    # the first sheet is a note, the orders are on the second: choosing it, then typing the
    # dataset name, said "no column for customer_id" (the mapping kept the first sheet's choices)
    import io

    from ui.state import get_store

    book = io.BytesIO()
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"说明": ["本文件为导出", "第二行"]}).to_excel(writer, sheet_name="说明", index=False)
        pd.DataFrame({"客户编号": ["C1", "C2", "C1"], "订单日期": ["2024-01-01", "2024-02-01", "2024-03-01"],
                      "销售额": [10.0, 20.0, 5.5]}).to_excel(writer, sheet_name="订单", index=False)
    at = open_app("en", "data")
    at.file_uploader[0].upload("two.xlsx", book.getvalue(), "application/octet-stream").run()
    [sheet] = [s for s in at.selectbox if s.label == T("upload_sheet", "en")]
    sheet.set_value("订单").run()
    [name] = [t for t in at.text_input if t.label == T("upload_name", "en") and t.key.startswith("name_")]
    name.input("my orders").run()
    assert not at.warning, [w.value for w in at.warning]
    mapped = {s.label: s.value for s in at.selectbox}
    assert (mapped["Customer id *"], mapped["Order date *"], mapped["Amount *"]) == ("客户编号", "订单日期", "销售额")
    [load] = [b for b in at.button if b.label == T("upload_load", "en")]
    assert not load.disabled
    load.click().run()
    assert not at.error and not at.exception
    dataset = get_store().dataset("my orders")
    assert (dataset.rows, dataset.customers, dataset.revenue) == (3, 2, 35.5)


@pytest.mark.parametrize("text, shown", [
    # headers that are Markdown, a link, an image and a Streamlit icon: "has no column for …"
    ('"[hdr](http://127.0.0.1/x)",**bold**,":material/delete:","![im](http://127.0.0.1/i.png)"\n1,2,3,4\n',
     ["[hdr](http", "**bold**", ":material/delete:", "![im]("]),
    # a date cell that is Markdown: "no date in column … could be read (e.g. …)"
    ("客户编号,订单日期,销售额\nC1,\"**[d](http://127.0.0.1/d)** :red[x]\",10\n", ["**[d](http", ":red[x]"]),
])
def test_the_upload_preview_shows_file_text_as_text(app_env, text, shown):
    at = open_app("en", "data")
    at.file_uploader[0].upload("hostile.csv", text.encode("utf-8"), "text/csv").run()
    [warning] = [w.value for w in at.warning]
    for raw in shown:
        assert raw not in warning  # nothing left for Markdown or Streamlit to render
        assert escape_markdown(raw) in warning  # shown escaped, as typed


def _follow_up_form():
    """The churn page on its follow-up tab (English), and the form's account box."""
    at = open_app("en", "churn")
    at.session_state["churn_tab"] = "Follow-ups"
    at.run()
    [account] = [s for s in at.selectbox if s.label == T("churn_account", "en")]
    return at, account


def test_a_follow_up_form_is_bound_to_the_data_it_was_opened_on(app_env, tmp_path):
    # the attack: the form open on C001, the dataset replaced from the command line (now B09
    # leads the list), then Save — it must not land on B09, nor on anything
    from kam_analytics.ingest import ingest_file
    from ui.state import get_store

    app_env()
    at, account = _follow_up_form()
    assert account.value == "C001"
    [note] = [t for t in at.text_area if t.label == "Note"]
    note.input("Called C001 about the renewal")
    other = tmp_path / "other.csv"
    other.write_text("客户编号,订单日期,销售额\nB09,2024-03-01,900\nB10,2023-09-01,50\n", encoding="utf-8")
    ingest_file(get_store(), other, dataset="测试数据", replace=True)
    [save] = [b for b in at.button if b.label == "Save the follow-up"]
    save.click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        escape_markdown(T("followup_dataset_changed", "en", dataset="测试数据", customer="C001"))]
    store = get_store()
    assert store.followups(store.dataset("测试数据")).empty  # nothing saved, on any account
    # opened afresh on the new data, the form saves on the account chosen
    at, account = _follow_up_form()
    assert account.value == "B09"
    [save] = [b for b in at.button if b.label == "Save the follow-up"]
    save.click().run()
    assert at.success[0].value == "Follow-up saved for B09."
    assert store.followups(store.dataset("测试数据"))["customer_id"].tolist() == ["B09"]


def test_a_follow_up_for_a_customer_the_dataset_lacks_is_refused(cli, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("customer_id,order_date,amount\nA1,2024-01-05,100\n", encoding="utf-8")
    assert cli("ingest", path, "--dataset", "d").returncode == 0
    done = cli("followup", "--dataset", "d", "--customer", "DOES-NOT-EXIST", "--status", "contacted")
    assert done.returncode == 2 and "has no customer DOES-NOT-EXIST" in done.stderr
    assert cli("followup", "--dataset", "d", "--customer", "A1", "--status", "contacted").returncode == 0
    entries = [e["action"] for e in json.loads(cli("audit", "--json").stdout.strip().splitlines()[-1])["entries"]]
    assert entries == ["followup", "upload"]  # the refused one left no trace


def test_a_follow_up_saved_outside_the_page_shows_in_the_list_on_the_next_run(app_env):
    # the list is cached under the state of the dataset's follow-ups: one saved by another
    # session or the command line (here: straight into the store) shows on the next run
    import datetime as dt

    from ui.state import get_store

    app_env()
    at = open_app("en", "churn")
    listing = at.dataframe[0].value
    assert listing[T("col_customer_id", "en")].tolist() == ["C001"]
    assert listing[T("churn_followups", "en")].tolist() == [""]
    store = get_store()
    store.add_followup(store.dataset("测试数据"), "C001", "contacted", note="电话")
    at.run()
    listing = at.dataframe[0].value
    assert listing[T("churn_followups", "en")].tolist() == [f"1 · {T('status_contacted', 'en')} {dt.date.today()}"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_churn_post_mortem(app_env, lang):
    # horizon 90 days before 2024-03-10 -> C003 (last order 2023-10-01) lapsed, taking 100 with it
    app_env()
    at = open_app(lang, "churn")
    at.session_state["churn_tab"] = T("churn_tab_post_mortem", lang)
    at.run()
    assert not at.exception
    assert at.main.caption[-1].value == T("churn_post_mortem_help", lang, count="1", revenue="100")
    assert len(at.get("plotly_chart")) == 2  # lapses by month, retention by cohort


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cluster_scatter_axes_and_points_a_log_axis_cannot_show(app_env, tmp_path, lang):
    # as of 2024-03-05 (the data's end): K4 nets to −50 (a return), K3 last ordered that day (recency 0)
    load_csv(tmp_path, "returns", "客户编号,订单日期,金额\nK1,2024-01-05,100\nK1,2024-03-01,200\nK2,2024-02-01,300\n"
                                  "K3,2024-03-05,50\nK4,2024-01-10,100\nK4,2024-02-10,-150\n")
    at = open_app(lang, "segments")
    at.session_state["seg_tab"] = T("seg_tab_clusters", lang)
    at.run()
    assert not at.exception
    captions = [c.value for c in at.main.caption]
    assert T("seg_not_on_log_axes", lang, n=1) in captions  # frequency × revenue: K4 only
    at.selectbox(key="seg_x").set_value("recency_days").run()
    captions = [c.value for c in at.main.caption]
    assert T("seg_not_on_log_axes", lang, n=2) in captions  # recency × revenue: K3 (0 days) and K4
    [profiles] = [d.value for d in at.dataframe]
    assert profiles[T("col_customers", lang)].sum() == 4   # everyone is still in the profiles


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_negative_margin_list_starts_with_the_biggest_loss(app_env, tmp_path, lang):
    # losses: N2 −50, N3 −20, N1 −5.004 (shown to the cent); P makes money
    load_csv(tmp_path, "margins", "客户编号,订单日期,金额,利润\nN1,2024-01-05,100.126,-5.004\nN2,2024-01-06,200,-50\n"
                                  "N3,2024-01-07,300,-20\nP,2024-01-08,1000,100\n")
    at = open_app(lang, "key_accounts")
    at.session_state["ka_tab"] = T("ka_tab_margin", lang)
    at.run()
    assert not at.exception
    losses = at.dataframe[0].value
    assert losses[T("col_customer_id", lang)].tolist() == ["N2", "N3", "N1"]
    assert losses[T("col_profit", lang)].tolist() == [-50.0, -20.0, -5.0]
    assert losses[T("col_revenue", lang)].tolist() == [200.0, 300.0, 100.13]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_upload_report_shows_the_counts_and_warnings_the_cli_prints(app_env, tmp_path, lang):
    from kam_analytics.ingest.report import report_details, report_warnings
    from ui.markdown import escape_markdown

    content = ("客户编号,订单日期,金额,备注,备注\nA,2024-01-01,10,x,y\n,,,,\nB,2024-01-02,,x,y\n"
               "C,2024-01-03,5,x,y\n").encode("utf-8")
    at = open_app(lang, "data")
    at.file_uploader[0].upload("dup.csv", content, "text/csv").run()
    [load] = [b for b in at.button if b.label == T("upload_load", lang)]
    load.click().run()
    assert not at.exception, [e.value for e in at.exception]
    # what the CLI prints for the same file, by hand: 5 records = 1 header + 1 blank + 3 data; 2 + 1 = 3
    expected = {"encoding_reason": "utf8_valid", "count_method": "byte scan", "file_records": 5,
                "header_records": 1, "blank_rows": 1, "data_rows": 3, "rows": 2, "rejected": 1,
                "warnings": ["duplicate_headers:备注"]}
    captions = [c.value for c in at.caption]
    for line in report_details(expected, lang):
        assert escape_markdown(line) in captions
    assert [w.value for w in at.warning][0] == escape_markdown(report_warnings(expected, lang)[0])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_unexpected_error_shows_a_sentence_and_a_reference_never_a_traceback(app_env, monkeypatch, lang, caplog):
    import logging

    from ui import queries

    app_env()

    def broken(*args, **kwargs):
        raise RuntimeError("boom at /srv/secret/path.py")

    monkeypatch.setattr(queries, "customer_summary", broken)
    with caplog.at_level(logging.ERROR, logger="kam_analytics.app"):
        at = AppTest.from_file("../app.py", default_timeout=60)
        at.query_params["lang"] = lang
        at.run()
    assert not at.exception  # nothing uncaught reaches the browser
    [shown] = [e.value for e in at.error]
    reference = caplog.records[-1].getMessage().rsplit(" ", 1)[-1]
    assert shown == T("error_unexpected", lang, reference=reference)
    assert "boom" not in shown and "/srv" not in shown and len(reference) == 8
    assert "boom at /srv/secret/path.py" in caplog.text  # the traceback is in the server log


def test_a_hostile_dataset_name_is_shown_as_text_after_a_load(app_env):
    hostile = "![x](http://127.0.0.1:9/t.png)"
    at = open_app("en", "data")
    at.file_uploader[0].upload("orders.csv", "customer_id,order_date,amount\nA,2024-01-01,5\n".encode(), "text/csv").run()
    next(box for box in at.text_input if box.label == T("upload_name", "en")).set_value(hostile).run()
    next(b for b in at.button if b.label == T("upload_load", "en")).click().run()
    assert not at.exception
    [loaded] = [m.value for m in at.success]
    assert escape_markdown(hostile) in loaded and hostile not in loaded.replace(escape_markdown(hostile), "")


@pytest.mark.parametrize("lang,outstanding,overdue", [("zh", "2,070", "1,270"), ("en", "2.1K", "1.3K")])
def test_receivables_page_figures(app_env, tmp_path, lang, outstanding, overdue):
    from test_receivables import LINES

    load_csv(tmp_path, "应收", LINES)
    # the period ends on the hand-worked date 2024-06-30 (its start does not matter: older
    # invoices are still owed): A owes 1,400 and B 670, overdue 600 + 670; credit sales of the
    # last 90 days 800 − 100 + 50 + 70 + 5,000 (test_receivables)
    at = open_app(lang, "receivables", period="custom", start="2024-06-01", end="2024-06-30")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("recv_outstanding", lang)] == outstanding and metrics[T("recv_overdue", lang)] == overdue
    assert metrics[T("recv_overdue_share", lang)] == "61.4%"          # 1,270 / 2,070
    assert metrics[T("recv_dso", lang)] == "32"                       # 2,070 / 5,820 × 90 = 32.0
    assert metrics["HHI"] == "5,622"                                  # 10,000 × (0.6763² + 0.3237²)
    assert metrics[T("kpi_top5", lang)] == "100.0%"
    at.radio(key="recv_scope").set_value("all").run()
    at.session_state["recv_tab"] = T("recv_tab_deterioration", lang)
    at.run()
    assert not at.exception
    worse = [d.value for d in at.dataframe][-1]
    assert worse[T("col_customer_id", lang)].tolist() == ["B"]
    assert worse[T("recv_why", lang)].tolist()[0].startswith(
        T("recv_why_paying_later", lang, recent="30", prior="0"))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_receivables_page_without_due_dates_says_so(app_env, lang):
    # the small sample has no due or paid dates: a sentence, not a page of zeros
    app_env()
    at = open_app(lang, "receivables")
    assert [i.value for i in at.info] == [T("receivables_none", lang, dataset=escape_markdown("测试数据"))]
    assert not at.metric


ORDER_LINES = """客户编号,订单编号,订单日期,金额
K1,O1,2024-01-05,100
K1,O1,2024-01-05,50
K1,O1,2024-01-05,25
K1,O2,2024-02-01,10
K1,O2,2024-02-01,-5
K2,O3,2024-01-10,300
K2,O3,2024-01-11,200
K2,O4,2024-03-01,40
K2,O4,2024-03-01,60
"""


@pytest.mark.parametrize("page", PAGES)
def test_pages_on_a_dataset_with_an_order_table(app_env, tmp_path, page):
    """Nine lines in four orders: the load keeps an order table (five rows) and the pages read it."""
    load_csv(tmp_path, "lines", ORDER_LINES)
    from kam_analytics.store import Store

    with Store.open(tmp_path / "app.duckdb") as store:
        assert store.dataset("lines").orders_table is not None
    for lang in ("zh", "en"):
        at = open_app(lang, page)
        assert [t.value for t in at.title] == [T(TITLE_KEY[page], lang)]
        if page == "overview":
            metrics = {m.label: m.value for m in at.metric}
            # K1: 175 + 5 = 180, K2: 500 + 100 = 600; the top customer brings 600 / 780
            assert metrics[T("kpi_revenue", lang)] == "780" and metrics[T("kpi_customers", lang)] == "2"
            assert metrics[T("kpi_top1", lang)] == "76.9%"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_erp_workbook_with_a_title_banner_and_total_lines_loads_from_the_page(app_env, tmp_path, lang):
    from test_ingest_erp import banner_workbook

    at = open_app(lang, "data")
    data = banner_workbook(tmp_path / "三月.xlsx").read_bytes()
    at.file_uploader[0].upload("三月.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning  # the banner is not the header: every field is found, nothing to fix
    mapping = {s.label: s.value for s in at.selectbox if s.key and s.key.startswith("map_")}
    assert mapping[T("field_customer_id", lang) + " *"] == "客户编号"
    [header] = [n for n in at.number_input if n.label == T("upload_header_row", lang)]
    assert header.value == 0 and T("upload_header_row_help", lang, row=2) == header.help
    [load] = [b for b in at.button if b.label == T("upload_load", lang)]
    assert not load.disabled
    load.click().run()
    assert not at.exception, [e.value for e in at.exception]
    # 3 order lines (100.5 + 200 + 50); 4 lines that are not data, 1 data line refused
    not_data = T("reason_summary_row", lang) + ": 2" + T("list_separator_sentences", lang) + \
        T("reason_header_repeated", lang) + ": 1" + T("list_separator_sentences", lang) + T("reason_title_line", lang) + ": 1"
    assert [i.value for i in at.info] == [T("report_not_data", lang, count="4", what=not_data)]
    assert [w.value for w in at.warning][-1] == T("report_rejected", lang, rejected="1")  # (after the merged cells' note)


def test_repeated_orders_are_shown_before_anything_is_saved_and_the_choice_is_the_users(app_env, tmp_path):
    from test_ingest_erp import repeated_orders

    from ui.state import get_store

    at = open_app("en", "data")
    data = repeated_orders(tmp_path / "dups.xlsx").read_bytes()
    at.file_uploader[0].upload("dups.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").run()
    [choice] = [r for r in at.radio if r.label == T("upload_duplicates", "en")]
    assert choice.value == "ask"
    [load] = [b for b in at.button if b.label == T("upload_load", "en")]
    load.click().run()
    assert not at.exception
    # O1 once more (100.25) and O2 twice more (2 × 50): held, nothing saved
    assert [e.value for e in at.error] == [escape_markdown(T("duplicates_found", "en", file="dups.xlsx", lines="3",
                                                             amount="200.25"))]
    assert get_store().find("dups") is None
    [choice] = [r for r in at.radio if r.label == T("upload_duplicates", "en")]
    choice.set_value("drop").run()
    [load] = [b for b in at.button if b.label == T("upload_load", "en")]
    load.click().run()
    assert not at.exception and not at.error
    assert get_store().find("dups").rows == 4
    assert T("report_duplicates_drop", "en", lines="3", amount="200.25") in [w.value for w in at.warning]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_group_suggestions_are_reviewed_and_applied_on_the_data_page(app_env, tmp_path, lang):
    """Three branches of 华润集团 and an unrelated customer: the page proposes the three as one
    group (nothing changes yet), the button applies them, and the owner attribute already held
    for K9 stays."""
    from kam_analytics import service
    from kam_analytics.ingest.attributes import ingest_attributes
    from kam_analytics.store import Store

    load_csv(tmp_path, "branches", "customer_id,customer_name,order_date,amount\nK1,华润集团上海分公司,2025-01-02,100\n"
             "K2,华润集团北京分公司,2025-01-03,200\nK3,华润集团有限公司,2025-01-04,300\nK9,上海东方贸易有限公司,2025-01-05,50\n")
    attrs = tmp_path / "owners.csv"
    attrs.write_text("customer_id,owner\nK9,王芳\n", encoding="utf-8")
    with Store.open(tmp_path / "app.duckdb") as store:
        ingest_attributes(store, store.dataset("branches"), attrs)
    at = open_app(lang, "data")
    assert T("groups_none", lang) in [c.value for c in at.caption]
    [suggest] = [t for t in at.toggle if t.label == T("groups_suggest", lang)]
    suggest.set_value(True).run()
    assert not at.exception
    assert T("groups_suggest_found", lang, groups="1", customers="3") in [c.value for c in at.caption], ([i.value for i in at.info], [e.value for e in at.error])
    with Store.open(tmp_path / "app.duckdb") as store:  # a suggestion changes nothing by itself
        assert not service.has_group_data(store, store.dataset("branches"))
    [apply] = [b for b in at.button if b.label == T("groups_apply", lang, count="3")]
    apply.click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [escape_markdown(T("groups_applied", lang, customers="3", attributes="4"))]
    with Store.open(tmp_path / "app.duckdb") as store:
        dataset = store.dataset("branches")
        gmap = service.group_map(store, dataset).set_index("customer_id")
        assert gmap["group_id"].to_dict() == {"K1": "华润集团", "K2": "华润集团", "K3": "华润集团", "K9": "K9"}
        held = store.attributes(dataset).to_pandas().set_index("customer_id")
        assert held.loc["K9", "owner"] == "王芳"
        assert store.audit_trail(1)["action"].tolist() == ["attributes"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_several_files_load_together_and_a_month_is_added(app_env, lang):
    """Two monthly exports (one GB18030) load as one dataset, each file accounted for; a third
    month, then a corrected second month, are added to it: nothing counts twice."""
    jan = "订单编号,客户编号,订单日期,金额\r\nO1,A,2024-01-05,100\r\nO2,B,2024-01-20,200\r\n"
    feb = "订单编号,客户编号,订单日期,金额\r\nO3,A,2024-02-03,70\r\n"
    at = open_app(lang, "data")
    uploader = at.file_uploader[0]
    uploader.upload("一月.csv", jan.encode("gb18030"), "text/csv").upload("二月.csv", feb.encode("utf-8"), "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.info[0].value == T("upload_several", lang, count="2", files=escape_markdown(
        T("list_separator", lang).join(["一月.csv", "二月.csv"])), first=escape_markdown("一月.csv"))
    [name] = [t for t in at.text_input if t.key and t.key.startswith("name_")]
    name.input("月报").run()
    [load] = [b for b in at.button if b.label == T("upload_load", lang)]
    load.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success[0].value == T("report_loaded", lang, dataset="月报", rows="3", customers="2", revenue="370",
                                    start="2024-01-05", end="2024-02-03")
    accounts = at.dataframe[0].value
    # each file: records = header + blank + loaded + rejected
    assert accounts[T("col_file", lang)].tolist() == ["一月.csv", "二月.csv"]
    assert accounts[T("col_records", lang)].tolist() == ["3", "2"] and accounts[T("col_loaded", lang)].tolist() == ["2", "1"]
    # March arrives, then February re-exported with O3 corrected to 90
    for file, text in (("三月.csv", "订单编号,客户编号,订单日期,金额\r\nO4,C,2024-03-02,30\r\n"),
                       ("二月.csv", "订单编号,客户编号,订单日期,金额\r\nO3,A,2024-02-03,90\r\n")):
        at = open_app(lang, "data")
        at.file_uploader[0].upload(file, text.encode("utf-8"), "text/csv").run()
        [name] = [t for t in at.text_input if t.key and t.key.startswith("name_")]
        name.input("月报").run()
        [existing] = [r for r in at.radio if r.key and r.key.startswith("existing_")]
        existing.set_value("append").run()
        [overlap] = [r for r in at.radio if r.key and r.key.startswith("overlap_")]
        assert overlap.value == "orders"
        [add] = [b for b in at.button if b.label == T("upload_add", lang)]
        add.click().run()
        assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    # O1 100 + O2 200 + O3 90 (replacing 70) + O4 30
    assert at.success[0].value == T("report_appended", lang, dataset="月报", rows="4", customers="3", revenue="420",
                                    start="2024-01-05", end="2024-03-02")
    # (three lines in the base, two in pieces: more than half, so the pieces were merged into one file)
    assert at.info[0].value == escape_markdown(T("two_sentences", lang, first=T(
        "append_done_orders", lang, added="1", replaced="1", orders="1"), second=T("append_compacted", lang)))
    assert not at.error


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_segments_and_receivables_lists_mark_the_lapsed(app_env, tmp_path, lang):
    # as of 2024-03-10: C003's one order was on 2023-10-01, 161 days before — more than 60 days
    # and more than the 90-day horizon, so lapsed; C001 (ordered that day) and C002 (19 days) not
    app_env()
    at = open_app(lang, "segments")
    at.session_state["seg_tab"] = T("seg_tab_customers", lang)
    at.run()
    assert not at.exception
    listed = at.dataframe[-1].value.set_index(T("col_customer_id", lang))[T("col_standing", lang)]
    assert listed.to_dict() == {"C001": "", "C002": "", "C003": T("standing_lapsed", lang)}
    # receivables as of 2024-06-30: X owes for its one order of 2024-01-01 (181 days silent:
    # lapsed), Y ordered every month up to that day
    load_csv(tmp_path, "owed", "客户编号,订单日期,金额,到期日,回款日期\nX,2024-01-01,100,2024-01-31,\n"
             + "".join(f"Y,2024-{m:02d}-28,50,2024-{m:02d}-28,2024-{m:02d}-28\n" for m in range(1, 7))
             + "Y,2024-06-30,50,2024-07-30,\n")
    at = open_app(lang, "receivables", ds="2")
    at.radio(key="recv_scope").set_value("all").run()
    owed = at.dataframe[0].value.set_index(T("col_customer_id", lang))[T("col_standing", lang)]
    assert owed.to_dict() == {"X": T("standing_lapsed", lang), "Y": ""}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reviews_page_creates_and_compares_reviews(app_env, tmp_path, lang):
    """Two reviews made on the page; the comparison's figures are the CLI's (``review compare``)
    formatted as the page formats money and shares."""
    import datetime as dt

    from kam_analytics import reviews
    from kam_analytics.access import local_identity
    from kam_analytics.i18n import format_amount, format_share
    from kam_analytics.store import Store
    from tests.test_reviews import _lines

    load_csv(tmp_path, "评审数据", _lines())
    at = open_app(lang, "reviews")
    assert any(T("reviews_none", lang) in str(i.value) for i in at.info)
    for review_id, day in ((1, dt.date(2024, 6, 30)), (2, dt.date(2025, 6, 15))):
        at.date_input(key="review_as_of").set_value(day)
        at.text_input(key="review_note").set_value("<b>季度</b> :red[x]")
        at.button(key="review_create_submit").click().run()
        assert not at.exception, [e.value for e in at.exception]
        with Store.open(tmp_path / "app.duckdb") as store:
            made = store.reviews.get(review_id)
        # the lines of tests/test_reviews.py: 8 accounts in the twelve months to 2024-06-30 (A, B, R1–R6),
        # 7 in those to 2025-06-15 (B's last line is 2024-02-10)
        assert (made.as_of, made.accounts, made.note) == (day.isoformat(), 8 if review_id == 1 else 7, "<b>季度</b> :red[x]")
        assert [s.value for s in at.success] == [T("reviews_created", lang, review_id=review_id, as_of=day.isoformat(),
                                                   key_accounts=made.key_accounts, accounts=made.accounts)]
    with Store.open(tmp_path / "app.duckdb") as store:
        dataset = store.dataset("评审数据")
        bridge = reviews.compare(store, local_identity(), dataset, 1, 2).bridge
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[T("reviews_bridge_start_revenue", lang)] == format_amount(bridge["start_revenue"], lang)
    assert metrics[T("reviews_bridge_end_revenue", lang)] == format_amount(bridge["end_revenue"], lang)
    assert metrics[T("reviews_bridge_nrr", lang)] == format_share(bridge["nrr"])
    assert [t.value for t in at.text] == [T("report_note", lang, note="<b>季度</b> :red[x]")]  # as text
    assert at.selectbox(key="review_pick").value == 2


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_alerts_page_subscribes_previews_and_removes(app_env, tmp_path, lang, monkeypatch):
    """An administrator adds a subscription on the page, previews the digests (nothing sent:
    the alert log stays empty) and removes it; the preview's names are text."""
    from tests.test_alerts import EVIL, LINES

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[kam.notify.owners]\n"王芳" = "wang@example.com"\n"李雷" = "li@example.com"\n', encoding="utf-8")
    monkeypatch.setenv("KAM_SECRETS", str(secrets))
    load_csv(tmp_path, "提醒数据", "\n".join(LINES) + "\n")
    at = open_app(lang, "alerts")
    assert [i.value for i in at.info] == [T("alerts_none", lang)]
    at.selectbox(key="alerts_rule").set_value("concentration")
    at.selectbox(key="alerts_kind").set_value("owners")
    at.radio(key="alerts_scope").set_value("all")
    at.button(key="alerts_subscribe_submit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == [T("alerts_subscribed", lang, subscription_id=1)]
    table = at.dataframe[0].value
    assert table[T("alerts_col_rule", lang)].tolist() == [T("alert_rule_concentration", lang)]
    assert table[T("alerts_col_to", lang)].tolist() == [T("alerts_to_owners", lang)]
    at.button(key="alerts_preview").click().run()
    # by hand: A 50% and C 10% to 王芳 (wang@), B 30% to 李雷 (li@); the top-5 share goes to no owner
    assert [e.label for e in at.main.expander] == [T("alerts_preview_to", lang, to="email:li@example.com", alerts="1"),
                                              T("alerts_preview_to", lang, to="email:wang@example.com", alerts="2")]
    assert any(EVIL in str(t.value) for t in at.text)
    assert at.selectbox(key="alerts_remove_pick").value == 1
    at.button(key="alerts_remove").click().run()
    assert [i.value for i in at.info] == [T("alerts_none", lang)]
