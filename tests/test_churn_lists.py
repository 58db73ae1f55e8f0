"""The churn lists worked by hand: the lapsed rule, expected revenue and its range, revenue at
risk, the win-back list's figures, the CLI's ``--list``, and calibration."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kam_analytics import service
from kam_analytics.access import local_identity
from kam_analytics.analytics import churn
from kam_analytics.analytics.expected_revenue import expected_revenue, revenue_check
from kam_analytics.models import calibration

ME = local_identity()


def test_lapse_rule_by_hand():
    features = pd.DataFrame({
        "recency_days":     [31, 91, 90, 61, 91, 90],
        "typical_gap_days": [10, 30, 30, 10, None, None],
    })
    # limits: max(3*10, 60)=60, max(90, 60)=90, 90, 60; single order: max(60, horizon 90)=90
    assert churn.lapse_status(features, 90).tolist() == ["at_risk", "lapsed", "at_risk", "lapsed", "lapsed", "at_risk"]
    # a 30-day horizon: a single order's limit is 60 days
    assert churn.lapse_status(pd.DataFrame({"recency_days": [61, 60], "typical_gap_days": [None, None]}),
                              30).tolist() == ["lapsed", "at_risk"]


def test_expected_revenue_by_hand():
    features = pd.DataFrame({"revenue_year": [3650.0, 300.0, -50.0], "orders_year": [10, 2, 1],
                             "tenure_days": [400, 29, 200]})
    out = expected_revenue(features, 90)
    # 3650 a year at the same pace for 90 days = 900; 300 over its 30 days of life -> 900; a
    # negative year counts as 0
    assert out["expected_revenue"].tolist() == pytest.approx([900.0, 900.0, 0.0])
    # orders in 90 days ~ Poisson(10 * 90 / 365 = 2.4658): P(N <= 0) = 0.085, P(N <= 1) = 0.294,
    # P(N <= 4) = 0.895, P(N <= 5) = 0.960 -> 10th percentile 1 order, 90th 5 orders, x 365 each
    assert (out["expected_low"][0], out["expected_high"][0]) == pytest.approx((365.0, 1825.0))
    # Poisson(2 * 90 / 30 = 6): P(N <= 2) = 0.062, P(N <= 3) = 0.151 -> 3; P(N <= 8) = 0.847,
    # P(N <= 9) = 0.916 -> 9; x 150 per order
    assert (out["expected_low"][1], out["expected_high"][1]) == pytest.approx((450.0, 1350.0))


def test_revenue_check_by_hand():
    expected = pd.DataFrame({"expected_revenue": [100.0, 200.0], "expected_low": [50.0, 100.0],
                             "expected_high": [150.0, 250.0]})
    check = revenue_check(expected, pd.Series([80.0, 260.0]))
    assert check["accounts"] == 2
    assert check["wape"] == pytest.approx((20 + 60) / 340)
    assert check["bias"] == pytest.approx(300 / 340 - 1)
    assert check["in_range"] == 0.5  # 80 within [50, 150]; 260 above 250


def test_calibrators_by_hand():
    scores = [0.2] * 4 + [0.8] * 4
    labels = [0, 0, 1, 1, 1, 1, 1, 0]
    # two score values: both methods map each to its group's lapse rate, 2/4 and 3/4
    for method in calibration.METHODS:
        fitted = calibration.Calibrator(method).fit(scores, labels)
        assert fitted.transform([0.2, 0.8]) == pytest.approx([0.5, 0.75], abs=1e-4), method
    assert calibration.brier([0.2, 0.8], [0, 1]) == pytest.approx(0.04)
    bins = calibration.reliability([0.05, 0.15, 0.12, 0.95, 1.0], [0, 1, 0, 1, 1])
    assert bins == [{"low": 0.0, "high": 0.1, "accounts": 1, "predicted": 0.05, "lapsed": 0.0},
                    {"low": 0.1, "high": 0.2, "accounts": 2, "predicted": pytest.approx(0.135), "lapsed": 0.5},
                    {"low": 0.9, "high": 1.0, "accounts": 2, "predicted": pytest.approx(0.975), "lapsed": 1.0}]


def test_choose_keeps_the_method_with_the_lower_held_out_brier():
    # scores that overstate risk (true rate = score²) on four snapshots: the choice is the
    # method whose two-fold Brier (fit on snapshots 1 and 3, judged on 2 and 4, and back) is lower
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 4000)
    labels = (rng.uniform(0, 1, 4000) < scores ** 2).astype(int)
    groups = np.repeat(["2024-01-01", "2024-01-15", "2024-01-29", "2024-02-12"], 1000)
    chosen, scores_by_method = calibration.choose(scores, labels, groups)
    folds = np.tile(np.repeat([0, 1], 1000), 2)
    for method in calibration.METHODS:
        manual = np.mean([calibration.brier(calibration.Calibrator(method).fit(scores[folds != k], labels[folds != k])
                                            .transform(scores[folds == k]), labels[folds == k]) for k in (0, 1)])
        assert scores_by_method[method] == pytest.approx(manual)
    assert chosen.method == min(calibration.METHODS, key=scores_by_method.get)
    # calibrated, the probabilities are closer to the truth than the raw scores
    assert calibration.brier(chosen.transform(scores), labels) < calibration.brier(scores, labels)


@pytest.fixture
def three_accounts(store, tmp_path):
    # A: every 10 days, last 2024-02-09 -> silent 142 days on 2024-06-30 > max(3 x 10, 60): lapsed
    # B: 2024-05-01, 06-01, 06-20 (usual gap 25 days), silent 10 days: at risk
    # C: one order on 2024-03-01, silent 121 days > max(60, 90): lapsed
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_date,amount,region\n"
                    "A,2024-01-10,100,East\nA,2024-01-20,100,East\nA,2024-01-30,100,East\nA,2024-02-09,100,East\n"
                    "B,2024-05-01,50,West\nB,2024-06-01,60,West\nB,2024-06-20,70,East\n"
                    "C,2024-03-01,500,\n", encoding="utf-8")
    service.load_file(store, ME, path, dataset="three")
    return store, service.Slice.of(store.dataset("three"))


def test_both_lists_by_hand(three_accounts):
    store, data_slice = three_accounts
    store.add_followup(store.dataset("three"), "A", "contacted", "called")
    store.add_followup(store.dataset("three"), "A", "recovering", "")
    lapsed = service.churn_list(store, data_slice, "2024-06-30", 90, scope="all", listing="lapsed").table
    # win back: most revenue in the last active year first
    assert lapsed["customer_id"].tolist() == ["C", "A"] and lapsed["rank"].tolist() == [1, 2]
    assert lapsed["revenue_last_year"].tolist() == [500.0, 400.0]
    assert lapsed["recency_days"].tolist() == [121, 142] and lapsed["followups"].tolist() == [0, 2]
    at_risk = service.churn_list(store, data_slice, "2024-06-30", 90, scope="all").table
    assert at_risk["customer_id"].tolist() == ["B"] and at_risk["status"].tolist() == ["at_risk"]
    # 180 in the year, 61 days of life (2024-05-01 .. 06-30): 180 x 90 / 61
    assert at_risk["expected_revenue"][0] == pytest.approx(180 * 90 / 61)
    assert at_risk["revenue_at_risk"][0] == pytest.approx(at_risk["risk"][0] * 180 * 90 / 61)
    assert at_risk["region"].tolist() == ["West"]  # 2 of its 3 lines
    everyone = service.churn_list(store, data_slice, "2024-06-30", 90, scope="all", listing="all").table
    assert sorted(everyone["customer_id"]) == ["A", "B", "C"]
    assert dict(zip(everyone["customer_id"], everyone["status"])) == {"A": "lapsed", "B": "at_risk", "C": "lapsed"}


def test_cli_lists(three_accounts, tmp_path):
    from conftest import run_cli

    store, _ = three_accounts
    out = tmp_path / "lapsed.csv"
    result = run_cli("churn", "--dataset", "three", "--as-of", "2024-06-30", "--scope", "all", "--list", "lapsed",
                     "--out", out, db=store.path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert frame["customer_id"].tolist() == ["C", "A"] and frame["status"].tolist() == ["lapsed", "lapsed"]
    assert frame["revenue_last_year"].tolist() == [500.0, 400.0]
    for column in ("risk", "rank", "revenue_at_risk", "reasons", "last_order", "typical_gap_days", "followup",
                   "expected_revenue", "expected_low", "expected_high"):
        assert column in frame
    result = run_cli("churn", "--dataset", "three", "--as-of", "2024-06-30", "--scope", "all", "--out", out, db=store.path)
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert frame["customer_id"].tolist() == ["B"]
    assert math.isclose(frame["expected_revenue"][0], round(180 * 90 / 61, 2))


def test_followup_comparison_by_hand():
    # flagged at 2024-03-01: A followed up on 03-05 and D on 03-15 23:00 (day 14: inside); B on
    # 03-20 (day 19) and C the day before the flag are outside. A and C ordered in the horizon.
    followups = pd.DataFrame({"customer_id": ["A", "D", "B", "C"],
                              "created_at": pd.to_datetime(["2024-03-05 09:00", "2024-03-15 23:00",
                                                            "2024-03-20 10:00", "2024-02-29 17:00"])})
    out = churn.followup_comparison(pd.Series(["A", "B", "C", "D"]), {"A", "C", "X"}, followups, "2024-03-01")
    assert out.to_dict("records") == [
        {"group": "followed", "accounts": 2, "ordered": 1, "share": 0.5},
        {"group": "not_followed", "accounts": 2, "ordered": 1, "share": 0.5}]
    # nobody followed up: that group is empty, its share unknown
    out = churn.followup_comparison(pd.Series(["A", "B"]), {"A"}, followups.iloc[0:0], "2024-03-01")
    assert out[["group", "accounts", "ordered"]].to_dict("records") == [
        {"group": "followed", "accounts": 0, "ordered": 0}, {"group": "not_followed", "accounts": 2, "ordered": 1}]
    assert pd.isna(out["share"][0]) and out["share"][1] == 0.5


def test_sigmoid_key_calibrates_each_population_by_hand():
    # two score values in two populations, each group's lapse rate a different one: four
    # parameters (intercept, log-odds, key, key × log-odds) for four groups fit every rate
    scores = [0.2] * 4 + [0.8] * 4 + [0.2] * 4 + [0.8] * 4
    labels = [0, 0, 1, 1] + [1, 1, 1, 0] + [1, 0, 0, 0] + [1, 1, 0, 0]
    key = [0] * 8 + [1] * 8
    fitted = calibration.Calibrator("sigmoid_key").fit(scores, labels, key)
    assert fitted.transform([0.2, 0.8, 0.2, 0.8], [0, 0, 1, 1]) == pytest.approx([0.5, 0.75, 0.25, 0.5], abs=1e-3)
    # a sigmoid never maps two different scores to one risk: no plateau to tie a list
    risks = calibration.Calibrator("sigmoid").fit(scores, labels).transform(np.linspace(0.01, 0.99, 50))
    assert (np.diff(risks) > 0).all()


def test_ece_by_hand():
    # bins [0, .1): .05 vs 0 (1 account); [.1, .2): .135 vs .5 (2); [.9, 1]: .975 vs 1 (2)
    assert calibration.ece([0.05, 0.15, 0.12, 0.95, 1.0], [0, 1, 0, 1, 1]) == pytest.approx(
        (0.05 + 2 * 0.365 + 2 * 0.025) / 5)
    assert calibration.ece([], []) is None
    # certain predictions leave nothing to chance; two accounts at 50%: the share that lapses is
    # 0, ½ or 1 with chances ¼, ½, ¼ -> |½ − share| is ½ half the time: 0.25 on average
    assert calibration.ece_floor([0.0, 1.0, 1.0]) == 0.0
    assert calibration.ece_floor([0.5, 0.5], draws=400) == pytest.approx(0.25, abs=0.04)
