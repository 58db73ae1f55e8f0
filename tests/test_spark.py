"""The same answers on both engines: every analysis the pages and commands show, computed on
DuckDB (the loaded dataset) and on a local Spark session (the same lines written to Parquet
and attached), over the demo and the two shared datasets. Exact for counts, ranks and order
(ties included); sums and shares to 1e-9 relative. One Spark session serves the whole run."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from conftest import demo_copy
from kam_analytics import service
from kam_analytics import spark as engines
from kam_analytics.access import local_identity
from kam_analytics.analytics import account, churn, concentration as conc, overview

pytestmark = [pytest.mark.spark, pytest.mark.slow]

if not engines.java_available():
    print("\nSpark tests skipped: no Java runtime (apt-get install openjdk-17-jre-headless; .ci/run does this)")
    pytest.skip("no Java runtime for a local Spark session (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)

ME = local_identity()


def _attach_copy(store, dataset, folder) -> object:
    """The dataset's lines as Parquet, attached to Spark under another name."""
    path = folder / f"ds{dataset.id}.parquet"
    store.cursor().execute(f"COPY (SELECT * FROM {dataset.table_name}) TO '{path}' (FORMAT parquet)")
    report = service.attach_dataset(store, ME, f"{dataset.name} (spark)", f"parquet.`{path}`")
    assert report.rows == dataset.rows and report.rejected == 0 and report.customers == dataset.customers
    return store.dataset(report.dataset)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, shared_dataset_paths):
    """(name, DuckDB dataset, Spark dataset, store) for the demo and the shared datasets."""
    from kam_analytics.store import Store

    folder = tmp_path_factory.mktemp("spark")
    store = Store.open(demo_copy(folder / "kam.db"))
    for path in shared_dataset_paths:
        service.load_file(store, ME, path)
    out = [(d.name, d, _attach_copy(store, d, folder), store) for d in store.datasets()]
    yield out
    store.close()


@pytest.fixture(scope="module")
def shared_dataset_paths():
    from conftest import DATASETS

    paths = [DATASETS / n for n in ("superstore.csv", "online_retail_sample.csv")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared datasets absent: {missing}")
    return paths


def same(a, b, where: str = "") -> None:
    """Equal results: frames cell by cell in the same row order, numbers to 1e-9 relative,
    everything else exactly; dataclasses and dicts field by field."""
    if isinstance(a, pd.DataFrame):
        assert list(a.columns) == list(b.columns), where
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False,
                                      check_exact=False, rtol=1e-9, atol=0, obj=where)
    elif isinstance(a, pd.Series):
        same(a.to_frame(), b.to_frame(), where)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            same(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, (float, np.floating)) and not (isinstance(a, float) and math.isnan(a)):
        assert b == pytest.approx(a, rel=1e-9, abs=0), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=0)
    else:
        assert a == b or (pd.isna(a) and pd.isna(b)), f"{where}: {a!r} != {b!r}"


def _slices(pair):
    name, duck, spark, store = pair
    return store, service.Slice.of(duck), service.Slice.of(spark), service.default_as_of(duck)


# the demo and the online-retail sample: a generated and a real export (the superstore's reading is
# compared on its own, test_text_columns_are_read_by_the_file_rules; a third dataset here cost a
# 2-core suite about 20 s per test for no new code path)
@pytest.mark.parametrize("index", [0, 2])
def test_summary_trend_and_concentration_are_the_same(pairs, index):
    store, d, s, as_of = _slices(pairs[index])
    same(service.customer_summary(store, d), service.customer_summary(store, s), "summary")
    same(service.revenue_by_period(store, d), service.revenue_by_period(store, s), "trend")
    for measure in ("revenue", "profit"):
        if measure == "profit" and "profit" not in service.transactions(store, d).columns:
            continue
        same(service.slice_concentration(store, d, measure), service.slice_concentration(store, s, measure), measure)
        ranked_d = conc.ranked_customers(service.transactions(store, d), measure)
        ranked_s = conc.ranked_customers(service.transactions(store, s), measure)
        same(ranked_d, ranked_s, f"ranked {measure}")
        top3 = ranked_d["customer_id"].head(3).tolist()
        same(conc.what_if(ranked_d, top3, measure), conc.what_if(ranked_s, top3, measure), "what-if")
        same(conc.indicators_by_period(service.transactions(store, d), "quarter", measure),
             conc.indicators_by_period(service.transactions(store, s), "quarter", measure), "by quarter")
    dims = [c for c in ("region", "category", "industry") if c in service.transactions(store, d).columns]
    for dim in dims:
        same(conc.grouped_indicators(service.transactions(store, d), dim),
             conc.grouped_indicators(service.transactions(store, s), dim), f"by {dim}")


