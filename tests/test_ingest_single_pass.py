"""The single direct pass over long text files (formats from the first rows) stands only when
every row of the whole file parses; otherwise the general path gives the same result as if
the pass had never been tried. The sample size is shrunk so small files exercise both paths."""
from __future__ import annotations

import datetime as dt

import pytest

from kam_analytics.analytics.customers import customer_summary
from kam_analytics.ingest import ingest_file, load


@pytest.fixture(autouse=True)
def small_sample(monkeypatch):
    monkeypatch.setattr(load, "FAST_SAMPLE_ROWS", 5)


def write(tmp_path, lines, name="f.csv", encoding="utf-8", header="客户编号,订单日期,金额"):
    path = tmp_path / name
    path.write_bytes(("\n".join([header] + lines) + "\n").encode(encoding))
    return path


def test_clean_long_file_takes_the_single_pass(store, tmp_path):
    lines = [f"C{i % 7},2024-01-{1 + i % 28:02d},{i}.5" for i in range(40)]
    report = ingest_file(store, write(tmp_path, lines))
    assert report.single_pass and (report.rows, report.rejected) == (40, 0)
    assert report.revenue == sum(i + 0.5 for i in range(40))
    assert report.customers == 7


def test_title_row_and_gb18030_single_pass(store, tmp_path):
    lines = [f"客户{i % 3},2024/3/{1 + i % 9},{i}" for i in range(20)]
    path = tmp_path / "t.csv"
    path.write_bytes(("销售明细表\n客户编号,订单日期,金额\n" + "\n".join(lines) + "\n").encode("gb18030"))
    report = ingest_file(store, path)
    assert report.single_pass and report.encoding == "GB18030" and report.rows == 20
    assert report.revenue == sum(range(20))
    assert not list((store.path.parent / "tmp").glob("*.csv"))  # the transcoded copy is gone


def test_bad_row_after_the_sample_falls_back_with_row_numbers(store, tmp_path):
    lines = [f"C{i},2024-01-01,{i}" for i in range(10)] + ["C10,2024-01-01,abc", ",2024-01-02,3"]
    report = ingest_file(store, write(tmp_path, lines))
    assert not report.single_pass
    assert (report.rows, report.rejected) == (10, 2)
    assert [(e["row"], e["reason"]) for e in report.rejected_examples] == [
        (12, "amount_unreadable"), (13, "customer_missing")]


def test_day_first_shown_only_after_the_sample(store, tmp_path):
    # the first rows are ambiguous (day <= 12); row 9 has day 25: the whole column is day-first
    lines = [f"C{i},0{1 + i % 9}/0{1 + i % 3}/2024,1" for i in range(8)] + ["C9,25/12/2024,1"]
    report = ingest_file(store, write(tmp_path, lines))
    assert not report.single_pass and report.date_formats["order_date"] == "%d/%m/%Y"
    summary = customer_summary(store.table(report.dataset)).set_index("customer_id")
    assert summary.loc["C9", "first_order"].date() == dt.date(2024, 12, 25)
    assert summary.loc["C1", "first_order"].date() == dt.date(2024, 2, 2)  # 02/02


def test_decimal_comma_after_the_sample_is_not_misread(store, tmp_path):
    lines = [f"C{i};2024-01-01;{i}" for i in range(8)] + ["C8;2024-01-01;12,5"]
    report = ingest_file(store, write(tmp_path, lines, header="客户编号;订单日期;金额"))
    assert not report.single_pass and report.rejected == 0
    assert report.revenue == pytest.approx(sum(range(8)) + 12.5)


def test_single_pass_and_general_path_agree(store, tmp_path, monkeypatch):
    lines = [f"K{i % 11},2023-{1 + i % 12:02d}-{1 + i % 27:02d} 10:{i % 60:02d},{(i * 37) % 1000 - 100}.25,{i % 4}"
             for i in range(300)]
    path = write(tmp_path, lines, header="客户编号,订单日期,金额,数量")
    fast = ingest_file(store, path, dataset="fast")
    monkeypatch.setattr(load, "FAST_SAMPLE_ROWS", None)
    slow = ingest_file(store, path, dataset="slow")
    assert fast.single_pass and not slow.single_pass
    a = customer_summary(store.table("fast")).sort_values("customer_id").reset_index(drop=True)
    b = customer_summary(store.table("slow")).sort_values("customer_id").reset_index(drop=True)
    assert a.equals(b)


def stored(store, dataset: str, columns: str) -> list[tuple]:
    return store.cursor().execute(f'SELECT {columns} FROM "{store.find(dataset).table_name}" ORDER BY ALL').fetchall()


