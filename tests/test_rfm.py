"""RFM scores, segments and clusters: ties pinned by hand, monotone scores, as-of, the segment
table complete and non-overlapping, sklearn's estimator checks, determinism."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from kam_analytics.analytics import rfm
from kam_analytics.ingest import ingest_file
from kam_analytics.models.segmentation import RFMClusterer, silhouette


@pytest.mark.parametrize("values,higher,expected", [
    ([1, 2, 3, 4, 5], True, [1, 2, 3, 4, 5]),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], True, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
    ([10, 20, 30, 40, 50], False, [5, 4, 3, 2, 1]),               # recency: fewer days = 5
    ([1, 1, 1, 1, 1, 1, 1, 1, 2, 3], True, [1] * 8 + [5, 5]),      # ranks 1 (x8), 9, 10 -> 1, 5, 5
    ([7, 7, 7, 7], True, [1, 1, 1, 1]),                            # all equal: one score, the lowest
    ([5, 3, 5, 1], True, [3, 2, 3, 1]),  # min ranks 3, 2, 3, 1 of 4 -> 1 + floor(5 (r - 1) / 4)
])
def test_quintile_scores_ties(values, higher, expected):
    assert rfm.quintile_scores(pd.Series(values, dtype="float64"), higher).tolist() == expected


def test_scores_are_monotone_in_their_values():
    rng = np.random.default_rng(3)
    values = pd.Series(np.round(rng.lognormal(3, 1, 500)), dtype="float64")  # many ties after rounding
    scores = rfm.quintile_scores(values)
    order = values.sort_values(kind="mergesort").index
    assert scores[order].is_monotonic_increasing
    for value, group in scores.groupby(values):
        assert group.nunique() == 1, value  # equal values, equal scores


def test_segment_table_covers_every_pair_exactly_once():
    cells = [cell for _, members in rfm.SEGMENTS for cell in members]
    assert len(cells) == 25 and set(cells) == {(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert len(rfm.SEGMENTS) == 11
    assert rfm.segment_of(5, 5) == "champions" and rfm.segment_of(1, 1) == "lost" and rfm.segment_of(1, 5) == "cant_lose"


def write(store, tmp_path, lines):
    path = tmp_path / "r.csv"
    path.write_text("客户编号,订单编号,订单日期,金额\n" + "\n".join(lines) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset="r")
    return store.table("r")


def test_values_by_hand_and_as_of(store, tmp_path):
    table = write(store, tmp_path, ["A,1,2024-01-01,100", "A,1,2024-01-01,50", "A,2,2024-03-01,200",
                                    "B,3,2024-02-15,80", "A,4,2024-06-01,999", "C,5,2024-05-01,10"])
    values = rfm.rfm_values(table, "2024-03-31").set_index("customer_id")
    assert list(values.index) == ["A", "B"]  # C's first order is after the as-of date
    assert values.loc["A", ["recency_days", "frequency", "monetary", "tenure_days"]].tolist() == [30, 2, 350.0, 90]
    assert values.loc["A", "avg_order_value"] == 175.0
    assert values.loc["B", ["recency_days", "frequency", "monetary"]].tolist() == [45, 1, 80.0]


def test_small_portfolio_says_which_scores_ties_left(store, tmp_path):
    # 6 customers, 5 of them with 1 order: F scores 1 (x5) and 5 (x1) -> F collapsed to [1, 5]
    lines = [f"C{i},{i},2024-01-0{i + 1},{10 * (i + 1)}" for i in range(5)] + ["C9,90,2024-01-01,5", "C9,91,2024-01-02,5"]
    result = rfm.rfm(rfm.rfm_values(write(store, tmp_path, lines), "2024-01-31"))
    assert result.collapsed["f"] == [1, 5]
    assert result.thresholds["f"][["score", "customers", "min", "max"]].values.tolist() == [[1, 5, 1, 1], [5, 1, 2, 2]]


@parametrize_with_checks([RFMClusterer(n_init=2)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_clustering_is_deterministic_and_separates_groups():
    rng = np.random.default_rng(0)
    big = np.column_stack([rng.integers(1, 20, 60), rng.integers(20, 40, 60), rng.lognormal(12, 0.2, 60)])
    small = np.column_stack([rng.integers(200, 400, 60), rng.integers(1, 3, 60), rng.lognormal(7, 0.2, 60)])
    X = np.vstack([big, small])
    a = RFMClusterer().fit(X)
    b = RFMClusterer().fit(X)
    assert (a.labels_ == b.labels_).all() and a.n_clusters_ == 2
    assert len(set(a.labels_[:60])) == 1 and len(set(a.labels_[60:])) == 1 and a.labels_[0] != a.labels_[60]
    assert a.silhouette_ > 0.7


def test_silhouette_by_hand_and_against_scikit_learn():
    from sklearn.metrics import pairwise_distances, silhouette_score

    # by hand, on a line: points 0, 1 (cluster a) and 5 (cluster b, alone)
    # point 0: a = 1, b = 5 → 0.8; point 1: a = 1, b = 4 → 0.75; point 5: alone → 0
    points = np.array([[0.0], [1.0], [5.0]])
    assert silhouette(pairwise_distances(points), np.array([7, 7, 3])) == pytest.approx((0.8 + 0.75 + 0) / 3)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    distances = pairwise_distances(X)
    for k in (2, 3, 5, 9):
        labels = rng.integers(0, k, len(X))
        labels[0] = k  # a cluster of one point
        assert silhouette(distances, labels) == pytest.approx(silhouette_score(X, labels), abs=1e-12)


@pytest.mark.parametrize("name", ["superstore.csv", "online_retail_sample.csv"])
def test_shared_datasets(store, shared_dataset, name):
    report = ingest_file(store, shared_dataset(name))
    dataset = store.dataset(report.dataset)
    result = rfm.rfm(rfm.rfm_values(store.table(dataset), dataset.date_max), dataset.date_max)
    rfm.cluster_customers(result)
    t = result.table
    assert len(t) == report.customers
    assert t["segment"].isin(rfm.SEGMENT_ORDER).all() and t["cluster"].notna().all()
    raw = pd.read_csv(shared_dataset(name), encoding="utf-8-sig", dtype=str)
    customer = "Customer ID" if "Customer ID" in raw else "CustomerID"
    assert t["recency_days"].min() == 0 and t["recency_days"].max() > 30
    assert set(t["customer_id"]) == set(raw[customer].dropna().str.replace(r"\.0$", "", regex=True))


def test_cluster_names_from_medians_against_terciles():
    # 9 customers in 3 clusters; terciles (linear interpolation) worked by hand:
    # recency 34.3 / 113.3, frequency 7.67 / 19.33, monetary 69 / 533.3, tenure 343.3 / 800
    t = pd.DataFrame({
        "cluster": [0, 0, 0, 1, 1, 1, 2, 2, 2],
        "recency_days": [1, 2, 3, 50, 60, 70, 200, 300, 400],
        "frequency": [30, 40, 50, 10, 12, 14, 1, 2, 3],
        "monetary": [5, 6, 7, 1000, 2000, 3000, 100, 200, 300],
        "tenure_days": [10, 20, 30, 500, 600, 700, 1000, 1100, 1200],
    })
    assert rfm.cluster_names(t) == {0: "recent-frequent-low-new", 1: "lapsing-occasional-high-established",
                                    2: "dormant-rare-mid-long_standing"}