@pytest.mark.parametrize("index", [0, 2])
def test_scorecard_rfm_overview_and_account_are_the_same(pairs, index):
    store, d, s, as_of = _slices(pairs[index])
    same(service.accounts_table(store, d, as_of), service.accounts_table(store, s, as_of), "scorecard")
    rfm_d, model_d = service.rfm_segments(store, d, as_of)
    rfm_s, model_s = service.rfm_segments(store, s, as_of)
    same(rfm_d.table, rfm_s.table, "rfm")
    summary_d, summary_s = service.customer_summary(store, d), service.customer_summary(store, s)
    same(overview.headline(summary_d, as_of), overview.headline(summary_s, as_of), "headline")
    top = conc.ranked_customers(service.transactions(store, d))["customer_id"].iloc[0]
    same(account.account_profile(service.transactions(store, d), top),
         account.account_profile(service.transactions(store, s), top), "profile")
    same(account.find_customers(service.transactions(store, d), str(top)[:2]),
         account.find_customers(service.transactions(store, s), str(top)[:2]), "find")


# the online-retail sample, a real export: the demo's churn pages are compared on Spark in the
# browser (test_spark_browser), and a second dataset here cost 60–115 s of a 2-core suite
@pytest.mark.parametrize("index", [2])
def test_churn_scores_backtest_and_post_mortem_are_the_same(pairs, index, monkeypatch):
    # both engines train on the 4 most recent snapshots instead of 12: the same comparison
    # (every snapshot is built by the same queries on each engine) in a third of the Spark time
    monkeypatch.setattr(churn, "MAX_SNAPSHOTS", 4)
    store, d, s, as_of = _slices(pairs[index])
    list_d = service.churn_list(store, d, as_of, 90, scope="all", listing="all")
    list_s = service.churn_list(store, s, as_of, 90, scope="all", listing="all")
    assert set(list_d.table["status"]) == {"at_risk", "lapsed"}  # both lists, and the lapsed ones' last year
    assert list_d.scored.method == list_s.scored.method == "model"  # (four snapshots are enough to train)
    same(service.churn_export(list_d), service.churn_export(list_s), "churn list")
    # (the replay of the scores just listed, as the model card replays the page's own scores)
    same(churn.backtest(service.transactions(store, d), as_of, 90, scored=list_d.scored),
         churn.backtest(service.transactions(store, s), as_of, 90, scored=list_s.scored), "backtest")
    by = "region" if "region" in service.transactions(store, d).columns else None
    same(churn.post_mortem(service.transactions(store, d), as_of, 90, by),
         churn.post_mortem(service.transactions(store, s), as_of, 90, by), "post-mortem")
    same(churn.cohort_retention(service.transactions(store, d), as_of),
         churn.cohort_retention(service.transactions(store, s), as_of), "cohorts")


