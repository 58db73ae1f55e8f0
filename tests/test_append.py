"""Data in pieces: several files into one dataset, appends under each overlap rule worked out
by hand, the same file twice, figures equal to one load of the same lines, refusals and a
killed append that change nothing."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from kam_analytics import service
from kam_analytics.access import local_identity
from kam_analytics.errors import IngestError
from kam_analytics.ingest.load import ingest_files

ME = local_identity()
HEAD = "订单编号,客户编号,订单日期,金额"


def write(tmp_path, name, lines, header=HEAD, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


def lines_of(store, name):
    """The dataset's lines as readers see them, sorted."""
    table = store.table(name).to_pandas()
    columns = [c for c in ("order_id", "customer_id", "order_date", "amount") if c in table]
    table["amount"] = table["amount"].astype(float)
    table["order_date"] = table["order_date"].astype(str).str[:10]
    return sorted(table[columns].itertuples(index=False, name=None))


BASE = ["O1,A,2024-01-05,100", "O1,A,2024-01-05,50", "O2,B,2024-01-20,200", "O3,A,2024-02-03,70",
        "O4,D,2024-02-05,5", "O5,D,2024-02-06,5", "O6,E,2024-02-07,5", "O7,E,2024-02-08,5"]
# the corrections: O1 loses its 50 line, O2 is amended to 180, O9 is a late order
FIX = ["O1,A,2024-01-05,100", "O2,B,2024-01-20,180", "O9,C,2024-02-25,40"]


def test_an_append_by_orders_worked_by_hand(store, tmp_path):
    ingest_files(store, [write(tmp_path, "jan.csv", BASE)], dataset="d")
    before = store.dataset("d")
    report = ingest_files(store, [write(tmp_path, "fix.csv", FIX)], dataset="d", append=True)
    # O1's two lines and O2's line replaced by the file's; O9 added
    assert report.append == {"overlap": "orders", "lines_added": 3, "lines_replaced": 3, "orders_replaced": 2,
                             "compacted": False}
    expected = [("O1", "A", "2024-01-05", 100.0), ("O2", "B", "2024-01-20", 180.0), ("O3", "A", "2024-02-03", 70.0),
                ("O4", "D", "2024-02-05", 5.0), ("O5", "D", "2024-02-06", 5.0), ("O6", "E", "2024-02-07", 5.0),
                ("O7", "E", "2024-02-08", 5.0), ("O9", "C", "2024-02-25", 40.0)]
    assert lines_of(store, "d") == expected
    after = store.dataset("d")
    assert (after.id, after.rows, after.customers, after.revenue) == (before.id, 8, 5, 410.0)
    assert after.version > before.version and after.data_file == before.data_file  # the base is not rewritten
    assert report.lines == 3 and report.rows == 8
    # the same file again: the dataset exactly as after the first time
    again = ingest_files(store, [write(tmp_path, "fix.csv", FIX)], dataset="d", append=True)
    assert again.append["lines_replaced"] == 3 and again.append["orders_replaced"] == 3
    assert lines_of(store, "d") == expected
    summary = service.customer_summary(store, service.Slice.of(store.dataset("d"))).set_index("customer_id")
    assert summary.loc["A", "orders"] == 2 and summary.loc["A", "revenue"] == 170.0
    assert summary.loc["B", "revenue"] == 180.0 and summary.loc["C", "orders"] == 1


def test_an_append_by_days_worked_by_hand(store, tmp_path):
    head = "客户编号,订单日期,金额"
    ingest_files(store, [write(tmp_path, "w1.csv", ["A,2024-01-05,100", "A,2024-01-05,50", "B,2024-01-06,200",
                                                   "C,2024-01-07,10", "C,2024-01-09,10", "C,2024-01-10,10",
                                                   "C,2024-01-11,10", "C,2024-01-12,10"], header=head)], dataset="d")
    # 2024-01-05 re-exported with one line fewer, and a new day
    fix = write(tmp_path, "w2.csv", ["A,2024-01-05,100", "B,2024-01-08,30"], header=head)
    report = ingest_files(store, [fix], dataset="d", append=True)
    assert report.append == {"overlap": "days", "lines_added": 2, "lines_replaced": 2, "days_replaced": 1,
                             "compacted": False}
    assert store.dataset("d").revenue == 100 + 200 + 50 + 30
    assert ingest_files(store, [fix], dataset="d", append=True).append["lines_replaced"] == 2
    assert store.dataset("d").rows == 8 and store.dataset("d").revenue == 380.0  # 1 + 1 + 5 (C) + 1


