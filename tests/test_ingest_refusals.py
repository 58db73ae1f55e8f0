"""Files that cannot be used are refused with a plain sentence, exit code ≠ 0, and the store
is left exactly as it was."""
from __future__ import annotations

import io

import pytest

from kam_analytics.errors import IngestError
from kam_analytics.ingest import ingest_file

GOOD = "客户编号,订单日期,金额\nA,2020-01-01,10\nB,2020-01-02,20\n"


def _truncated_xlsx() -> bytes:
    import openpyxl

    buffer = io.BytesIO()
    workbook = openpyxl.Workbook()
    for i in range(200):
        workbook.active.append([f"C{i}", f"2020-01-{i % 28 + 1:02d}", i])
    workbook.save(buffer)
    data = buffer.getvalue()
    return data[: len(data) // 2]


REFUSALS = [
    # id, file name, content, i18n key, a phrase the English sentence must contain
    ("empty", "empty.csv", b"", "file_empty", "is empty"),
    ("blank-lines", "blank.csv", b"\n\n  \n", "file_empty", "is empty"),
    ("header-only", "header.csv", "客户编号,订单日期,金额\n".encode(), "file_header_only", "no data rows"),
    ("binary", "photo.csv", bytes(range(256)) * 40, "file_binary", "binary"),
    ("html", "export.csv", b"<!DOCTYPE html><html><head><title>Login</title></head><body>Please sign in</body></html>",
     "file_html", "web page"),
    ("truncated-xlsx", "book.xlsx", _truncated_xlsx(), "file_bad_xlsx", "damaged"),
    ("damaged-xls", "book.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "file_bad_xlsx", "damaged"),
    ("bad-parquet", "tx.parquet", b"PAR1garbage", "file_bad_parquet", "Parquet"),
    ("no-customer-column", "nocust.csv", "订单日期,金额\n2020-01-01,10\n".encode(), "columns_missing", "customer_id"),
    ("no-amount-column", "noamount.csv", "客户,日期,备注\nA,2020-01-01,x\n".encode(), "columns_missing", "amount"),
    ("no-date-column", "nodate.csv", "客户,金额\nA,10\n".encode(), "columns_missing", "order_date"),
    ("no-valid-dates", "baddates.csv", "客户,日期,金额\nA,soon,10\nB,later,5\n".encode(), "dates_unreadable", "soon"),
    ("no-valid-amounts", "badamounts.csv", "客户,日期,金额\nA,2020-01-01,n/a\nB,2020-01-02,?\n".encode(),
     "no_usable_rows", "amount not readable".split()[0]),
    ("ambiguous-dates", "ambig.csv", "客户,日期,金额\nA,01/02/2020,1\nB,03/04/2020,2\n".encode(), "date_ambiguous",
     "--date-format"),
    ("one-column", "single.csv", "just some words\nand more words here\nthird line of text\n".encode(),
     "file_no_delimiter", "could not be split"),
]


def _snapshot(store):
    return [(d.name, d.table_name, d.rows, d.version) for d in store.datasets()], \
        store.cursor().execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()


@pytest.mark.parametrize("case_id,name,content,key,phrase", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_with_sentence_and_store_untouched(store, tmp_path, case_id, name, content, key, phrase):
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    ingest_file(store, good, dataset="existing")
    before = _snapshot(store)
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        ingest_file(store, path, dataset="existing", replace=True)
    assert caught.value.key == key
    assert phrase in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert _snapshot(store) == before
    # the Chinese sentence exists and differs from the English one
    assert caught.value.message("zh") != str(caught.value)


def test_missing_file(store, tmp_path):
    with pytest.raises(IngestError) as caught:
        ingest_file(store, tmp_path / "nope.csv")
    assert caught.value.key == "file_missing"


@pytest.mark.parametrize("case_id,name,content,key,phrase", REFUSALS[:6] + REFUSALS[-2:],
                         ids=[r[0] for r in REFUSALS[:6] + REFUSALS[-2:]])
def test_cli_refusal_exit_code_and_stderr(cli, tmp_path, case_id, name, content, key, phrase):
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    assert cli("ingest", good, "--dataset", "existing").returncode == 0
    path = tmp_path / name
    path.write_bytes(content)
    result = cli("ingest", path, "--dataset", "existing", "--replace")
    assert result.returncode != 0
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 2
    listed = cli("datasets", "--json")
    import json

    rows = json.loads(listed.stdout.splitlines()[-1])["datasets"]
    assert [(d["name"], d["rows"]) for d in rows] == [("existing", 2)]


def test_cli_map_errors(cli, tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = cli("ingest", path, "--map", "amount=Umsatz")
    assert result.returncode == 2 and "no column 'Umsatz'" in result.stderr
    result = cli("ingest", path, "--map", "revenue=金额")
    assert result.returncode == 2 and "'revenue' is not a field" in result.stderr
    result = cli("ingest", path, "--map", "amount")
    assert result.returncode == 2 and "FIELD=COLUMN" in result.stderr
