"""A large .xlsx sheet is read column by column (fastexcel's typed columns, printed in the
database) below its first rows: the raw text must be exactly what the cell-by-cell reading
makes of the same cells. The reference here is independent of that path: calamine's Python
values of the whole sheet through ``_cell_text``, trailing blank rows dropped."""
from __future__ import annotations

import datetime as dt

import duckdb
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from kam_analytics.ingest import ingest_file, read


def reference(path, sheet: str) -> list[tuple]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    while rows and all(v is None or not str(v).strip() for v in rows[-1]):
        rows.pop()
    width = max(len(r) for r in rows)
    return [tuple(read._cell_text(v) for v in list(r) + [None] * (width - len(r))) for r in rows]


@pytest.fixture
def columns_path(monkeypatch):
    """Every sheet counts as large; records whether the column-by-column path wrote it."""
    used = []
    write = read._write_xlsx_columns

    def spy(*args, **kwargs):
        written = write(*args, **kwargs)
        used.append(written is not None)
        return written

    monkeypatch.setattr(read, "FAST_SHEET_BYTES", 0)
    monkeypatch.setattr(read, "_write_xlsx_columns", spy)
    return used


def raw_rows(path, sheet=None) -> tuple[list[tuple], read.RawTable]:
    con = duckdb.connect()
    raw = read.read_raw(con, path, "raw", sheet=sheet)
    return con.execute('SELECT * FROM "raw" ORDER BY rowid').fetchall(), raw


def save(rows: list[list], path, title="订单", start: str | None = None, merge: str | None = None):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=r, column=c, value=value)
    if start:  # move everything right and down: the sheet no longer starts at A1
        sheet.move_range(f"A1:{openpyxl.utils.get_column_letter(max(len(r) for r in rows))}{len(rows)}",
                         rows=1, cols=1)
    if merge:
        sheet.merge_cells(merge)
    workbook.save(path)
    return path


def orders(n: int) -> list[list]:
    """A title, a blank row, the header, then n orders: text ids, dates at midnight and with a
    time, integral and fractional amounts (one negative), a boolean, a sparse note and a
    column empty below the header; two blank rows at the end."""
    rows = [["2024 年订单明细"], [], ["客户编号", "订单日期", "下单时间", "销售额", "已开票", "备注", "空列"]]
    for i in range(n):
        rows.append([f"C{i % 37:03d}", dt.date(2024, 1, 1) + dt.timedelta(days=i % 300),
                     dt.datetime(2024, 3, 1, 9, 30, 15) + dt.timedelta(hours=i), [12.5, 3.0, -7.25, 123456789.0, 0.1][i % 5],
                     i % 2 == 0, "加急" if i % 7 == 0 else None, None])
    return rows + [[], []]


def test_typed_columns_give_the_cell_by_cell_text(columns_path, tmp_path):
    path = save(orders(400), tmp_path / "orders.xlsx")
    got, raw = raw_rows(path)
    assert columns_path == [True]
    expected = reference(path, "订单")
    assert got == expected
    assert len(got) == 403 == raw.records  # title + blank + header + 400; the two blank rows at the end go
    # order 100: id C(100 mod 37) = C026, 2024-01-01 + 100 days, 09:30:15 on 03-01 + 100 hours
    assert got[103] == ("C026", "2024-04-10", "2024-03-05 13:30:15", "12.5", "True", None, None)
    assert got[104][3:5] == ("3", "False") and got[105][3] == "-7.25" and got[106][3] == "123456789"


def test_the_whole_load_is_the_same_either_way(columns_path, store, tmp_path, monkeypatch):
    path = save(orders(400), tmp_path / "orders.xlsx")
    fast = ingest_file(store, path, dataset="columns")
    monkeypatch.setattr(read, "FAST_SHEET_BYTES", 1 << 60)
    slow = ingest_file(store, path, dataset="cells")
    assert columns_path == [True]
    # 400 orders, amounts 12.5 + 3 − 7.25 + 123,456,789 + 0.1 repeating 80 times
    assert (fast.rows, fast.rejected, fast.customers) == (slow.rows, slow.rejected, slow.customers) == (400, 0, 37)
    assert fast.revenue == slow.revenue == pytest.approx(80 * (12.5 + 3 - 7.25 + 123456789 + 0.1))
    tables = [store.dataset(name).table_name for name in ("columns", "cells")]
    got = [store.cursor().execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables]
    assert got[0] == got[1]


@pytest.mark.parametrize("bad,declined_by", [
    ("n/a", "counts"), ("NA", "counts"), ("#N/A", "counts"), ("nan", "counts"), ("x", "types"), (5, "types")])