def test_an_append_of_none_adds_as_they_are_and_says_so(store, tmp_path):
    ingest_files(store, [write(tmp_path, "a.csv", BASE)], dataset="d")
    report = ingest_files(store, [write(tmp_path, "b.csv", ["O3,A,2024-02-03,70"])], dataset="d", append=True,
                          overlap="none")
    assert report.append == {"overlap": "none", "lines_added": 1, "lines_replaced": 0, "compacted": False}
    assert store.dataset("d").revenue == 440.0 + 70  # O3 now counts twice, as the rule says
    from kam_analytics.ingest.append import append_sentence

    assert "twice" in append_sentence(report.append, "en") and "重复" in append_sentence(report.append, "zh")


def test_orders_need_order_ids_and_columns_must_match(store, tmp_path):
    ingest_files(store, [write(tmp_path, "a.csv", ["A,2024-01-05,100"], header="客户编号,订单日期,金额")],
                 dataset="d")
    before = store.dataset("d")
    with pytest.raises(IngestError) as refused:
        ingest_files(store, [write(tmp_path, "b.csv", ["A,2024-01-06,1"], header="客户编号,订单日期,金额")],
                     dataset="d", append=True, overlap="orders")
    assert refused.value.key == "append_no_order_id"
    with pytest.raises(IngestError) as refused:
        ingest_files(store, [write(tmp_path, "c.csv", ["A,2024-01-06,1,华东"], header="客户编号,订单日期,金额,区域")],
                     dataset="d", append=True)
    assert refused.value.key == "append_columns_differ" and "c.csv" in str(refused.value)
    assert store.dataset("d").version == before.version and lines_of(store, "d") == [("A", "2024-01-05", 100.0)]


def test_attachments_stay_through_an_append(store, tmp_path):
    from kam_analytics.ingest.attributes import ingest_attributes

    ingest_files(store, [write(tmp_path, "a.csv", BASE)], dataset="d")
    attrs = tmp_path / "attrs.csv"
    attrs.write_text("客户编号,客户经理\nA,王芳\n", encoding="utf-8")
    ingest_attributes(store, store.dataset("d"), attrs)
    service.add_followup(store, ME, store.dataset("d"), "A", "contacted", note="called")
    service.save_weights(store, ME, store.dataset("d"), {"revenue": 1.0})
    ingest_files(store, [write(tmp_path, "fix.csv", FIX)], dataset="d", append=True)
    after = store.dataset("d")
    assert store.attributes(after).to_pandas()["owner"].tolist() == ["王芳"]
    assert store.followups(after)["note"].tolist() == ["called"]
    assert service.saved_weights(store, after) == {"revenue": 1.0}
    assert store.audit_trail(1)["action"].tolist() == ["append"]


