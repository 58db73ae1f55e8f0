"""The order table a load writes beside the lines (``Files.build_orders``): worked by hand on a
small file, and checked against the line-level computation of every analysis that reads it
(``service.order_lines``) on the shared real datasets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kam_analytics import service
from kam_analytics.store import files as store_files
from kam_analytics.analytics import account_features, churn, concentration, customers, rfm, trend
from kam_analytics.analytics.window import window_start
from kam_analytics.analytics.filters import every_order_is_one_line
from kam_analytics.ingest import ingest_file

HAND_LINES = """客户编号,订单编号,订单日期,金额
K1,O1,2024-01-05,100
K1,O1,2024-01-05,50
K1,O1,2024-01-05,25
K1,O2,2024-02-01,10
K1,O2,2024-02-01,-5
K2,O3,2024-01-10,300
K2,O3,2024-01-11,200
K2,O4,2024-03-01,40
K2,O4,2024-03-01,60
"""


def test_an_order_table_by_hand(store, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(HAND_LINES, encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="lines").dataset)
    assert dataset.orders_table is not None  # 9 lines -> 5 rows: within three quarters
    rows = store.orders(dataset).order_by(["customer_id", "order_id", "order_date"]).to_pandas()
    assert rows["order_id"].tolist() == ["O1", "O2", "O3", "O3", "O4"]  # O3's lines are on two days
    assert [float(a) for a in rows["amount"]] == [175.0, 5.0, 300.0, 200.0, 100.0]
    assert rows["lines"].tolist() == [3, 2, 1, 1, 2]
    data_slice = service.Slice.of(dataset)
    assert service.order_lines_single(store, data_slice) is False  # O3 is two rows
    summary = service.customer_summary(store, data_slice).set_index("customer_id")
    assert summary.loc["K1", ["orders", "revenue"]].tolist() == [2, 180.0]
    assert summary.loc["K2", ["orders", "revenue"]].tolist() == [2, 600.0]
    assert str(summary.loc["K2", "first_order"])[:10] == "2024-01-10"
    assert str(summary.loc["K2", "last_order"])[:10] == "2024-03-01"
    months = service.revenue_by_period(store, data_slice, "month")
    assert [float(v) for v in months["revenue"]] == [675.0, 5.0, 100.0]  # Jan: 175 + 500, Feb, Mar
    # what the load recorded: 9 lines for 4 orders; O3 is two rows of the order table
    assert dataset.details["order_table"] is True
    assert dataset.details["single_line_orders"] is False and dataset.details["single_row_orders"] is False


def test_no_order_table_when_every_order_is_one_line(store, tmp_path):
    path = tmp_path / "single.csv"
    path.write_text("客户编号,订单编号,订单日期,金额\nK1,O1,2024-01-05,100\nK1,O2,2024-01-06,50\n"
                    "K2,O3,2024-01-07,25\nK2,O4,2024-01-08,10\n", encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="single").dataset)
    assert dataset.orders_table is None and store.orders(dataset) is None
    assert dataset.details["single_line_orders"] is True and "order_table" not in dataset.details
    summary = service.customer_summary(store, service.Slice.of(dataset)).set_index("customer_id")
    assert summary["orders"].tolist() == [2, 2] and summary["revenue"].tolist() == [150.0, 35.0]


def _same(ours: pd.DataFrame, theirs: pd.DataFrame, key: str = "customer_id") -> None:
    """Equal frames (rows in key order): integers, dates and text exactly; floating sums to 1e-9
    relative (a sum of per-order sums may round its last bit differently)."""
    ours = ours.sort_values(key, kind="mergesort").reset_index(drop=True)
    theirs = theirs.sort_values(key, kind="mergesort").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-9, check_dtype=False)


@pytest.mark.parametrize("name", ["superstore.csv", "online_retail_sample.csv"])
def test_every_analysis_agrees_with_the_lines(store, shared_dataset, monkeypatch, name):
    monkeypatch.setattr(store_files, "ORDER_TABLE_SHARE", 1.0)  # kept whatever it saves, to compare
    dataset = store.dataset(ingest_file(store, shared_dataset(name)).dataset)
    assert dataset.orders_table is not None
    data_slice = service.Slice.of(dataset)
    lines, orders = service.transactions(store, data_slice), service.order_lines(store, data_slice)
    assert int(orders.lines.sum().to_pandas()) == dataset.rows
    single = service.single_line_orders(store, dataset)
    as_of = dataset.date_max.date()
    mid = (dataset.date_min + (dataset.date_max - dataset.date_min) / 2).date()

    _same(service.customer_summary(store, data_slice), customers.customer_summary(lines, single))
    _same(service.revenue_by_period(store, data_slice, "month"), trend.revenue_by_period(lines, "month", single),
          key="period")
    for months in (0, 12):  # the whole history, and the standard's default window
        _same(service.account_features(store, data_slice, as_of, months),
              account_features.customer_features(lines, as_of, None, single_line_orders=single,
                                                 since=window_start(as_of, months)))
    for day in (mid, as_of):
        _same(churn.snapshot_features(orders, day), churn.snapshot_features(lines, day))
    _same(rfm.rfm_values(orders, as_of, service.order_lines_single(store, data_slice)),
          rfm.rfm_values(lines, as_of, single))
    _same(concentration.ranked_customers(orders), concentration.ranked_customers(lines))
    for column in ("region", "category"):
        if column in lines.columns:
            _same(churn.most_frequent(orders, "customer_id", column).to_pandas(),
                  churn.most_frequent(lines, "customer_id", column).to_pandas())
    summary = customers.customer_summary(lines, single)
    quiet = summary.loc[pd.to_datetime(summary["last_order"]) < pd.Timestamp(as_of) - pd.Timedelta(days=90),
                        "customer_id"].tolist()
    assert quiet  # both files have customers silent for more than 90 days at their end
    _same(churn.last_active_year(orders, as_of, quiet), churn.last_active_year(lines, as_of, quiet))


def test_the_load_records_what_a_check_of_its_tables_finds(store, tmp_path):
    """The facts a load keeps in the dataset's details (``Files.build_orders``, in SQL) equal
    ``filters.every_order_is_one_line`` (Ibis) of the tables they describe. Without an order id
    the key is the order day, so two times of one day are one order."""
    path = tmp_path / "days.csv"
    path.write_text("客户编号,订单日期,金额\nK1,2024-01-05 09:00,100\nK1,2024-01-05 09:00,1\n"
                    "K1,2024-01-05 17:30,50\nK2,2024-01-05,25\nK2,2024-01-05,5\nK2,2024-01-06,10\n"
                    "K2,2024-01-06,2\n", encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="days").dataset)
    # 7 lines -> 4 rows (K1 09:00, K1 17:30, K2 01-05, K2 01-06): kept; 3 orders (K1's day, K2's two)
    assert dataset.details["order_table"] is True and store.orders(dataset).count().to_pandas() == 4
    assert dataset.details["single_line_orders"] is False and dataset.details["single_row_orders"] is False
    assert every_order_is_one_line(store.table(dataset)) is False
    assert every_order_is_one_line(store.orders(dataset)) is False

    path = tmp_path / "ids.csv"
    path.write_text("客户编号,订单编号,订单日期,金额\nK1,O1,2024-01-05,100\nK1,O1,2024-01-05,1\n"
                    "K2,O1,2024-01-05,25\nK2,O1,2024-01-05,5\n", encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="ids").dataset)
    # 4 lines -> 2 rows, one per (customer, order): the order table is one row per order
    assert dataset.details["single_line_orders"] is False and dataset.details["single_row_orders"] is True
    assert every_order_is_one_line(store.orders(dataset)) is True
    assert service.order_lines_single(store, service.Slice.of(dataset)) is True


@pytest.mark.parametrize("name", ["superstore.csv", "online_retail_sample.csv"])
def test_recorded_order_facts_on_the_shared_datasets(store, shared_dataset, monkeypatch, name):
    monkeypatch.setattr(store_files, "ORDER_TABLE_SHARE", 1.0)
    dataset = store.dataset(ingest_file(store, shared_dataset(name)).dataset)
    assert dataset.details["single_line_orders"] is every_order_is_one_line(store.table(dataset))
    assert dataset.details["single_row_orders"] is every_order_is_one_line(store.orders(dataset))


def test_churn_counts_orders_as_rows_by_hand(store, tmp_path):
    """Two lines per order on one day and one dimension: the order table is one row per order,
    so the churn features count its rows (``single_line_orders``) in the scan of the money."""
    path = tmp_path / "pairs.csv"
    path.write_text("客户编号,订单编号,订单日期,区域,金额\n"
                    "K1,O1,2023-05-01,华东,60\nK1,O1,2023-05-01,华东,40\n"   # before the year
                    "K1,O2,2024-02-01,华东,30\nK1,O2,2024-02-01,华东,20\n"   # the prior 90 days
                    "K1,O3,2024-05-01,华东,10\nK1,O3,2024-05-01,华东,10\n"   # the last 90 days
                    "K1,O4,2024-06-20,华东,5\nK1,O4,2024-06-20,华东,5\n"
                    "K1,O5,2024-07-05,华东,999\nK1,O5,2024-07-05,华东,1\n"   # after as_of
                    "K2,O6,2024-06-30,华北,70\nK2,O6,2024-06-30,华北,0\n"    # on as_of itself
                    "K3,O7,2023-01-02,华北,80\nK3,O7,2023-01-02,华北,20\n",  # silent over a year
                    encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="pairs").dataset)
    data_slice = service.Slice.of(dataset)
    assert dataset.orders_table is not None and service.order_lines_single(store, data_slice) is True
    orders, lines = service.order_lines(store, data_slice), service.transactions(store, data_slice)
    # as of 2024-06-30: last 90 days 04-02..06-30, the 90 before 01-03..04-01, the year from 2023-07-02
    fast = churn.snapshot_features(orders, "2024-06-30", single_line_orders=True).set_index("customer_id")
    assert fast.index.tolist() == ["K1", "K2"]
    k1, k2 = fast.loc["K1"], fast.loc["K2"]
    assert [int(k1[c]) for c in ("frequency", "orders_year", "orders_recent", "orders_prior")] == [4, 3, 2, 1]
    assert [float(k1[c]) for c in ("monetary", "revenue_year", "revenue_recent", "revenue_prior")] == \
        [180.0, 80.0, 30.0, 50.0]
    assert (int(k1["recency_days"]), float(k1["typical_gap_days"])) == (10, 416 / 3)  # 2023-05-01..2024-06-20
    assert [int(k2[c]) for c in ("frequency", "orders_year", "orders_recent", "orders_prior")] == [1, 1, 1, 0]
    assert pd.isna(k2["typical_gap_days"])
    _same(fast.reset_index(), churn.snapshot_features(orders, "2024-06-30"))  # grouping orders
    _same(fast.reset_index(), churn.snapshot_features(lines, "2024-06-30"))  # from the lines


def test_churn_scores_counting_rows_equal_the_lines_on_a_real_export(store, shared_dataset, tmp_path):
    """The shared Superstore file cut to the columns of a plain ERP export (order, date,
    customer, region, sales): its lines share date and region within an order, so the order
    table is one row per order. Features and scores from it (``service.churn_scores``) equal
    those from the lines with orders grouped (``churn.score_accounts`` of the transactions)."""
    source = shared_dataset("superstore.csv")
    export = tmp_path / "export.csv"
    pd.read_csv(source, encoding="utf-8-sig")[["Order ID", "Order Date", "Customer ID", "Region", "Sales"]].to_csv(
        export, index=False)
    dataset = store.dataset(ingest_file(store, export).dataset)
    data_slice = service.Slice.of(dataset)
    assert service.order_lines_single(store, data_slice) is True
    orders, lines = service.order_lines(store, data_slice), service.transactions(store, data_slice)
    assert int(orders.count().to_pandas()) == lines.select("customer_id", "order_id").distinct().count().to_pandas()
    as_of = dataset.date_max.date()
    mid = (dataset.date_min + (dataset.date_max - dataset.date_min) / 2).date()
    for day in (mid, as_of):
        _same(churn.snapshot_features(orders, day, single_line_orders=True), churn.snapshot_features(lines, day))
    ours = service.churn_scores(store, data_slice, as_of, 90).table
    theirs = churn.score_accounts(lines, as_of, 90).table
    assert ours["customer_id"].tolist() == theirs["customer_id"].tolist()  # the same order of rank
    assert ours["rank"].tolist() == theirs["rank"].tolist() and ours["status"].tolist() == theirs["status"].tolist()
    assert ours["reasons"].tolist() == theirs["reasons"].tolist()
    assert np.allclose(ours["risk"], theirs["risk"], rtol=1e-9, atol=0)


def test_which_counts_need_the_pairs():
    """``store._pairs_decide``: the count of (customer, order key) pairs is asked only where it
    can make a recorded fact true (pairs ≤ keyed rows ≤ rows kept ≤ lines)."""
    decide = store_files.pairs_decide
    assert decide(rows=4, kept=4, keyed_rows=4, keyed_lines=4) is True      # every line a keyed row: single_line_orders
    assert decide(rows=10, kept=5, keyed_rows=5, keyed_lines=10) is True    # kept (50%), every row keyed: single_row_orders
    assert decide(rows=10, kept=5, keyed_rows=4, keyed_lines=9) is False    # a row without a key: neither can hold
    assert decide(rows=5, kept=4, keyed_rows=4, keyed_lines=5) is False     # 80% of the lines: dropped, and lines ≠ rows
    assert decide(rows=4, kept=4, keyed_rows=3, keyed_lines=3) is False     # a line without a key
    assert decide(rows=4, kept=3, keyed_rows=3, keyed_lines=4) is True      # exactly 75%: kept


@pytest.mark.parametrize("text, kept, single_line, single_row", [
    # a line without an order id: 6 lines -> 4 rows (the two keyless lines of one day are one
    # row); no fact can hold, the pairs are not counted
    ("客户编号,订单编号,订单日期,金额\nK1,,2024-01-05,100\nK1,,2024-01-05,50\nK1,O2,2024-01-06,10\n"
     "K1,O2,2024-01-06,5\nK2,O3,2024-01-07,1\nK2,O4,2024-01-08,2\n", 4, False, False),
    # 5 lines -> 4 rows: 80% of the lines, not kept; lines ≠ rows, so not one line an order
    ("客户编号,订单编号,订单日期,金额\nK1,O1,2024-01-05,100\nK1,O1,2024-01-05,50\nK1,O2,2024-01-06,10\n"
     "K2,O3,2024-01-07,1\nK2,O4,2024-01-08,2\n", None, False, None),
    # the same order id on two customers is two orders: 6 lines -> 3 rows, one per pair
    ("客户编号,订单编号,订单日期,金额\nK1,O1,2024-01-05,100\nK1,O1,2024-01-05,50\nK2,O1,2024-01-05,10\n"
     "K2,O1,2024-01-05,5\nK2,O2,2024-01-06,1\nK2,O2,2024-01-06,2\n", 3, False, True),
])
def test_recorded_facts_by_hand(store, tmp_path, text, kept, single_line, single_row):
    path = tmp_path / "facts.csv"
    path.write_text(text, encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="facts").dataset)
    assert dataset.details["single_line_orders"] is single_line
    assert every_order_is_one_line(store.table(dataset)) is single_line
    if kept is None:
        assert store.orders(dataset) is None and "single_row_orders" not in dataset.details
    else:
        assert store.orders(dataset).count().to_pandas() == kept
        assert dataset.details["single_row_orders"] is single_row
        assert every_order_is_one_line(store.orders(dataset)) is single_row


def test_one_line_per_order_writes_no_order_table(store, tmp_path):
    """The first lines look like one line per order (10 combinations of 10 lines), so the
    pairs of the lines decide: O1 on two days is one pair of two lines, 9 pairs of 10 lines —
    more than three quarters, so no order table, and not one line per order."""
    lines = ["客户编号,订单编号,订单日期,金额", "K1,O1,2024-01-05,1", "K1,O1,2024-01-06,2"]
    lines += [f"K{i % 3},O{i},2024-02-0{i},{i}" for i in range(2, 10)]
    path = tmp_path / "nearly.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="nearly").dataset)
    assert store.orders(dataset) is None and "order_table" not in dataset.details
    assert dataset.details["single_line_orders"] is False
    assert every_order_is_one_line(store.table(dataset)) is False
    summary = service.customer_summary(store, service.Slice.of(dataset)).set_index("customer_id")
    assert summary.loc["K1", ["orders", "revenue"]].tolist() == [3, 1 + 2 + 4 + 7]  # O1, O4, O7


def test_a_head_that_looks_single_line_costs_only_time(store, tmp_path, monkeypatch):
    """The first 4 lines are 4 orders, the rest two lines an order: the guess is wrong, the
    pairs of the whole file (2 + 4 of 10 lines) say so, and the order table is written."""
    monkeypatch.setattr(store_files, "HEAD_LINES", 4)
    lines = ["客户编号,订单编号,订单日期,金额"] + [f"K1,A{i},2024-01-0{i + 1},1" for i in range(4)]
    lines += [f"K2,B{i // 2},2024-03-0{i // 2 + 1},10" for i in range(6)]
    path = tmp_path / "head.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = store.dataset(ingest_file(store, path, dataset="head").dataset)
    assert dataset.details["order_table"] is True and store.orders(dataset).count().to_pandas() == 7
    assert dataset.details["single_line_orders"] is False and dataset.details["single_row_orders"] is True
    summary = service.customer_summary(store, service.Slice.of(dataset)).set_index("customer_id")
    assert summary.loc["K2", ["orders", "revenue"]].tolist() == [3, 60.0]
