"""The page tables built without a running app (``ui/tables.py``), by hand in both languages."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ui import tables


def test_flags_named_and_listed_in_the_language():
    assert tables.flag_text("pseudo_key_account;overdue", "en") == "Pseudo key accounts, Slow payers"
    assert tables.flag_text("pseudo_key_account;overdue", "zh") == "伪大客户、回款慢"
    assert tables.flag_text("", "zh") == ""


def test_a_column_of_flags_worded_value_by_value():
    flags = pd.Series(["overdue", "", "pseudo_key_account;overdue", "overdue"], index=[10, 11, 12, 13])
    assert tables.flags_text(flags, "en").tolist() == ["Slow payers", "", "Pseudo key accounts, Slow payers",
                                                       "Slow payers"]
    assert tables.flags_text(flags, "zh").index.tolist() == [10, 11, 12, 13]
    assert tables.flags_text(flags.iloc[:0], "zh").tolist() == []


def test_the_key_account_list_in_both_languages():
    shown = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "name": ["甲公司", "乙公司", "丙"],
                          "score": [91.66, 70.04, 55.56], "tier": ["platinum", "gold", "gold"],
                          "contrib_revenue": [40.04, 30.0, 20.06], "flags": ["overdue", "", "overdue"]})
    en = tables.key_account_list(shown, ["revenue"], "en")
    assert en.iloc[:, 2].tolist() == [91.7, 70.0, 55.6] and en.iloc[:, 4].tolist() == [40.0, 30.0, 20.1]
    assert en.iloc[:, 3].tolist() == ["Platinum", "Gold", "Gold"]
    assert en.iloc[:, 5].tolist() == ["Slow payers", "", "Slow payers"]
    zh = tables.key_account_list(shown, ["revenue"], "zh")
    assert zh.iloc[:, 5].tolist() == ["回款慢", "", "回款慢"]


def _churn_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["C1", "C2"], "name": ["甲公司", None], "risk": [0.9, 0.2],
        "expected_revenue": [12_345.6, 100.0], "expected_low": [8_000.0, 0.0], "expected_high": [15_000.0, 250.0],
        "revenue_at_risk": [11_111.04, 20.0],
        "reasons": [[{"reason": "silent", "days": 120}, {"reason": "overdue", "days": 120, "gap": 30}], []],
        "last": pd.to_datetime(["2024-01-02", "2024-03-04"]), "recency_days": [120, 200],
        "typical_gap_days": [30.4, None], "revenue_last_year": [56_789.0, 10.0],
        "followup": ["contacted", ""], "followups": [2, 0],
        "followup_at": [pd.Timestamp("2026-11-20 10:00"), None], "region": ["华东", None],
        "followup_note": ["called the buyer", ""], "followup_by": ["王芳", ""],
    })


def test_churn_list_in_both_languages():
    rows = _churn_rows()
    zh = tables.churn_list(rows, "zh")
    # the reasons beside the risk: the why where the eye reads the figure
    assert list(zh.columns) == ["客户编号", "名称", "流失风险", "原因", "预期收入", "风险销售额", "最近下单", "跟进记录"]
    assert list(zh["名称"]) == ["甲公司", ""]
    # 万 from 10,000 up; the range is the Poisson band, written after the expectation
    assert list(zh["预期收入"]) == ["1.2万（8,000–1.5万）", "100（0–250）"]
    assert list(zh["风险销售额"]) == ["1.1万", "20.00"]
    assert "；" in zh["原因"][0] and zh["原因"][1] == ""
    assert list(zh["最近下单"]) == [dt.date(2024, 1, 2), dt.date(2024, 3, 4)]
    assert list(zh["跟进记录"]) == ["2 · 已联系 2026-11-20", ""]
    en = tables.churn_list(rows, "en")
    assert "; " in en.iloc[0, 3] and list(en.iloc[:, 2]) == [0.9, 0.2]
    assert list(en["Expected revenue"]) == ["12.3K (8.0K–15.0K)", "100 (0–250)"]
    assert list(en["Revenue at risk"]) == ["11.1K", "20.00"]


def test_win_back_list_and_totals():
    rows = _churn_rows()
    zh = tables.churn_list(rows, "zh", "lapsed")
    assert list(zh.columns) == ["客户编号", "名称", "最近下单", "未下单天数", "通常间隔（天）", "最后活跃一年收入", "跟进记录"]
    assert list(zh["未下单天数"]) == [120, 200] and zh["通常间隔（天）"].tolist()[0] == 30
    assert pd.isna(zh["通常间隔（天）"].tolist()[1]) and list(zh["最后活跃一年收入"]) == ["5.7万", "10.00"]
    totals = tables.churn_totals(rows, "region", "en")
    assert totals.iloc[:, 0].tolist() == ["华东", "—"]  # the larger revenue at risk first; no region: '—'
    assert totals["Revenue at risk"].tolist() == ["11.1K", "20.00"] and totals.iloc[:, 1].tolist() == [1, 1]


def test_the_churn_list_file_holds_numbers_under_the_page_headers():
    # the download of the list: the figures on screen as numbers (risk 0–1, money unrounded to
    # units), the expected revenue's range in two columns; read back from the workbook itself
    import io

    import openpyxl

    from kam_analytics.export import excel_bytes

    rows = _churn_rows()
    zh = tables.churn_list(rows, "zh", for_file=True)
    assert list(zh.columns) == ["客户编号", "名称", "流失风险", "原因", "预期收入", "预期收入下限（10%）", "预期收入上限（90%）",
                                "风险销售额", "最近下单", "跟进次数", "最近一次跟进", "时间", "备注", "记录人"]
    # the latest follow-up in full: status in words, when, the note and who wrote it
    assert zh["跟进次数"].tolist() == [2, 0] and zh["最近一次跟进"].tolist() == ["已联系", ""]
    assert zh["时间"].tolist() == ["2026-11-20 10:00", ""]
    assert zh["备注"].tolist() == ["called the buyer", ""] and zh["记录人"].tolist() == ["王芳", ""]
    assert zh["流失风险"].tolist() == [0.9, 0.2] and zh["预期收入"].tolist() == [12_345.6, 100.0]
    assert zh["预期收入下限（10%）"].tolist() == [8_000.0, 0.0] and zh["风险销售额"].tolist() == [11_111.04, 20.0]
    book = openpyxl.load_workbook(io.BytesIO(excel_bytes(zh, "churn", percent=("流失风险",))))
    sheet = book.active
    assert [c.value for c in sheet[1]][:5] == ["客户编号", "名称", "流失风险", "原因", "预期收入"]
    assert [sheet.cell(row=r, column=3).value for r in (2, 3)] == [0.9, 0.2]
    assert sheet.cell(row=2, column=3).number_format == "0.0%"  # shown as 90.0% in Excel
    assert [sheet.cell(row=r, column=5).value for r in (2, 3)] == [12_345.6, 100.0]
    lapsed = tables.churn_list(rows, "en", "lapsed", for_file=True)
    assert list(lapsed.columns)[2:6] == ["Last order", "Days silent", "Usual gap (days)", "Revenue in last active year"]
    assert lapsed["Days silent"].tolist() == [120, 200] and lapsed["Revenue in last active year"].tolist() == [56_789.0, 10.0]


def test_the_scorecard_file_is_in_the_language_with_the_points_on_screen():
    from kam_analytics.analytics import accounts

    # three customers, balanced weights over revenue and orders only: percentiles 0/50/100
    features = pd.DataFrame({"customer_id": ["A", "B", "C"], "name": ["甲", None, "丙"],
                             "revenue": [300.0, 200.0, 100.0], "orders": [3, 2, 1]})
    features = features.assign(first_order=pd.Timestamp("2024-01-01"), last_order=pd.Timestamp("2024-03-01"),
                               days_since_last=30, regularity=0.5, tenure_days=90, largest_order_share=0.5,
                               recent_revenue=features["revenue"], prior_revenue=0.0)
    card = accounts.scorecard(features, {"revenue": 1.0, "orders": 1.0})
    zh = tables.scorecard_file(card, "zh")
    assert list(zh.columns) == ["客户编号", "名称", "评分", "层级", "大客户", "标记", "销售额（得分）", "订单数（得分）",
                                "销售额（金额）"]
    assert zh["客户编号"].tolist() == ["A", "B", "C"] and zh["名称"].tolist() == ["甲", "", "丙"]
    # A: percentiles 100 and 100 over two equal weights = 100 points; B 50; C 0 — each criterion
    # gives half its percentile, as the list on screen shows
    assert zh["评分"].tolist() == [100.0, 50.0, 0.0]
    assert zh["销售额（得分）"].tolist() == [50.0, 25.0, 0.0] and zh["订单数（得分）"].tolist() == [50.0, 25.0, 0.0]
    assert zh["大客户"].tolist() == ["是", "否", "否"]  # score ≥ 75
    assert zh["层级"].tolist() == ["铂金", "黄金", "铁"]  # ⌈0.6⌉ = 1 platinum, ⌈1.5⌉ = 2 (1 gold), ⌈2.4⌉ = 3 (1 iron)
    assert zh["销售额（金额）"].tolist() == [300.0, 200.0, 100.0]  # a number


def test_the_overviews_figures_file_holds_exact_values():
    from kam_analytics.analytics.overview import Headline

    headline = Headline(revenue=251_234_567.891, customers=1500, active_customers=700, active_days=90,
                        top1_share=0.1234, top5_share=0.189, top1_customer="C0001", top1_name="甲")
    zh = tables.headline_file(headline, 65, {"expected": 1_234_567.891}, "zh")
    assert zh["指标"].tolist() == ["销售额", "客户数", "活跃客户", "第一大客户占比", "前五大客户占比", "大客户数",
                                 "大客户未来 90 天预期收入"]
    assert zh["数值"].tolist() == [251_234_567.89, 1500, 700, 0.1234, 0.189, 65, 1_234_567.89]


def test_the_key_account_list_marks_the_lapsed():
    shown = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "name": ["甲", "乙", "丙"], "score": [90.0, 80.0, 76.0],
                          "tier": ["platinum", "gold", "gold"], "contrib_revenue": [40.0, 30.0, 20.0], "flags": ["", "", ""]})
    standing = pd.Series({"C1": "active", "C2": "lapsed", "C3": "gone", "C9": "lapsed"})
    zh = tables.key_account_list(shown, ["revenue"], "zh", standing)
    assert zh["状态"].tolist() == ["", "已流失", "一年以上未下单"]