def test_attach_maps_types_and_counts_rejected_lines(tmp_path, store):
    # an export with its own headers (Chinese), an integral float id, a line without a customer
    # and one without an amount: 4 lines = 2 loaded + 2 rejected
    spark = engines.spark_session()
    frame = pd.DataFrame({"客户编号": [12923.0, 12923.0, None, 7.0],
                          "订单日期": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-01-06", "2024-03-01"]),
                          "销售额": [100.5, 50.25, 30.0, None], "区域": ["华东 ", "华东", "华南", None]})
    path = tmp_path / "orders.parquet"
    spark.createDataFrame(frame).write.parquet(str(path))
    report = service.attach_dataset(store, ME, "订单", f"parquet.`{path}`")
    assert (report.rows, report.rejected, report.source_rows) == (2, 2, 4)
    assert report.rejected_reasons == {"customer_missing": 1, "amount_missing": 1}
    assert report.mapping == {"customer_id": "客户编号", "order_date": "订单日期", "amount": "销售额", "region": "区域"}
    summary = service.customer_summary(store, service.Slice.of(store.dataset("订单")))
    assert summary["customer_id"].tolist() == ["12923"] and summary["revenue"].tolist() == [150.75]
    rejects = store.rejected_rows(store.dataset("订单"))
    assert sorted(rejects["reason"]) == ["amount_missing", "customer_missing"]
    assert sorted(service.transactions(store, service.Slice.of(store.dataset("订单"))).region.to_pandas()) == ["华东", "华东"]


def test_attach_refuses_what_it_cannot_use_and_changes_nothing(tmp_path, store):
    from kam_analytics.errors import KamError

    spark = engines.spark_session()
    path = tmp_path / "number_dates.parquet"
    spark.createDataFrame(pd.DataFrame({"customer_id": ["A"], "order_date": [20240105], "amount": [1.0]})) \
        .write.parquet(str(path))
    with pytest.raises(KamError) as refused:
        service.attach_dataset(store, ME, "t", f"parquet.`{path}`")
    assert refused.value.key == "attach_date_not_date" and "'order_date'" in str(refused.value)
    no_amount = tmp_path / "no_amount.parquet"
    spark.createDataFrame(pd.DataFrame({"customer_id": ["A"], "day": pd.to_datetime(["2024-01-01"])})) \
        .write.parquet(str(no_amount))
    with pytest.raises(KamError) as refused:
        service.attach_dataset(store, ME, "t", f"parquet.`{no_amount}`", overrides={"order_date": "day"})
    assert refused.value.key == "columns_missing" and "amount" in str(refused.value)
    for bad in ("orders; DROP TABLE x", "(SELECT * FROM orders)", "a JOIN b"):
        with pytest.raises(KamError) as refused:
            service.attach_dataset(store, ME, "t", bad)
        assert refused.value.key == "attach_table_bad"
    with pytest.raises(KamError) as refused:
        service.attach_dataset(store, ME, "t", "parquet.`/nonexistent/folder`")
    assert refused.value.key == "attach_table_unreadable"
    assert store.datasets() == []


def _text_view(path, name: str) -> str:
    """A CSV file as Spark reads it without types (every column text), as a temporary view."""
    engines.spark_session().read.option("header", True).option("escape", '"').option("inferSchema", False) \
        .csv(str(path)).createOrReplaceTempView(name)
    return name


@pytest.mark.parametrize("file", ["superstore.csv", "online_retail_sample.csv"])
def test_text_columns_are_read_by_the_file_rules(file, shared_dataset_paths, store):
    # the shared files as Spark reads a CSV (every column text: superstore's dates are
    # '03/01/19', day first; online retail's '2011-10-06 16:20:00' with the amount from
    # Quantity x UnitPrice): attached, they give what the file ingest gives on DuckDB
    path = next(p for p in shared_dataset_paths if p.name == file)
    loaded = service.load_file(store, ME, path, dataset="file")
    attached = service.attach_dataset(store, ME, "spark", _text_view(path, file.split(".")[0] + "_text"))
    assert attached.date_formats["order_date"] == loaded.date_formats["order_date"]
    assert (attached.rows, attached.rejected, attached.customers) == (loaded.rows, loaded.rejected, loaded.customers)
    assert attached.rejected_reasons == loaded.rejected_reasons
    assert math.isclose(attached.revenue, loaded.revenue, rel_tol=1e-12)
    assert (attached.date_min, attached.date_max) == (loaded.date_min, loaded.date_max)
    file_side = service.customer_summary(store, service.Slice.of(store.dataset("file")))
    spark_side = service.customer_summary(store, service.Slice.of(store.dataset("spark")))
    same(spark_side, file_side, "customer summary")


