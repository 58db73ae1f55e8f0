"""Property: for every file, rows loaded + rows rejected = data rows in the file, and the loaded
revenue is the sum of the good rows — whatever the delimiter, quoting, line ending, encoding,
header language, date and number style, planted bad rows and blank lines.

The expected values come from the generator (it knows which rows it made good or bad and
their amounts in cents), not from the code under test. Every sampling window the ingest uses
(the 200,000-row fast-pass sample, the 1 MB encoding sample, the 16 MB / 4 MB read chunks) is
shrunk here so small files fall on both sides of each; the slow tests at the end cross the
real windows with 200,001 and 1,000,001-row files.
"""
from __future__ import annotations

import datetime as dt
import re
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kam_analytics.ingest import count, encoding, ingest_file, load, read

HEADERS = {"en": ["Customer ID", "Order Date", "Sales", "Region"], "zh": ["客户编号", "订单日期", "金额", "区域"]}
DATE_STYLES = {"iso": "%Y-%m-%d", "slash": "%Y/%m/%d", "cn": "%Y年%m月%d日", "mon": "%d-%b-%Y"}
BASE = dt.date(2023, 1, 1)


def money_text(cents: int, style: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if style == "plain":
        return f"{sign}{whole}.{frac:02d}"
    if style == "thousands":
        return f"{sign}{whole:,}.{frac:02d}"
    return f"{sign}¥{whole:,}.{frac:02d}"


def cell(text: str, delimiter: str, quoting: str, numeric: bool) -> str:
    """A CSV cell: quoted when it must be (delimiter, quote, line break) or when the style says."""
    must = any(c in text for c in (delimiter, '"', "\n", "\r")) or text != text.strip(" ")
    if must or quoting == "all" or (quoting == "text" and not numeric):
        return '"' + text.replace('"', '""') + '"'
    return text


customer_text = st.text(alphabet=st.sampled_from(list("AB7 客户北京,;|\"'-.0\u3000\u00a0") + ["\n"]), min_size=0, max_size=6)
# what every reader here must make of a cell: trimmed of the spaces DuckDB's trim() removes (these
# three are the ones generated), empty -> no value, and an integral float id '12.0' -> '12'
SPACES = " \u3000\u00a0"


def expected_id(text: str) -> str:
    text = text.strip(SPACES)
    return text.split(".")[0] if re.fullmatch(r"\d+\.0+", text) else text


@st.composite
def transaction_files(draw):
    spec = {
        "delimiter": draw(st.sampled_from([",", ";", "\t", "|"])),
        "quoting": draw(st.sampled_from(["minimal", "text", "all"])),
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
        "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"])),
        "lang": draw(st.sampled_from(["en", "zh"])),
        "date_style": draw(st.sampled_from(list(DATE_STYLES))),
        "number_style": draw(st.sampled_from(["plain", "thousands", "currency"])),
        "title": draw(st.booleans()),
        "final_newline": draw(st.booleans()),
    }
    kinds = draw(st.lists(st.sampled_from(["good"] * 6 + ["no_customer", "bad_date", "no_amount", "empty", "blank"]),
                          min_size=0, max_size=30))
    kinds = ["good"] + kinds  # at least one usable row, or the file is refused (tested elsewhere)
    rows = []
    for i, kind in enumerate(kinds):
        if draw(st.integers(0, 9)) == 0:  # an id written as a float, as spreadsheets export them
            customer = f"{draw(st.integers(1, 99))}.{'0' * draw(st.integers(1, 2))}" + draw(st.sampled_from(["", " "]))
        else:
            customer = f"C{draw(st.integers(0, 9))}" + draw(customer_text)
        day = BASE + dt.timedelta(days=draw(st.integers(0, 700)))
        cents = draw(st.integers(-50_000, 5_000_000))
        rows.append((kind, customer, day, cents, draw(st.sampled_from(["华东", "South", "", "华东\u3000", " South"]))))
    return spec, rows