def test_a_column_of_two_kinds_is_read_cell_by_cell(columns_path, tmp_path, bad, declined_by):
    # below the head rows a text among the amounts, or a number among the dates: read cell by
    # cell, the text kept. fastexcel refuses a plain mix itself ('types': the columns are never
    # written); 'n/a', 'NA' and an error cell it reads as no value and 'nan' as NaN, which the
    # count of values against the sheet's XML catches ('counts': the columns path says no)
    rows = orders(300)
    rows[250][3 if isinstance(bad, str) else 1] = bad
    path = save(rows, tmp_path / "mixed.xlsx")
    got, _ = raw_rows(path)
    assert columns_path == ([False] if declined_by == "counts" else [])
    assert got == reference(path, "订单")
    # openpyxl saves '#N/A' as an error cell: no value either way
    assert got[250][3 if isinstance(bad, str) else 1] == (None if bad == "#N/A" else str(bad))


@pytest.mark.parametrize("huge", [1e40, -1e40])
def test_an_amount_beyond_the_database_integers_is_read_cell_by_cell(columns_path, tmp_path, huge):
    # an integral float past HUGEINT (about 1.7e38) prints every digit in Python, which the
    # database cannot: the columns path says no, for the largest and for the smallest value
    rows = orders(300)
    rows[250][3] = huge
    path = save(rows, tmp_path / "huge.xlsx")
    got, _ = raw_rows(path)
    assert columns_path == [False]
    assert got == reference(path, "订单")
    # the double nearest 1e40 exactly, every digit: 10000000000000000303786028427003666890752
    assert got[250][3] == ("-" if huge < 0 else "") + "10000000000000000303786028427003666890752"


def test_a_sheet_not_starting_at_a1_or_with_merged_cells_is_read_cell_by_cell(columns_path, tmp_path):
    moved = save(orders(200), tmp_path / "moved.xlsx", start="B2")
    got, _ = raw_rows(moved)
    assert got == reference(moved, "订单") and got[3][1:3] == ("客户编号", "订单日期")
    merged = save(orders(200), tmp_path / "merged.xlsx", merge="F150:F152")
    got, raw = raw_rows(merged)
    assert raw.warnings == ["merged_filled:F150:F152"]
    assert columns_path == [False]  # the moved sheet: the columns path says no; merged cells never reach it


KINDS = {
    "text": st.text(alphabet="甲乙丙ABC 0123-/.", min_size=1, max_size=6).filter(lambda s: s.strip()),
    "number": st.one_of(st.integers(-10**12, 10**12).map(float),
                        st.floats(-1e9, 1e9, allow_nan=False).map(lambda x: round(x, 4))),
    "date": st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)),
    "datetime": st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 12, 31)).map(lambda d: d.replace(microsecond=0)),
    "bool": st.booleans(),
}


@st.composite
def sheets(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=5))
    n = draw(st.integers(101 - 3, 180))
    header = [f"列{i}" for i in range(len(kinds))]
    body = [[draw(st.one_of(st.none(), KINDS[kind])) if draw(st.integers(0, 9)) else None for kind in kinds]
            for _ in range(n)]
    tail = [[] for _ in range(draw(st.integers(0, 2)))]
    return [["标题"], header] + body + tail


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=sheets())
def test_generated_sheets_give_the_cell_by_cell_text(columns_path, tmp_path, rows):
    path = save(rows, tmp_path / "generated.xlsx")
    columns_path.clear()
    got, raw = raw_rows(path)
    # each column holds one kind of value: read column by column when there are rows past the head
    beyond_head = any(v is not None for row in rows[read.SHEET_HEAD_ROWS:] for v in row)
    assert columns_path == ([True] if beyond_head else [])
    expected = reference(path, "订单")
    assert got == expected
    assert raw.records == len(expected)


@pytest.mark.slow  # (make test runs it; make check leaves it out)
def test_a_large_workbook_is_loaded_by_a_command_that_never_imports_pandas(tmp_path):
    """pandas costs the command 0.17 s of its start; neither the CSV path nor the large-sheet
    path needs it (pyarrow imports it when a Python list is made into Arrow)."""
    import subprocess
    import sys
    from pathlib import Path

    rows = orders(12_000)  # its sheet's XML: above read.FAST_SHEET_BYTES, read column by column
    path = save(rows, tmp_path / "big.xlsx")
    assert read._sheet_size(path, "订单") >= read.FAST_SHEET_BYTES
    probe = ("import runpy, sys; sys.argv = ['kam_analytics', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('kam_analytics', run_name='__main__')\n"
             "except SystemExit as done:\n    if done.code:\n        raise\n"
             "print('pandas' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    db = str(tmp_path / "kam.db")
    # the store exists first, as for a scheduled refresh (a new store gets the demo, made with pandas)
    subprocess.run([sys.executable, "-m", "kam_analytics", "--db", db, "datasets"], cwd=root, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", probe, "--db", db, "ingest", str(path), "--dataset", "big"],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout
    assert "12,000 loaded + 0 rejected = 12,000" in done.stdout