def test_text_dates_and_amounts_worked_by_hand(tmp_path, store):
    # 6 lines: '2024/1/5', ' 2024/02/05 10:30' (padded, with a time), '2024年3月1日' is another
    # family and unreadable here, an empty date, an amount 'abc' and '¥1,234.50' / '(12.50)' /
    # '15%' read as 1234.50, -12.50 and 0.15
    frame = pd.DataFrame({"客户编号": ["A", "A", "B", "C", "D", "E"],
                          "订单日期": ["2024/1/5", " 2024/02/05 10:30", "2024年3月1日", "", "2024/03/01", "2024/03/02"],
                          "销售额": ["¥1,234.50", "(12.50)", "100", "5", "abc", "15%"]})
    path = tmp_path / "text.parquet"
    engines.spark_session().createDataFrame(frame).write.parquet(str(path))
    report = service.attach_dataset(store, ME, "t", f"parquet.`{path}`")
    assert report.date_formats == {"order_date": "%Y/%m/%d"} and report.decimal_comma == []
    assert (report.rows, report.rejected, report.source_rows) == (3, 3, 6)
    assert report.rejected_reasons == {"date_unreadable": 1, "date_missing": 1, "amount_unreadable": 1}
    lines = service.transactions(store, service.Slice.of(store.dataset("t"))).to_pandas().sort_values("order_date")
    assert lines["customer_id"].tolist() == ["A", "A", "E"]
    assert lines["order_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-05 10:30"),
                                            pd.Timestamp("2024-03-02")]
    assert [float(v) for v in lines["amount"]] == [1234.5, -12.5, 0.15]
    rejects = store.rejected_rows(store.dataset("t")).sort_values("customer_id")
    assert rejects["reason"].tolist() == ["date_unreadable", "date_missing", "amount_unreadable"]


def test_day_month_order_is_asked_and_an_engine_difference_refuses(tmp_path, store):
    from kam_analytics.errors import KamError

    spark = engines.spark_session()
    ambiguous = tmp_path / "ambiguous.parquet"
    spark.createDataFrame(pd.DataFrame({"customer_id": ["A", "B"], "order_date": ["05/01/2024", "06/01/2024"],
                                        "amount": ["1,5", "2,25"]})).write.parquet(str(ambiguous))
    with pytest.raises(KamError) as refused:
        service.attach_dataset(store, ME, "t", f"parquet.`{ambiguous}`")
    assert refused.value.key == "date_ambiguous" and store.datasets() == []
    report = service.attach_dataset(store, ME, "t", f"parquet.`{ambiguous}`", date_format="dmy")
    assert report.date_formats == {"order_date": "%d/%m/%Y"} and report.decimal_comma == ["amount"]
    assert (report.date_min, report.date_max, report.revenue) == ("2024-01-05 00:00:00", "2024-01-06 00:00:00", 3.75)
    # two-digit years: the file rules read '95' as 1995, Spark as 2095 -> refused, nothing changed
    two_digit = tmp_path / "two_digit.parquet"
    spark.createDataFrame(pd.DataFrame({"customer_id": ["A"], "order_date": ["05/01/95"], "amount": ["1"]})) \
        .write.parquet(str(two_digit))
    with pytest.raises(KamError) as refused:
        service.attach_dataset(store, ME, "t", f"parquet.`{two_digit}`", date_format="dmy", replace=True)
    assert refused.value.key == "attach_reads_differently"
    assert "'05/01/95'" in str(refused.value) and "1995-01-05" in str(refused.value) and "2095-01-05" in str(refused.value)
    assert [(d.name, d.rows, d.revenue) for d in store.datasets()] == [("t", 2, 3.75)]