# The single pass takes clean-looking columns as the reader gives them (ISO dates and plain
# numbers parsed by the reader, ids and text untrimmed); a value past the sample that the general
# path would have changed must send the file down the general path, with the general result.
LATE_VALUES = [
    pytest.param("C5 ", "华东", ("C5", "华东"), id="trailing-space-id"),
    pytest.param("\u00a0C5", "华东", ("C5", "华东"), id="no-break-space-id"),
    pytest.param("C5", "华东\u3000", ("C5", "华东"), id="ideographic-space-text"),
    pytest.param("12923.0", "华东", ("12923", "华东"), id="float-id"),
    pytest.param("12923.00", "华东", ("12923", "华东"), id="float-id-two-zeros"),
]


@pytest.mark.parametrize("customer,region,expected", LATE_VALUES)
def test_a_late_value_the_general_path_would_change(store, tmp_path, customer, region, expected):
    lines = [f"C{i},2024-01-0{1 + i % 9},{i},华东" for i in range(10)] + [f"{customer},2024-02-01,7.5,{region}"]
    report = ingest_file(store, write(tmp_path, lines, header="客户编号,订单日期,金额,区域"), dataset="d")
    assert not report.single_pass and (report.rows, report.rejected) == (11, 0)
    assert expected in stored(store, "d", "customer_id, region")
    assert report.customers == (10 if expected[0] == "C5" else 11)


def test_a_quoted_empty_value_is_no_value(store, tmp_path):
    # the reader already gives NULL for "" (as the general path does): the single pass stands
    lines = [f"C{i},2024-01-0{1 + i % 9},{i},华东" for i in range(10)] + ['C5,2024-02-01,7.5,""']
    report = ingest_file(store, write(tmp_path, lines, header="客户编号,订单日期,金额,区域"), dataset="d")
    assert (report.rows, report.rejected) == (11, 0)
    assert ("C5", None) in stored(store, "d", "customer_id, region")


@pytest.mark.parametrize("customer", ["C 5", "Acme Corp", "12.50", "1.0a"])
def test_inner_spaces_and_other_dots_keep_the_single_pass(store, tmp_path, customer):
    # a space inside a value, or a '.' that is not '<digits>.0', changes nothing when trimmed
    lines = [f"C{i},2024-01-0{1 + i % 9},{i},华东" for i in range(10)] + [f"{customer},2024-02-01,7.5,华 东"]
    report = ingest_file(store, write(tmp_path, lines, header="客户编号,订单日期,金额,区域"), dataset="d")
    assert report.single_pass and (report.rows, report.revenue) == (11, sum(range(10)) + 7.5)
    assert (customer, "华 东") in stored(store, "d", "customer_id, region")


def test_a_late_padded_number_or_other_date_style_reads_as_the_general_path(store, tmp_path):
    lines = [f"C{i},2024-01-0{1 + i % 9},{i}" for i in range(10)] + ["C10,2024-02-01, 12.5 ", "C11,2024-02-03 10:30,1"]
    report = ingest_file(store, write(tmp_path, lines), dataset="d")
    assert (report.rows, report.rejected) == (12, 0)
    assert report.revenue == pytest.approx(sum(range(10)) + 13.5)
    rows = dict((c, (d, a)) for c, d, a in stored(store, "d", "customer_id, order_date, amount"))
    assert rows["C10"] == (dt.datetime(2024, 2, 1), 12.5)
    assert rows["C11"] == (dt.datetime(2024, 2, 3, 10, 30), 1)


def test_a_late_year_out_of_range_is_caught_by_the_whole_column_check(store, tmp_path):
    # the storage statistics see 1850 as the column's smallest date: the year check runs
    lines = [f"C{i},2024-01-0{1 + i % 9},{i}" for i in range(10)] + ["C10,1850-02-01,7"]
    report = ingest_file(store, write(tmp_path, lines), dataset="d")
    assert not report.single_pass and (report.rows, report.rejected) == (10, 1)
    assert report.rejected_reasons == {"date_out_of_range": 1}  # (read as a date: outside 1900–2100)


def test_column_stats_answer_only_what_they_prove(store):
    from kam_analytics.ingest.load import ColumnStats, column_stats

    con = store.cursor()
    con.execute("""CREATE TEMP TABLE s AS SELECT * FROM (VALUES
        ('C1', '12.0', TIMESTAMP '2024-01-01', NULL), ('C2', 'SO2', TIMESTAMP '2024-02-01', 5.0))
        t(customer_id, order_id, order_date, amount)""")
    stats = column_stats(con, "s")
    assert not stats["customer_id"].may_be_null and stats["amount"].may_be_null
    assert stats["customer_id"].starts_past_digits and not stats["order_id"].starts_past_digits
    assert stats["order_date"].years_within(1900, 2100) and not stats["order_date"].years_within(2025, 2100)
    assert not ColumnStats().starts_past_digits and ColumnStats().may_be_null  # nothing known: check all
