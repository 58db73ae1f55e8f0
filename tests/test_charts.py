"""The figures built in ``charts.py`` from analysis results: what they plot, by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from kam_analytics import charts


def test_lapses_by_month_counts_accounts_and_sums_revenue():
    lapsed = pd.DataFrame({"customer_id": ["A", "B", "C"], "lapse_month": ["2024-01", "2024-03", "2024-01"],
                           "revenue_lost": [100.0, 50.0, 25.0]})
    fig = charts.lapses_by_month(lapsed, "zh")
    bars, line = fig.data
    assert list(bars.x) == ["2024-01", "2024-03"] and list(bars.y) == [2, 1]
    assert list(line.y) == [125.0, 50.0]
    assert (bars.name, line.name) == ("流失客户数", "流失销售额")  # from the catalog
    assert fig.layout.xaxis.type == "category"


def test_retention_heatmap_one_row_per_cohort_quarter():
    retention = pd.DataFrame({"cohort": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-04-01"]),
                              "k": [0, 1, 0], "customers": [4, 2, 3], "share": [1.0, 0.5, 1.0]})
    fig = charts.retention_heatmap(retention, "en")
    heat = fig.data[0]
    assert list(heat.y) == ["2024-Q1", "2024-Q2"] and list(heat.x) == ["0", "1"]
    assert heat.z[0][1] == 0.5 and pd.isna(heat.z[1][1])


def test_cluster_label_words():
    assert charts.cluster_label("recent-frequent-high-long_standing", "en") == "recent · frequent · high value · long-standing"


def test_tier_pyramid_labels_in_the_languages_units():
    summary = pd.DataFrame({"tier": ["platinum", "gold", "iron", "lead"], "customers": [2, 3, 3, 2],
                            "revenue": [1_500_000.0, 300_000.0, 20_000.0, 500.0]})
    fig = charts.tier_pyramid(summary, "score", "zh")
    funnel = fig.data[0]
    assert list(funnel.x) == [2, 3, 3, 2]
    assert "150.0万" in funnel.text[0] and "500" in funnel.text[3]


@pytest.mark.parametrize("lang,texts", [("zh", ["0", "1,000万", "2,000万", "3,000万"]), ("en", ["0", "10M", "20M", "30M"])])
def test_money_axes_speak_the_language(lang, texts):
    # 0 .. 28,000,000 in about 5 steps: a rough step of 5.6 million rounds up to 10 million
    from kam_analytics.charts import money_ticks

    assert money_ticks(0, 28_000_000, lang) == ([0, 10_000_000, 20_000_000, 30_000_000], texts)
    # a return month below zero: the axis reaches down past it (step 1,000 for −1,200 .. 3,000)
    values, labels = money_ticks(-1_200, 3_000, "en")
    assert values == [-2000, -1000, 0, 1000, 2000, 3000] and labels[:3] == ["-2K", "-1K", "0"]


def _periods(revenue, months=None):
    months = months or len(revenue)
    return pd.DataFrame({"period": pd.date_range("2024-01-01", periods=months, freq="MS"), "revenue": revenue,
                         "orders": 1234, "customers": 7})


@pytest.mark.parametrize("lang,unit,suffix", [("zh", 1e4, "万"), ("en", 1e6, "M")])
def test_trend_money_axis_is_written_in_the_units_of_its_largest_tick(lang, unit, suffix):
    # 5,000,000 and 28,000,000: ticks 0, 10M, 20M, 30M (as above), written as 0..3,000 万 or 0..30 M;
    # the bars are divided by the same unit, so 28,000,000 stands at 2,800 (万) or 28 (M)
    from kam_analytics import echarts

    option = echarts.revenue_trend(_periods([5_000_000.0, 28_000_000.0]), lang)
    axis = option["yAxis"]
    assert (axis["min"], axis["max"], axis["interval"]) == (0, 30_000_000 / unit, 10_000_000 / unit)
    assert axis["axisLabel"]["formatter"] == "{value}" + suffix
    source = option["dataset"]["source"]
    assert list(source["bar"]) == [5_000_000 / unit, 28_000_000 / unit]
    assert list(source["period"]) == ["2024-01", "2024-02"]
    # the tooltip's amounts are the exact ones, in words: 2,800.0万 / 28.0M, orders 1,234
    assert list(source["revenue"]) == (["500.0万", "2,800.0万"] if lang == "zh" else ["5.0M", "28.0M"])
    assert list(source["orders"]) == ["1,234", "1,234"]
    assert option["tooltip"]["formatter"] == catalog_text(lang, "chart_hover_period").format(
        period="{@period}", revenue="{@revenue}", orders="{@orders}", customers="{@customers}")


def catalog_text(lang, key):
    from kam_analytics.i18n import catalog

    return catalog(lang)[key]


def test_small_amounts_have_no_unit_and_a_flat_trend_one_tick():
    from kam_analytics import echarts

    # 0 .. 800 (en): below 1K, ticks 0, 200, .. 800 with no suffix; all zeros: the one tick 0
    axis = echarts.revenue_trend(_periods([800.0, 10.0]), "en")["yAxis"]
    assert (axis["min"], axis["max"], axis["interval"], axis["axisLabel"]["formatter"]) == (0, 800, 200, "{value}")
    flat = echarts.revenue_trend(_periods([0.0, 0.0]), "zh")["yAxis"]
    assert "min" not in flat and flat["axisLabel"]["formatter"] == "{value}"
    empty = echarts.revenue_trend(_periods([]), "en")
    assert empty["series"] == [] and empty["title"]["text"] == "Revenue over time"


def test_month_labels_every_kth_period_for_at_most_about_twelve():
    # 3 months: every month labelled (interval 0); 30 months: every 3rd (interval 2); 12: every one; 13: every 2nd
    from kam_analytics import echarts

    def interval(n):
        return echarts.revenue_trend(_periods([1.0] * n), "en")["xAxis"]["axisLabel"]["interval"]

    assert [interval(3), interval(12), interval(13), interval(30)] == [0, 0, 1, 2]


def test_segment_sizes_bars_count_customers_and_the_line_is_the_share_in_per_cent():
    from kam_analytics import echarts

    summary = pd.DataFrame({"segment": ["champions", "lost"], "customers": [3, 7], "revenue_share": [0.8254, 0.1746]})
    option = echarts.segment_sizes(summary, "zh")
    bars, line = option["series"]
    assert option["xAxis"]["data"] == ["冠军客户", "已流失"]
    assert bars["data"] == [3, 7] and line["data"] == [82.5, 17.5] and line["yAxisIndex"] == 1
    assert (bars["name"], line["name"]) == ("客户数", "销售额占比")
    assert option["yAxis"][1]["axisLabel"]["formatter"] == "{value}%"


def test_lorenz_curve_of_many_customers_is_drawn_through_a_thousand_of_them():
    from kam_analytics.analytics.concentration import lorenz_points

    # 4,999 customers: the i-th (1-based) has value i, so the curve at customer share i/n is
    # i(i+1)/2 / (n(n+1)/2); the drawn points lie on it and keep both ends
    n = 4_999
    ranked = pd.DataFrame({"x": [float(i) for i in range(1, n + 1)]})
    fig = charts.lorenz(lorenz_points(ranked), 0.33, "en")
    curve = fig.data[1]
    assert len(curve.x) == charts.LINE_POINTS
    assert (curve.x[0], curve.y[0]) == (0.0, 0.0) and (curve.x[-1], curve.y[-1]) == (1.0, 1.0)
    for share, value in zip(curve.x, curve.y):
        i = round(share * n)
        assert value == pytest.approx(i * (i + 1) / 2 / (n * (n + 1) / 2))
    small = charts.lorenz(lorenz_points(ranked.head(10)), 0.3, "en").data[1]
    assert len(small.x) == 11  # (0, 0) and every customer
    for lang, words in (("en", "of customers bring"), ("zh", "的客户贡献")):
        hover = charts.lorenz(lorenz_points(ranked.head(10)), 0.3, lang).data[1].hovertemplate
        assert hover == f"%{{x:.1%}} {words} %{{y:.1%}}<extra></extra>"  # Plotly's placeholders, braces single


def test_pareto_draws_each_class_as_one_step_outline_and_a_marker_per_customer():
    from kam_analytics.analytics import concentration

    # five customers: 50, 30, 10, 6, 4 of 100; the share before each: 0, 50%, 80%, 90%, 96%.
    # A customer's class is by the share before it (cuts 80% / 95%): A = ranks 1-2, B = 3-4, C = 5
    ranked = pd.DataFrame({"customer_id": list("PQRST"), "x": [50.0, 30.0, 10.0, 6.0, 4.0],
                           "value": [50.0, 30.0, 10.0, 6.0, 4.0], "rank": [1, 2, 3, 4, 5],
                           "cum_x": [50.0, 80.0, 90.0, 96.0, 100.0]})
    table = concentration.pareto_table(ranked, (0.8, 0.95))
    assert list(table["abc"]) == ["A", "A", "B", "B", "C"]
    from kam_analytics import echarts

    steps = echarts.share_steps(table)
    assert steps["A"] == ([0.5, 1.5, 2.5], [0.5, 0.3, 0.3])
    assert steps["B"] == ([2.5, 3.5, 4.5], [0.1, 0.06, 0.06])
    assert steps["C"] == ([4.5, 5.5], [0.04, 0.04])
    option = echarts.pareto(table, "en", limit=3)  # the first three drawn: no C
    areas, line, markers = option["series"][:2], option["series"][2], option["series"][3:]
    # a step holds each share to the next rank ('end': across, then up or down), filled, in per cent
    assert [a["step"] for a in areas] == ["end", "end"] and all("areaStyle" in a for a in areas)
    assert areas[1]["data"] == [[2.5, 10.0], [3.5, 10.0]]
    assert line["data"] == [[1, 50.0], [2, 80.0], [3, 90.0]] and line["yAxisIndex"] == 1
    assert option["xAxis"]["min"] == 0 and option["xAxis"]["max"] == 3.5
    # the 80% line; the dotted line after rank 2 (P and Q make 80%, both drawn)
    marks = line["markLine"]["data"]
    assert marks[0]["yAxis"] == 80 and marks[1]["xAxis"] == 2.5 and "2 customers" in marks[1]["label"]["formatter"]
    # a marker series per class, each over its own customers; a click on R (B's first) opens R
    assert [m["datasetIndex"] for m in markers] == [0, 1] and all(m["selectedMode"] == "single" for m in markers)
    a_rows, b_rows = (option["dataset"][i]["source"] for i in (0, 1))
    assert list(a_rows["customer_id"]) == ["P", "Q"] and list(b_rows["customer_id"]) == ["R"]
    assert list(b_rows["share"]) == ["10.00%"] and list(b_rows["cum"]) == ["90.0%"] and list(b_rows["cum_pct"]) == [90.0]
    clicked = {"selection": {"selected": [{"series_index": 3 + 1, "data_indices": [0]}], "areas": []}}
    assert echarts.picked_customer(option, clicked) == "R"
    assert echarts.picked_customer(option, {"selection": {"selected": [], "areas": []}}) is None
    assert echarts.picked_customer(option, None) is None


def test_pareto_tooltip_names_the_customer_as_text_from_its_data():
    # the label is data (Streamlit escapes what it puts into the template), never the template
    from kam_analytics import echarts
    from kam_analytics.analytics import concentration

    ranked = pd.DataFrame({"customer_id": ["<b>X</b>"], "name": ["{@value} & <i>co</i>"], "x": [5.0], "value": [5.0],
                           "rank": [1], "cum_x": [5.0]})
    option = echarts.pareto(concentration.pareto_table(ranked), "zh")
    assert list(option["dataset"][0]["source"]["customer"]) == ["<b>X</b> · {@value} & <i>co</i>"]
    assert "<b>X</b>" not in option["tooltip"]["formatter"] and "{@customer}" in option["tooltip"]["formatter"]


def test_aging_bars_stack_each_account_by_bucket_top_down_in_the_languages_units():
    # two accounts, the larger first: A owes 30,000 not due and 12,000 over 90 days; B has a
    # credit of 2,000 not due and 8,000 1-30 days overdue. Stacks: −2,000 .. 42,000, ticks of
    # 10,000 from −10,000 to 50,000, written in 万 (zh): −1 .. 5
    from kam_analytics import echarts

    buckets = {"not_due": [30_000.0, -2_000.0], "overdue_1_30": [0.0, 8_000.0], "overdue_31_60": [0.0, 0.0],
               "overdue_61_90": [0.0, 0.0], "overdue_90_plus": [12_000.0, 0.0]}
    rows = pd.DataFrame({"customer_id": ["A", "B"], "name": ["甲公司", None], **buckets})
    option = echarts.aging_bars(rows, "zh")
    axis = option["xAxis"]
    assert (axis["min"], axis["max"], axis["interval"], axis["axisLabel"]["formatter"]) == (-1, 5, 1, "{value}万")
    source = option["dataset"]["source"]
    assert list(source["account"]) == ["B", "A · 甲公司"]  # bottom-up: A, the first, drawn on top
    assert list(source["not_due"]) == [-0.2, 3.0] and list(source["overdue_90_plus"]) == [0.0, 1.2]
    assert list(source["not_due_text"]) == ["-2,000", "3.0万"]
    assert [s["stack"] for s in option["series"]] == ["outstanding"] * 5
    assert [s["name"] for s in option["series"]][0] == "未到期"
    assert echarts.aging_height(2) == echarts.HEIGHT and echarts.aging_height(25) == 26 * 25 + 140


def test_a_name_of_thousands_of_characters_does_not_squeeze_the_aging_bars():
    # a 3,000-character name: the axis shows 240 pixels of it ending in '…', the tooltip all of it
    from kam_analytics import echarts

    long_name = "长" * 3000
    rows = pd.DataFrame({"customer_id": ["A"], "name": [long_name], "not_due": [100.0], "overdue_1_30": [0.0],
                         "overdue_31_60": [0.0], "overdue_61_90": [0.0], "overdue_90_plus": [0.0]})
    option = echarts.aging_bars(rows, "en")
    assert option["yAxis"]["axisLabel"] == {"interval": 0, "width": 240, "overflow": "truncate"}
    assert list(option["dataset"]["source"]["account"]) == [f"A · {long_name}"]
    assert "{@account}" in option["tooltip"]["formatter"]
