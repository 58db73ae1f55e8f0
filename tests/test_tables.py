"""The page tables built without a running app (``ui/tables.py``), by hand in both languages."""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ui import tables


def test_flags_named_and_listed_in_the_language():
    assert tables.flag_text("pseudo_key_account;overdue", "en") == "Pseudo key accounts, Slow payers"
    assert tables.flag_text("pseudo_key_account;overdue", "zh") == "伪大客户、回款慢"
    assert tables.flag_text("", "zh") == ""


def test_churn_list_in_both_languages():
    rows = pd.DataFrame({
        "customer_id": ["C1", "C2"], "name": ["甲公司", None], "risk": [0.9, 0.2], "revenue_at_risk": [900.0, 20.0],
        "reasons": [[{"reason": "silent", "days": 120}, {"reason": "overdue", "days": 120, "gap": 30}], []],
        "last": pd.to_datetime(["2024-01-02", "2024-03-04"]), "status": ["contacted", ""],
    })
    zh = tables.churn_list(rows, "zh")
    assert list(zh.columns) == ["客户编号", "名称", "流失风险", "风险销售额", "原因", "最近下单", "跟进状态"]
    assert list(zh["名称"]) == ["甲公司", ""]
    assert "；" in zh["原因"][0] and zh["原因"][1] == ""
    assert list(zh["最近下单"]) == [dt.date(2024, 1, 2), dt.date(2024, 3, 4)]
    assert list(zh["跟进状态"]) == ["已联系", ""]
    en = tables.churn_list(rows, "en")
    assert "; " in en.iloc[0, 4] and list(en.iloc[:, 2]) == [0.9, 0.2]
