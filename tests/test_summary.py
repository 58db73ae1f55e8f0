"""One per-customer summary: concentration, RFM, the scorecard features and the churn features
all start from ``customers.summary_metrics``, so they agree with ``customer_summary`` (and with
each other) on every customer's first and last order, orders, revenue, profit and name. The
as-of cut is one helper (``filters.end_of_day``) for all of them."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import demo_copy
from kam_analytics import demo
from kam_analytics.analytics import churn, concentration, customers, rfm
from kam_analytics.analytics.account_features import customer_features
from kam_analytics.analytics.filters import apply_filters, end_of_day
from kam_analytics.ingest import ingest_file

AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def demo_table(tmp_path_factory):
    from kam_analytics.store import Store

    store = Store.open(demo_copy(tmp_path_factory.mktemp("summary") / "kam.duckdb"))
    yield store.table(demo.DATASET_NAME)
    store.close()


def test_four_analyses_agree_with_the_summary(demo_table):
    summary = customers.customer_summary(demo_table, as_of=AS_OF).set_index("customer_id")
    assert len(summary) > 100 and summary["revenue"].sum() > 0

    features = customer_features(demo_table, AS_OF).set_index("customer_id")
    values = rfm.rfm_values(demo_table, AS_OF).set_index("customer_id")
    ranked = concentration.ranked_customers(apply_filters(demo_table, as_of=AS_OF)).set_index("customer_id")
    snapshot = churn.snapshot_features(demo_table, AS_OF).set_index("customer_id")

    for frame in (features, values, ranked):
        assert set(frame.index) == set(summary.index)
    # churn looks at the accounts active in the last year only: a subset, same figures
    assert 0 < len(snapshot) < len(summary) and set(snapshot.index) <= set(summary.index)

    s = summary
    assert features["revenue"].equals(s["revenue"].reindex(features.index))
    assert values["monetary"].equals(s["revenue"].reindex(values.index))
    assert ranked["revenue"].reindex(s.index).equals(s["revenue"])
    assert snapshot["monetary"].equals(s["revenue"].reindex(snapshot.index))
    assert features["orders"].equals(s["orders"].reindex(features.index))
    assert values["frequency"].equals(s["orders"].reindex(values.index))
    assert snapshot["frequency"].astype("int64").equals(s["orders"].reindex(snapshot.index).astype("int64"))
    for frame, first, last in ((features, "first_order", "last_order"), (snapshot, "first", "last")):
        assert pd.to_datetime(frame[first]).equals(pd.to_datetime(s["first_order"].reindex(frame.index)))
        assert pd.to_datetime(frame[last]).equals(pd.to_datetime(s["last_order"].reindex(frame.index)))
    assert (values["recency_days"] == (pd.Timestamp(AS_OF) - pd.to_datetime(s["last_order"]).dt.normalize())
            .dt.days.reindex(values.index)).all()
    assert ranked["profit"].reindex(s.index).equals(s["profit"])
    assert features["profit"].equals(s["profit"].reindex(features.index))
    for frame in (features, values, ranked):
        assert frame["name"].reindex(s.index).equals(s["name"])


def test_nothing_after_the_as_of_day_and_everything_on_it(store, tmp_path):
    # lines at 00:00 and 23:59:59.999999 of the as-of day count; one a microsecond later does not
    path = tmp_path / "t.csv"
    path.write_text("customer_id,order_date,amount\n"
                    "A,2024-03-31 00:00:00,10\nA,2024-03-31 23:59:59.999999,20\n"
                    "A,2024-04-01 00:00:00,400\nB,2024-01-02,5\n", encoding="utf-8")
    ingest_file(store, path, dataset="t")
    table = store.table("t")
    assert end_of_day("2024-03-31") == dt.datetime(2024, 3, 31, 23, 59, 59, 999999)
    assert end_of_day(pd.Timestamp("2024-03-31 15:00")) == end_of_day(dt.date(2024, 3, 31))
    expected = {"A": 30.0, "B": 5.0}
    summary = customers.customer_summary(table, as_of="2024-03-31")
    assert dict(zip(summary["customer_id"], summary["revenue"])) == expected
    features = customer_features(table, "2024-03-31")
    assert dict(zip(features["customer_id"], features["revenue"])) == expected
    values = rfm.rfm_values(table, "2024-03-31")
    assert dict(zip(values["customer_id"], values["monetary"])) == expected
    snapshot = churn.snapshot_features(table, "2024-03-31")
    assert dict(zip(snapshot["customer_id"], snapshot["monetary"])) == expected
    # the label window (as_of, as_of + horizon] starts a microsecond after the as-of day
    assert list(churn.lapse_labels(table, "2024-03-31", pd.Series(["A", "B"]), 1)) == [0, 1]


def test_days_late_agrees_with_the_scorecard(store, tmp_path):
    # due 2024-02-09, unpaid at the as-of date 2024-03-10: 30 days late (2024 is a leap year:
    # Feb 9 -> Mar 9 is 29 days) in the churn features and in the scorecard's overdue days
    path = tmp_path / "r.csv"
    path.write_text("customer_id,order_date,amount,due_date\nA,2024-01-10,100,2024-02-09\n"
                    "A,2024-03-01,50,2024-03-31\n", encoding="utf-8")
    ingest_file(store, path, dataset="r")
    table = store.table("r")
    snapshot = churn.snapshot_features(table, "2024-03-10").set_index("customer_id")
    features = customer_features(table, "2024-03-10").set_index("customer_id")
    assert snapshot.loc["A", "days_late"] == pytest.approx(30.0)
    assert features.loc["A", "overdue_days"] == pytest.approx(30.0)


def test_among_is_isin_for_arrow_strings_lists_and_sets():
    # ids C, A, D, A against {A, B}: True, False... by hand: C no, A yes, D no, A yes; a missing id no
    import pandas as pd

    from kam_analytics.analytics.customers import among

    ids = pd.Series(["C", "A", "D", "A", None], dtype="str")
    assert among(ids, pd.Series(["A", "B", "A"], dtype="str")).tolist() == [False, True, False, True, False]
    assert among(ids, {"A", "B"}).tolist() == [False, True, False, True, False]
    assert among(ids, []).tolist() == [False] * 5