def render(spec: dict, rows: list) -> tuple[bytes, int, int, int]:
    """The file's bytes, and what a correct ingest must report: good rows, bad rows, revenue in cents."""
    d, q = spec["delimiter"], spec["quoting"]
    lines = []
    if spec["title"]:
        lines.append("销售明细表 2024" if spec["lang"] == "zh" else "Sales export 2024")
    lines.append(d.join(cell(h, d, q, False) for h in HEADERS[spec["lang"]]))
    good = bad = revenue = 0
    for kind, customer, day, cents, region in rows:
        if kind == "empty":
            lines.append("")
            continue
        if kind == "blank":
            lines.append(d * 3)
            continue
        customer_cell = "" if kind == "no_customer" else customer
        date_cell = "not a date" if kind == "bad_date" else day.strftime(DATE_STYLES[spec["date_style"]])
        amount_cell = "" if kind == "no_amount" else money_text(cents, spec["number_style"])
        lines.append(d.join([cell(customer_cell, d, q, False), cell(date_cell, d, q, False),
                             cell(amount_cell, d, q, True), cell(region, d, q, False)]))
        if kind == "good" and customer.strip():
            good += 1
            revenue += cents
        else:
            bad += 1  # a customer id that is only spaces is missing too
    text = spec["newline"].join(lines) + (spec["newline"] if spec["final_newline"] else "")
    return text.encode(spec["encoding"]), good, bad, revenue


def expected_pairs(rows: list) -> set[tuple]:
    """The distinct (customer, region) of the good rows, as they must be stored."""
    return {(expected_id(customer), region.strip(SPACES) or None)
            for kind, customer, _, _, region in rows if kind == "good"}


@pytest.fixture
def small_windows(monkeypatch):
    """Shrink every window so a file of a few lines crosses each of them."""
    monkeypatch.setattr(load, "FAST_SAMPLE_ROWS", 4)
    monkeypatch.setattr(read, "SAMPLE_BYTES", 512)
    monkeypatch.setattr(count, "CHUNK_BYTES", 97)
    monkeypatch.setattr(encoding, "CHUNK_BYTES", 89)


@pytest.mark.slow  # (make test runs it; make check leaves it out)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=transaction_files())
def test_every_row_is_loaded_or_rejected(store, tmp_path, small_windows, case):
    spec, rows = case
    content, good, bad, revenue_cents = render(spec, rows)
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    report = ingest_file(store, path, dataset="p", replace=True)
    assert (report.rows, report.rejected) == (good, bad), spec
    assert report.data_rows == good + bad
    assert report.rows + report.rejected == report.file_records - report.header_records - report.blank_rows
    assert round(report.revenue * 100) == revenue_cents
    table = store.find("p").table_name
    assert sorted(store.cursor().execute(f'SELECT DISTINCT customer_id, region FROM "{table}"').fetchall(),
                  key=str) == sorted(expected_pairs(rows), key=str), spec
    assert not list((store.path.parent / "tmp").glob("transcode_*"))


def big_file(path, rows: int, encoding_name: str = "utf-8", newline: str = "\n", quoted: bool = True):
    """A generated export of ``rows`` data rows; returns the expected revenue in cents."""
    rng = random.Random(rows)
    total = 0
    with open(path, "w", encoding=encoding_name, newline="") as out:
        out.write(f'"订单编号","客户编号",订单日期,金额,"区域"{newline}')
        for i in range(rows):
            cents = rng.randint(-1000, 500_000)
            total += cents
            customer = f"C{i % 997:04d}"
            q = '"' if quoted else ""
            out.write(f"{q}SO{i:09d}{q},{q}{customer}{q},2024-{1 + i % 12:02d}-{1 + i % 28:02d},"
                      f"{money_text(cents, 'plain')},{q}华南{q}{newline}")
    return total


@pytest.mark.slow
@pytest.mark.parametrize("rows,encoding_name,newline", [
    (200_001, "utf-8", "\r\n"),      # one row past the fast-pass sample, quoted text, CRLF
    (200_001, "gb18030", "\n"),      # the same through the transcoded copy
    (1_000_001, "utf-8", "\n"),      # past a million rows and many 16 MB read chunks
])
def test_large_quoted_files_load_every_row(store, tmp_path, rows, encoding_name, newline):
    path = tmp_path / "big.csv"
    revenue_cents = big_file(path, rows, encoding_name, newline)
    report = ingest_file(store, path, dataset="big")
    assert (report.rows, report.rejected, report.data_rows) == (rows, 0, rows)
    assert report.file_records == rows + 1
    assert round(report.revenue * 100) == revenue_cents
