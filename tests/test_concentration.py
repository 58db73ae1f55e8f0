"""Concentration figures pinned on hand-worked cases, and against an independent pandas
computation (other formulas: Gini as mean absolute difference) on the shared datasets."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from kam_analytics.analytics import concentration as conc
from kam_analytics.ingest import ingest_file


def load(store, tmp_path, lines, name="t", header="客户编号,订单日期,金额"):
    path = tmp_path / f"{name}.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset=name)
    return store.table(name)


def figures(store, tmp_path, lines, measure="revenue", **kw):
    header = kw.pop("header", "客户编号,订单日期,金额")
    table = load(store, tmp_path, lines, header=header)
    return conc.concentration(conc.ranked_customers(table, measure), measure, **kw)


def test_three_customers_by_hand(store, tmp_path):
    # A 500 + 100 = 600, B 300, C 100: shares .6 .3 .1
    c = figures(store, tmp_path, ["A,2024-01-01,500", "A,2024-02-01,100", "B,2024-01-05,300", "C,2024-01-09,100"])
    assert (c.customers, c.total, c.negatives_clipped) == (3, 1000.0, 0)
    assert c.hhi == pytest.approx(10_000 * (0.36 + 0.09 + 0.01))  # 4,600
    assert c.hhi_level == "high" and c.number_equivalent == pytest.approx(10_000 / 4_600)
    # Σ|xi-xj| over ordered pairs = 2 (300 + 500 + 200) = 2,000; / (2 · 9 · 333.33) = 1/3
    assert c.gini == pytest.approx(1 / 3)
    assert (c.top1_share, c.top5_share, c.top10_share) == (pytest.approx(0.6), 1.0, 1.0)
    assert c.top20pct_share == pytest.approx(0.6)  # ⌈0.2 · 3⌉ = 1 customer
    assert c.customers_for_80pct == 2  # .6, .9
    assert c.abc == {"A": 2, "B": 1, "C": 0}  # before-shares 0, .6 (<.8: A), .9 (<.95: B)
    assert [(f["flag"], f.get("customer_id")) for f in c.flags] == [
        ("major_customer", "A"), ("major_customer", "B"), ("major_customer", "C"),  # C is exactly 10%
        ("major_dependency", "A"),  # 600 of 1,000: more than half (重大依赖)
        ("top5_above", None), ("hhi_high", None)]


def test_ties_are_broken_by_customer_id(store, tmp_path):
    table = load(store, tmp_path, ["B,2024-01-01,100", "A,2024-01-01,100", "C,2024-01-01,50"])
    ranked = conc.ranked_customers(table)
    assert list(ranked["customer_id"]) == ["A", "B", "C"] and list(ranked["rank"]) == [1, 2, 3]
    assert list(ranked["cum_x"]) == [100.0, 200.0, 250.0]


def test_all_equal_and_one_customer(store, tmp_path):
    equal = figures(store, tmp_path, [f"C{i},2024-01-01,25" for i in range(4)])
    assert (equal.gini, equal.hhi, equal.top1_share, equal.customers_for_80pct) == (
        pytest.approx(0.0), pytest.approx(2_500.0), 0.25, 4)
    assert equal.abc == {"A": 4, "B": 0, "C": 0}  # before-shares 0, .25, .5, .75 are all below .8


def test_one_customer(store, tmp_path):
    one = figures(store, tmp_path, ["Z,2024-01-01,10", "Z,2024-01-02,5"])
    assert (one.customers, one.hhi, one.gini, one.top1_share, one.top20pct_share, one.customers_for_80pct) == (
        1, 10_000.0, 0.0, 1.0, 1.0, 1)
    assert one.abc == {"A": 1, "B": 0, "C": 0}


def test_negative_customers_count_as_zero(store, tmp_path):
    # A 800, B 300, C -100 (a return bigger than its sales): x = 800, 300, 0; Σx = 1,100
    c = figures(store, tmp_path, ["A,2024-01-01,800", "B,2024-01-01,300", "C,2024-01-01,50", "C,2024-01-02,-150"])
    assert (c.total, c.positive_total, c.negatives_clipped) == (1000.0, 1100.0, 1)
    assert c.top1_share == pytest.approx(800 / 1100)
    assert c.hhi == pytest.approx(10_000 * (64 + 9) / 121)
    assert c.gini == pytest.approx(2 * (0 + 2 * 300 + 3 * 800) / (3 * 1100) - 4 / 3)
    assert c.abc == {"A": 2, "B": 0, "C": 1}  # B's before-share 800/1100 = 72.7% < 80%: A; C has 0: C


def test_zero_revenue_gives_no_shares(store, tmp_path):
    c = figures(store, tmp_path, ["A,2024-01-01,100", "A,2024-01-02,-100"])
    assert (c.customers, c.hhi, c.gini, c.top1_share, c.flags) == (1, None, None, None, [])


def test_whale_curve_by_hand(store, tmp_path):
    # profit A +500, B +100, C -200 on revenue 1,000 each: total 400; cum 125%, 150%, 100%
    table = load(store, tmp_path, ["A,2024-01-01,1000,500", "B,2024-01-01,1000,100", "C,2024-01-01,1000,-200"],
                 header="客户编号,订单日期,金额,利润")
    whale = conc.whale_curve(conc.ranked_customers(table, "profit"))
    assert (whale.total_profit, whale.peak_share, whale.peak_customers) == (400.0, 1.5, 2)
    assert (whale.profitable_customers, whale.break_even_customers, whale.unprofitable_customers) == (2, 0, 1)
    assert whale.top20pct_share == 1.25
    assert list(whale.curve["cum_share"]) == [1.25, 1.5, 1.0]
    assert whale.loss_makers[["customer_id", "revenue", "profit"]].values.tolist() == [["C", 1000.0, -200.0]]


def test_what_if_losing_the_largest(store, tmp_path):
    table = load(store, tmp_path, ["A,2024-01-01,600", "B,2024-01-01,300", "C,2024-01-01,100"])
    result = conc.what_if(conc.ranked_customers(table), ["A"])
    assert (result["lost_customers"], result["revenue_lost"], result["revenue_lost_share"]) == (1, 600.0, 0.6)
    assert result["profit_lost"] is None
    assert result["before"]["hhi"] == pytest.approx(4_600)
    assert result["after"] == {"customers": 2, "hhi": pytest.approx(6_250), "gini": pytest.approx(0.25),
                               "top5_share": 1.0}


def test_indicators_by_period_and_dimension(store, tmp_path):
    table = load(store, tmp_path, ["A,2024-01-10,600,华东", "B,2024-01-11,300,华东", "C,2024-01-12,100,华南",
                                   "A,2024-02-01,50,华南", "B,2024-02-02,50,华南"],
                 header="客户编号,订单日期,金额,区域")
    months = conc.indicators_by_period(table, "month")
    assert list(months["customers"]) == [3, 2]
    assert months["hhi"].tolist() == pytest.approx([4_600, 5_000])
    assert months["gini"].tolist() == pytest.approx([1 / 3, 0.0])
    regions = conc.grouped_indicators(table, "region").set_index("group")
    # 华东: A 600, B 300 -> shares 2/3, 1/3; 华南: C 100, A 50, B 50 -> .5 .25 .25
    assert regions.loc["华东", "hhi"] == pytest.approx(10_000 * (4 / 9 + 1 / 9))
    assert regions.loc["华南", "top1_share"] == pytest.approx(0.5)
    assert regions.loc["华南", "gini"] == pytest.approx(2 * (1 * 50 + 2 * 50 + 3 * 100) / (3 * 200) - 4 / 3)


def test_cli_json_contract(cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("客户编号,订单日期,金额,利润\nA,2024-01-01,600,100\nB,2024-01-01,300,-50\nC,2024-01-01,100,10\n",
                    encoding="utf-8")
    assert cli("ingest", path, "--dataset", "t").returncode == 0
    out = cli("concentration", "--dataset", "t", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert {k: report[k] for k in ("customers", "total", "hhi_level", "top1_share", "top5_share",
                                   "customers_for_80pct", "abc")} == {
        "customers": 3, "total": 1000.0, "hhi_level": "high", "top1_share": 0.6, "top5_share": 1.0,
        "customers_for_80pct": 2, "abc": {"A": 2, "B": 1, "C": 0}}
    assert report["hhi"] == pytest.approx(4_600) and report["gini"] == pytest.approx(1 / 3)
    assert report["top10_share"] == 1.0 and report["top20pct_share"] == pytest.approx(0.6)
    assert [f["flag"] for f in report["flags"]] == ["major_customer"] * 3 + ["major_dependency"] * 2 + [
        "top5_above", "hhi_high"]
    # more than half: A's 600 of 1,000 revenue, and A's 100 of 110 positive gross profit (B's -50 counts as 0)
    dependency = [(f["customer_id"], f["measure"], round(f["share"], 4)) for f in report["flags"]
                  if f["flag"] == "major_dependency"]
    assert dependency == [("A", "revenue", 0.6), ("A", "profit", round(100 / 110, 4))]
    assert report["by"] == "customer"
    profit = json.loads(cli("concentration", "--dataset", "t", "--measure", "profit", "--json").stdout.splitlines()[-1])
    # profits A 100, C 10, B -50: total 60; cum 166.7%, 183.3%, 100%
    assert profit["unprofitable_customers"] == 1 and profit["peak_customers"] == 2
    assert profit["peak_share"] == pytest.approx(110 / 60) and profit["top20pct_share"] == pytest.approx(100 / 60)
    out = cli("concentration", "--dataset", "t", "--start", "2025-01-01", "--json")
    assert json.loads(out.stdout.splitlines()[-1])["customers"] == 0


def test_cli_profit_without_profit_column(cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("客户编号,订单日期,金额\nA,2024-01-01,600\n", encoding="utf-8")
    cli("ingest", path, "--dataset", "t")
    out = cli("concentration", "--dataset", "t", "--measure", "profit")
    assert out.returncode != 0 and "no profit or cost column" in out.stderr and "Traceback" not in out.stderr


def independent(values: pd.Series) -> dict:
    """The same figures from per-customer totals by other formulas (pandas/numpy only)."""
    x = values.clip(lower=0).sort_values(ascending=False).to_numpy()
    total, n = x.sum(), len(x)
    shares = x / total
    gini = np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean())
    cum = np.cumsum(shares)
    return {"hhi": (shares ** 2).sum() * 10_000, "gini": gini, "top1_share": shares[:1].sum(),
            "top5_share": shares[:5].sum(), "top10_share": shares[:10].sum(),
            "top20pct_share": shares[: math.ceil(n / 5)].sum(), "customers_for_80pct": int(np.argmax(cum >= 0.8)) + 1}


@pytest.mark.parametrize("name,customer,value", [
    ("superstore.csv", "Customer ID", "Sales"),
    ("online_retail_sample.csv", "CustomerID", None),
])
def test_shared_datasets_match_independent_computation(store, shared_dataset, name, customer, value):
    path = shared_dataset(name)
    report = ingest_file(store, path)
    ours = conc.concentration(conc.ranked_customers(store.table(report.dataset)))
    raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    raw = raw[raw[customer].notna()]
    raw[customer] = raw[customer].str.replace(r"\.0$", "", regex=True)
    amount = raw[value].astype(float) if value else raw["Quantity"].astype(float) * raw["UnitPrice"].astype(float)
    theirs = independent(amount.groupby(raw[customer]).sum())
    for key, expected in theirs.items():
        assert getattr(ours, key) == pytest.approx(expected, rel=1e-6), key