def test_receivables_are_the_same(pairs):
    # the demo has due dates, paid dates and paid amounts on its lines
    store, d, s, as_of = _slices(pairs[0])
    owed_d, owed_s = service.receivables(store, d, as_of), service.receivables(store, s, as_of)
    assert len(owed_d) == 1500
    same(owed_d, owed_s, "receivables")
    same(service.receivables_history(store, d, "C0020", as_of), service.receivables_history(store, s, "C0020", as_of),
         "history")


def test_a_capped_training_set_is_the_same(pairs, monkeypatch):
    # beyond the cap a snapshot is a fixed-seed sample of its accounts, computed for those only
    store, d, s, as_of = _slices(pairs[0])
    monkeypatch.setattr(churn, "MAX_ACCOUNTS_PER_SNAPSHOT", 200)
    until = (pd.Timestamp(as_of) - pd.Timedelta(days=90)).date()
    lines_d, lines_s = service.transactions(store, d), service.transactions(store, s)
    got_d = churn.training_set(lines_d, lines_d.order_date.min().to_pandas(), until)
    got_s = churn.training_set(lines_s, lines_s.order_date.min().to_pandas(), until)
    assert got_d.groupby("as_of").size().tolist() == [200] * 12
    same(got_d, got_s, "training set")


def test_groups_are_the_same(tmp_path, store):
    """Figures by group on an attached Spark dataset: the group map (the later line's group of
    a customer given two), the roll-up of members, flags naming members, the scorecard, RFM and
    a group's members — the same as on DuckDB, and as worked out by hand in test_groups."""
    from test_groups import LINES

    path = tmp_path / "groups.csv"
    path.write_text(LINES, encoding="utf-8")
    service.load_file(store, ME, path, dataset="g")
    duck = store.dataset("g")
    spark = _attach_copy(store, duck, tmp_path)
    d, s = service.Slice.of(duck, by="group"), service.Slice.of(spark, by="group")
    same(service.group_map(store, duck), service.group_map(store, spark), "group map")
    same(service.customer_summary(store, d), service.customer_summary(store, s), "summary by group")
    report = service.slice_concentration(store, s)
    same(service.slice_concentration(store, d), report, "concentration by group")
    assert report["top1_share"] == pytest.approx(580 / 1250)  # 甲集团 = A 300 + B 280 of 1,250
    as_of = service.default_as_of(duck)
    same(service.accounts_table(store, d, as_of), service.accounts_table(store, s, as_of), "scorecard by group")
    same(service.rfm_scores(store, d, as_of).table, service.rfm_scores(store, s, as_of).table, "rfm by group")
    same(service.group_member_rows(store, d, "甲集团", as_of), service.group_member_rows(store, s, "甲集团", as_of),
         "members")


def test_the_account_pnl_is_the_same(pairs, tmp_path):
    # the demo's costs attached to its Spark copy too: the same P&L, shared costs spread the same way
    from kam_analytics import demo
    from kam_analytics.ingest.costs import ingest_costs

    store, d, s, _ = _slices(pairs[0])
    duck, spark = store.dataset_by_id(d.dataset_id), store.dataset_by_id(s.dataset_id)
    path = tmp_path / "costs.csv"
    demo.costs(demo.generate()).to_csv(path, index=False, encoding="utf-8")
    if not spark.costs_file:
        ingest_costs(store, spark, path)
    report = ingest_costs(store, store.dataset_by_id(d.dataset_id), path, replace=True)
    assert report.rejected == 0
    d, s = service.Slice.of(store.dataset_by_id(duck.id)), service.Slice.of(store.dataset_by_id(spark.id))
    on_duck, on_spark = service.account_pnl(store, d, rate=0.05), service.account_pnl(store, s, rate=0.05)
    same(on_duck.rows, on_spark.rows, "pnl")
    assert on_duck.unallocated == on_spark.unallocated == []
    same(service.slice_concentration(store, d, "net_profit"), service.slice_concentration(store, s, "net_profit"), "net")
