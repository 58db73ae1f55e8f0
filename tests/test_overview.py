"""Headline figures, top-N shares and the attention list, pinned to hand-worked values."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kam_analytics.analytics.concentration import top_n_share
from kam_analytics.analytics.overview import attention_items, headline, recent_vs_last_year


def summary(rows):
    return pd.DataFrame(rows, columns=["customer_id", "name", "last_order", "revenue"]).assign(
        last_order=lambda f: pd.to_datetime(f["last_order"]))


@pytest.mark.parametrize("revenue,n,expected", [
    ([600, 300, 100], 1, 0.6),
    ([600, 300, 100], 5, 1.0),               # fewer customers than n
    ([500, 500, 100], 1, 500 / 1100),       # a tie at the top: either one, same share
    ([800, 300, -100], 1, 800 / 1100),      # a net-negative customer counts as 0
    ([100, -100], 1, 1.0),
    ([0, -100], 1, None),                   # nothing positive: no share
    ([], 1, None),
])
def test_top_n_share(revenue, n, expected):
    share = top_n_share(pd.Series(revenue, dtype="float64"), n)
    assert share == (pytest.approx(expected) if expected is not None else None)


def test_headline_active_window_is_inclusive():
    # period end 2024-03-31; 90-day window is 2024-01-02 .. 2024-03-31
    frame = summary([("A", "甲", "2024-01-02", 500.0), ("B", "乙", "2024-01-01", 300.0), ("C", None, "2024-03-31", 200.0)])
    h = headline(frame, dt.date(2024, 3, 31))
    assert (h.revenue, h.customers, h.active_customers) == (1000.0, 3, 2)
    assert (h.top1_customer, h.top1_name, h.top1_share, h.top5_share) == ("A", "甲", 0.5, 1.0)


def test_headline_top_customer_tie_goes_to_smaller_id():
    h = headline(summary([("B", None, "2024-01-01", 100.0), ("A", None, "2024-01-01", 100.0)]), dt.date(2024, 1, 1))
    assert h.top1_customer == "A"


def test_attention_dependency_and_lapsed():
    # A brings 5,000 / 9,000 = 55.6%; the lapsed key accounts come as the win-back list orders
    # them (most revenue in the last active year first): the count is the list's length, the
    # one named its first row
    rows = [("A", "甲", "2024-06-30", 5000.0), ("B", "乙", "2024-02-01", 2000.0)]
    rows += [(f"Z{i}", None, "2024-06-01", 250.0) for i in range(8)]
    lapsed = pd.DataFrame({"customer_id": ["B", "Z3"], "name": ["乙", None], "revenue_last_year": [2000.0, 250.0],
                           "recency_days": [150, 120]})
    items = attention_items(summary(rows), pd.DataFrame(columns=["period", "revenue"]), dt.date(2024, 6, 30),
                            lapsed=lapsed)
    assert items == [
        {"kind": "dependency", "customer_id": "A", "name": "甲", "share": pytest.approx(5000 / 9000)},
        {"kind": "lapsed", "count": 2, "customer_id": "B", "name": "乙", "revenue": 2000.0, "days": 150},
    ]
    no_lapsed = attention_items(summary(rows), pd.DataFrame(columns=["period", "revenue"]), dt.date(2024, 6, 30),
                                lapsed=lapsed.head(0))
    assert [i["kind"] for i in no_lapsed] == ["dependency"]


def test_attention_receivables_counts_the_receivables_pages_list():
    # the flags of the receivables page's "getting worse" list, whoever the customer is
    rows = [(f"C{i:02d}", None, "2024-06-30", 100.0) for i in range(11)]  # each 9.1%: no dependency
    owed = pd.DataFrame({"customer_id": ["A", "B", "C", "D"], "name": ["甲", "乙", None, None],
                         "outstanding": [100.0, 900.0, 900.0, 50.0], "overdue": [10.0, 90.0, 80.0, 5.0],
                         "flags": [["slow_payer"], ["major_exposure"], ["over_credit_limit", "major_exposure"], []]})
    items = attention_items(summary(rows), pd.DataFrame(columns=["period", "revenue"]), dt.date(2024, 6, 30), owed)
    assert items == [{"kind": "receivables", "count": 2, "customer_id": "C", "name": None, "overdue": 80.0}]


def test_no_dependency_below_ten_percent():
    rows = [(f"C{i:02d}", None, "2024-06-30", 100.0) for i in range(11)]  # each 1/11 = 9.1%
    assert attention_items(summary(rows), pd.DataFrame(columns=["period", "revenue"]), dt.date(2024, 6, 30)) == []


def test_recent_vs_last_year():
    months = pd.date_range("2023-01-01", "2024-06-01", freq="MS")
    monthly = pd.DataFrame({"period": months, "revenue": [100.0] * len(months)})
    monthly.loc[monthly["period"] == "2024-05-01", "revenue"] = 400.0  # Apr–Jun 2024: 100 + 400 + 100 = 600
    change = recent_vs_last_year(monthly, dt.date(2024, 6, 15))
    assert change == {"recent": 600.0, "prior": 300.0, "change": 1.0, "from_month": "2024-04", "to_month": "2024-06"}
    # no data a year before the window -> nothing to compare
    assert recent_vs_last_year(monthly[monthly["period"] >= "2023-06-01"], dt.date(2024, 6, 15)) is None


def _load(store, tmp_path, text):
    from kam_analytics.ingest import ingest_file

    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    ingest_file(store, path, dataset="t")
    return store.table("t")


def test_orders_per_month_count_customer_order_pairs(store, tmp_path):
    from kam_analytics.analytics.trend import revenue_by_period

    # January: order 1 has two lines (one order); order 7 is used by A and by B (two orders);
    # a line without an order id is no order. February: one order of C.
    table = _load(store, tmp_path, "客户编号,订单编号,订单日期,金额\n"
                  "A,1,2024-01-03,10\nA,1,2024-01-04,5\nA,7,2024-01-09,20\nB,7,2024-01-10,30\n"
                  "B,,2024-01-11,1\nC,9,2024-02-01,40\n")
    got = revenue_by_period(table, "month")
    assert got["orders"].tolist() == [3, 1] and got["customers"].tolist() == [2, 1]
    assert got["revenue"].tolist() == [66.0, 40.0]


def test_orders_per_month_single_line_path_agrees(store, tmp_path):
    from kam_analytics.service import single_line_orders
    from kam_analytics.analytics.trend import revenue_by_period

    # one line per (customer, order): the plain count gives the same numbers, shared id 7 included
    table = _load(store, tmp_path, "客户编号,订单编号,订单日期,金额\n"
                  "A,1,2024-01-03,10\nA,7,2024-01-09,20\nB,7,2024-01-10,30\nC,9,2024-02-01,40\n")
    assert single_line_orders(store, store.dataset("t"))
    general = revenue_by_period(table, "month")
    fast = revenue_by_period(table, "month", single_line_orders=True)
    pd.testing.assert_frame_equal(fast, general)
    assert general["orders"].tolist() == [3, 1]


def test_key_account_outlook_against_the_same_days_a_year_earlier(store, tmp_path):
    from kam_analytics.analytics.account_features import customer_features
    from kam_analytics.analytics.expected_revenue import outlook, revenue_a_year_earlier

    # as of 2025-06-30, horizon 90: next 2025-07-01..2025-09-28; a year (365 days) earlier
    # 2024-07-01..2024-09-28. A: 200 + 300 in that window (the 100 the day before and the 400
    # the day after are not); its last 365 days (2024-07-01..2025-06-30) bring
    # 200 + 300 + 400 + 730 = 1,630 over a full year -> 1,630 × 90 / 365.
    # B: first order 2025-04-01, 90 days of tenure -> observed 91 days; 610 − 10 = 600 -> 600 × 90 / 91.
    # D: a net-negative year counts 0. C is not in the group: its 1,000 last July is not counted.
    table = _load(store, tmp_path, "客户编号,订单编号,订单日期,金额\n"
                  "A,1,2024-06-30,100\nA,2,2024-07-01,200\nA,3,2024-09-28,300\nA,4,2024-09-29,400\n"
                  "A,5,2025-01-10,730\nB,6,2025-04-01,610\nB,7,2025-06-30,-10\nC,8,2024-07-15,1000\n"
                  "D,9,2024-08-01,50\nD,10,2025-02-01,-80\n")
    earlier = revenue_a_year_earlier(table, "2025-06-30", 90)
    assert dict(zip(earlier["customer_id"], earlier["revenue"])) == {"A": 500.0, "C": 1000.0, "D": 50.0}
    features = customer_features(table, "2025-06-30")
    group = features[features["customer_id"].isin(["A", "B", "D"])]
    got = outlook(group, earlier, "2025-06-30", 90)
    expected = 1630 * 90 / 365 + 600 * 90 / 91
    assert got["accounts"] == 3 and got["last_year"] == 550.0
    assert got["expected"] == pytest.approx(expected)
    assert got["change"] == pytest.approx(expected / 550 - 1)
    assert (got["next_from"], got["next_to"], got["earlier_from"], got["earlier_to"]) == (
        "2025-07-01", "2025-09-28", "2024-07-01", "2024-09-28")
    none_before = outlook(features[features["customer_id"] == "B"], earlier, "2025-06-30", 90)
    assert none_before["last_year"] == 0.0 and none_before["change"] is None
    assert outlook(features.iloc[0:0], earlier, "2025-06-30", 90) is None


def test_a_customers_standing_follows_its_own_rhythm():
    from kam_analytics.analytics.churn import standing

    # as of 2024-06-30
    rows = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D", "E"],
        "first_order": pd.to_datetime(["2024-01-01", "2023-09-01", "2024-03-31", "2024-04-01", "2023-05-01"]),
        "last_order": pd.to_datetime(["2024-04-10", "2024-01-01", "2024-03-31", "2024-04-01", "2023-05-01"]),
        "orders": [11, 3, 1, 1, 1]})
    # A: every 10 days (100 days / 10 gaps), silent 81 > max(3 × 10, 60) -> lapsed
    # B: every 61 days, silent 181, not more than 3 × 61 = 183 -> active
    # C: one order, silent 91 > max(60, 90) -> lapsed; D: silent 90, not more -> active
    # E: silent 426 days: no order in the year -> gone
    assert standing(rows, dt.date(2024, 6, 30)).tolist() == ["lapsed", "active", "lapsed", "active", "gone"]
