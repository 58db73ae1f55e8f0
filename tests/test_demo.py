"""The demo dataset: deterministic, realistic, and its planted patterns really are in it.

Checks use pandas on the generated rows (independent of the store's SQL)."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from kam_analytics import demo


@pytest.fixture(scope="module")
def frame():
    return demo.generate()


def test_deterministic(frame):
    again = demo.generate()
    digest = lambda f: hashlib.sha256(f.to_csv(index=False).encode()).hexdigest()  # noqa: E731
    assert digest(frame) == digest(again)


def test_shape_and_vocabulary(frame):
    assert frame["客户编号"].nunique() == 1500
    assert set(frame["区域"]) >= {"华东", "华南", "华北", "西南"}
    assert 8 <= frame["客户经理"].nunique() <= 10
    assert frame["行业"].nunique() >= 5
    dates = pd.to_datetime(frame["订单日期"])
    assert dates.min() >= pd.Timestamp("2023-01-01") and dates.max() <= pd.Timestamp("2025-12-31")
    assert (dates.max() - dates.min()).days > 3 * 365 - 30
    # amount is net of discount: 数量 × 单价 × (1 − 折扣率), to the cent
    expected = (frame["数量"] * frame["单价"] * (1 - frame["折扣率"])).round(2)
    assert (expected - frame["金额"]).abs().max() <= 0.01 + 1e-6  # half-cent ties may round either way


def _revenue(frame):
    return frame.groupby("客户编号")["金额"].sum().sort_values(ascending=False)


def test_planted_whale_above_ten_percent(frame):
    revenue = _revenue(frame)
    assert revenue.index[0] == "C0001"
    assert revenue["C0001"] / revenue.sum() > 0.10
    assert (revenue.drop("C0001") / revenue.sum()).max() < 0.10


def test_planted_pseudo_key_accounts(frame):
    revenue = _revenue(frame)
    top_5pct = set(revenue.index[: int(0.05 * len(revenue))])
    for cid in demo.PLANTED["pseudo_key"]:
        orders = frame.loc[frame["客户编号"] == cid]
        assert orders["订单编号"].nunique() <= 2
        assert cid in top_5pct
        dates = pd.to_datetime(orders["订单日期"])  # in the last twelve months, silent since spring
        assert dates.min() >= pd.Timestamp("2025-01-01") and dates.max() < pd.Timestamp("2025-05-01")


def test_planted_decline_lapse_loss_growth_and_slow_payment(frame):
    last = frame.groupby("客户编号")["订单日期"].max()
    for cid in demo.PLANTED["lapsed_key"]:
        assert "2025-06-01" <= last[cid] <= "2025-09-30"
    for cid in demo.PLANTED["declining_key"]:
        rows = frame[frame["客户编号"] == cid]
        early = rows[rows["订单日期"] < "2025-07-01"]
        late = rows[rows["订单日期"] >= "2025-07-01"]
        early_rate = early["订单编号"].nunique() / 30  # orders a month, 2023-01 .. 2025-06
        late_rate = late["订单编号"].nunique() / 6  # orders a month, 2025-07 .. 2025-12
        assert late_rate < 0.6 * early_rate
        size = lambda part: part["金额"].sum() / part["订单编号"].nunique()  # noqa: E731
        assert size(late) < 0.75 * size(early)
    profit = (frame["金额"] - frame["成本"]).groupby(frame["客户编号"]).sum()
    for cid in demo.PLANTED["unprofitable"]:
        assert profit[cid] < 0
        assert frame.loc[frame["客户编号"] == cid, "折扣率"].mean() > 0.4
    yearly = frame.assign(year=frame["订单日期"].str[:4]).groupby(["客户编号", "year"])["金额"].sum()
    for cid in demo.PLANTED["rising"]:
        assert yearly[cid]["2025"] > 4 * yearly[cid]["2023"]
    paid = frame.dropna(subset=["回款日期"])
    late_days = (pd.to_datetime(paid["回款日期"]) - pd.to_datetime(paid["应收日期"])).dt.days
    median_delay = late_days.groupby(paid["客户编号"]).median()
    for cid in demo.PLANTED["slow_payer"]:
        assert median_delay[cid] >= 55
    assert median_delay.drop(demo.PLANTED["slow_payer"]).median() < 10


def test_seeded_through_ingest_with_chinese_headers(store):
    demo.seed_store(store)
    dataset = store.dataset(demo.DATASET_NAME)
    assert dataset.customers == 1500
    assert dataset.mapping["owner"] == "客户经理" and dataset.mapping["paid_amount"] == "回款金额"
    assert {"profit", "discount", "due_date", "paid_date", "paid_amount", "region", "industry"} <= set(dataset.columns)
    demo.seed_store(store)  # a second call does nothing
    assert len(store.datasets()) == 1
