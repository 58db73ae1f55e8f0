"""The figures built in ``charts.py`` from analysis results: what they plot, by hand."""
from __future__ import annotations

import pandas as pd

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