def test_a_failed_append_changes_nothing(store, tmp_path, monkeypatch):
    ingest_files(store, [write(tmp_path, "a.csv", BASE)], dataset="d")
    before, lines_before = store.dataset("d"), lines_of(store, "d")
    files_before = sorted(p.name for p in store.path.parent.glob("*-datasets/*"))
    assert files_before  # (the dataset's file is there to compare with)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process stopped while the piece was being published

    monkeypatch.setattr(type(store), "append_piece", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest_files(store, [write(tmp_path, "fix.csv", FIX)], dataset="d", append=True)
    assert store.dataset("d").version == before.version
    assert lines_of(store, "d") == lines_before and len(lines_before) == 8 and store.dataset("d").revenue == 440.0
    assert sorted(p.name for p in store.path.parent.glob("*-datasets/*")) == files_before  # no file left behind


def test_several_files_in_three_formats_each_accounted_for(store, tmp_path):
    csv = write(tmp_path, "一月.csv", ["O1,A,2024-01-05,100", "O2,B,2024-01-20,200", ",B,2024-01-21,5"],
                encoding="gb18030")
    xlsx = tmp_path / "二月.xlsx"
    pd.DataFrame({"订单编号": ["O3", "O4"], "客户编号": ["A", "C"], "订单日期": ["2024-02-03", "2024-02-10"],
                  "金额": [70, 30]}).to_excel(xlsx, index=False)
    parquet = tmp_path / "三月.parquet"
    pd.DataFrame({"订单编号": ["O5"], "客户编号": ["B"], "订单日期": pd.to_datetime(["2024-03-01"]),
                  "金额": [10.0]}).to_parquet(parquet)
    report = ingest_files(store, [csv, xlsx, parquet], dataset="q")
    # 一月: 3 data rows, the one without an order id still loads (an id is not required); 二月 2; 三月 1
    assert [(f["file"], f["file_format"], f["file_records"], f["header_records"], f["rows"], f["rejected"])
            for f in report.files] == [("一月.csv", "text", 4, 1, 3, 0), ("二月.xlsx", "xlsx", 3, 1, 2, 0),
                                        ("三月.parquet", "parquet", 1, 0, 1, 0)]
    for f in report.files:
        assert f["file_records"] == f["header_records"] + f["blank_rows"] + f["rows"] + f["rejected"]
    assert report.rows == 6 and store.dataset("q").revenue == 415.0 and report.encoding == "GB18030"
    assert report.file_records == 8 and report.data_rows == 6


def test_files_that_do_not_map_alike_are_refused_by_name(store, tmp_path):
    a = write(tmp_path, "a.csv", ["O1,A,2024-01-05,100"])
    b = write(tmp_path, "b.csv", ["A,2024-01-06,1"], header="客户编号,订单日期,金额")
    with pytest.raises(IngestError) as refused:
        ingest_files(store, [a, b], dataset="x")
    assert refused.value.key == "files_columns_differ"
    # b.csv lacks the order id a.csv has: named on the command line as --map names it, on a page in words
    assert "b.csv" in refused.value.message("en") and "missing: order_id;" in refused.value.message("en")
    assert "缺少：订单编号；" in refused.value.message("zh", page=True)
    assert store.find("x") is None
    with pytest.raises(IngestError) as twice:
        ingest_files(store, [a, a], dataset="x")
    assert twice.value.key == "files_repeated"


def test_appends_give_the_figures_of_one_load(store, tmp_path):
    """The superstore's lines split by month: the first three years loaded, then each month of
    the last appended (by orders: each file holds whole orders), through pieces and a
    compaction, give every figure of the same lines loaded in one go."""
    from conftest import DATASETS

    source = DATASETS / "superstore.csv"
    if not source.exists():
        pytest.skip(f"shared dataset absent: {source}")
    raw = pd.read_csv(source, dtype=str, keep_default_na=False, encoding_errors="replace")
    month = pd.to_datetime(raw["Order Date"], format="mixed").dt.to_period("M")
    last = month.max().year
    whole = tmp_path / "whole.csv"
    raw.to_csv(whole, index=False)
    service.load_file(store, ME, whole, dataset="one")
    base = tmp_path / "base.csv"
    raw[month.dt.year < last].to_csv(base, index=False)
    service.load_file(store, ME, base, dataset="pieces")
    compacted = False
    for m in sorted(month[month.dt.year == last].unique()):
        part = tmp_path / f"{m}.csv"
        raw[month == m].to_csv(part, index=False)
        report = service.load_files(store, ME, [part], dataset="pieces", append=True)
        compacted |= report.append["compacted"]
    assert compacted and store.dataset("pieces").segments  # both paths taken
    one, pieces = store.dataset("one"), store.dataset("pieces")
    assert (pieces.rows, pieces.customers) == (one.rows, one.customers)
    assert pieces.revenue == pytest.approx(one.revenue, rel=1e-12)
    a, b = service.Slice.of(one), service.Slice.of(pieces)
    as_of = service.default_as_of(one)
    pd.testing.assert_frame_equal(service.customer_summary(store, a), service.customer_summary(store, b))
    assert json.dumps(service.slice_concentration(store, a)) == json.dumps(service.slice_concentration(store, b))
    pd.testing.assert_frame_equal(service.accounts_table(store, a, as_of), service.accounts_table(store, b, as_of))
    pd.testing.assert_frame_equal(service.rfm_scores(store, a, as_of).table, service.rfm_scores(store, b, as_of).table)
    assert service.order_lines_single(store, a) == service.order_lines_single(store, b)


@pytest.mark.parametrize("fix, expected", [
    # O2 re-booked to customer F: B has no line left (A, D, E, F)
    (["O2,F,2024-01-20,200"], {"rows": 8, "customers": 4, "revenue": 440.0, "first": "2024-01-05", "last": "2024-02-08"}),
    # O1 (the first day's order) moved to a later day: the first date becomes O2's
    (["O1,A,2024-01-25,150"], {"rows": 7, "customers": 4, "revenue": 440.0, "first": "2024-01-20", "last": "2024-02-08"}),
    # O7 (the last day's order) cancelled to zero on its day, O5 moved past it
    (["O7,E,2024-02-08,0", "O5,D,2024-03-01,5"], {"rows": 8, "customers": 4, "revenue": 435.0, "first": "2024-01-05",
                                                  "last": "2024-03-01"}),
])
def test_the_new_version_s_totals_by_hand(store, tmp_path, fix, expected):
    """BASE: A (O1 150, O3 70), B (O2 200), D (O4, O5: 5 each), E (O6, O7: 5 each) — 8 lines,
    4 customers, 440. The totals after an append, counted anew from the lines, as expected."""
    ingest_files(store, [write(tmp_path, "a.csv", BASE)], dataset="d")
    ingest_files(store, [write(tmp_path, "fix.csv", fix)], dataset="d", append=True)
    d = store.dataset("d")
    got = {"rows": d.rows, "customers": d.customers, "revenue": d.revenue, "first": str(d.date_min)[:10],
           "last": str(d.date_max)[:10]}
    assert got == expected
    lines = store.table("d").to_pandas()  # the same, from the lines readers see
    assert (len(lines), lines["customer_id"].nunique(), float(lines["amount"].sum())) == (
        expected["rows"], expected["customers"], expected["revenue"])


def test_an_order_exported_in_two_files_of_one_load_is_counted_once_when_asked(store, tmp_path):
    # O2 is in both monthly files (an export overlap): one repeated line of 200, reported and,
    # with duplicates='drop', loaded once
    a = write(tmp_path, "jan.csv", ["O1,A,2024-01-05,100", "O2,B,2024-01-31,200"])
    b = write(tmp_path, "feb.csv", ["O2,B,2024-01-31,200", "O3,A,2024-02-03,70"])
    kept = ingest_files(store, [a, b], dataset="kept")
    assert (kept.duplicate_lines, kept.duplicate_amount, kept.rows) == (1, 200.0, 4)
    dropped = ingest_files(store, [a, b], dataset="dropped", duplicates="drop")
    assert (dropped.duplicate_lines, dropped.rows, store.dataset("dropped").revenue) == (1, 3, 370.0)
    assert dropped.data_rows == 4  # every data row of both files, one of them a repeat left out
    with pytest.raises(IngestError) as asked:
        ingest_files(store, [a, b], dataset="asked", duplicates="ask")
    assert asked.value.key == "duplicates_found" and store.find("asked") is None


def test_refused_rows_of_a_file_loaded_again_count_once(store, tmp_path):
    # a.csv refuses one row (no date); appended again, as a piece and when the pieces are
    # merged, its refused row still counts once; b.csv's own refused row adds one
    a = write(tmp_path, "a.csv", BASE + ["O8,F,,5"])
    ingest_files(store, [a], dataset="d")
    assert store.dataset("d").rejected == 1
    ingest_files(store, [a], dataset="d", append=True)  # every order replaced: 8 lines > half → merged
    assert store.dataset("d").rejected == 1 and not store.dataset("d").segments
    b = write(tmp_path, "b.csv", ["O9,C,2024-02-25,40", "O10,C,,1"])
    ingest_files(store, [b], dataset="d", append=True)  # 1 line of 8: a piece
    assert store.dataset("d").segments and store.dataset("d").rejected == 2
    ingest_files(store, [b], dataset="d", append=True)
    assert store.dataset("d").rejected == 2 and len(service.rejected_rows(store, ME, store.dataset("d"))) == 2


def test_a_reader_sees_the_old_version_or_the_new_never_a_mix(store, tmp_path):
    from kam_analytics.store import Store

    ingest_files(store, [write(tmp_path, "a.csv", BASE)], dataset="d")
    reader = Store.open(store.path)  # another process's view of the store, opened before the append
    old = reader.dataset("d")
    lines_before = reader.table(old)
    ingest_files(store, [write(tmp_path, "fix.csv", FIX)], dataset="d", append=True)
    # the reader's query of the version it started on gives that version's lines
    assert lines_before.count().to_pandas() == 8 and float(lines_before.amount.sum().to_pandas()) == 440.0
    new = reader.dataset("d")  # its next read of the catalog gives the new version whole
    assert new.version > old.version
    assert (reader.table(new).count().to_pandas(), float(reader.table(new).amount.sum().to_pandas())) == (8, 410.0)
    reader.close()
