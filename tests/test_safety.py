"""Safety fixes, each reproducing an attack as it was reported: a broken secrets file must not
turn sign-in off; workbooks we write hold no formula or hyperlink made from data; a scoped
editor cannot widen their own scope with a file; receivables follow the sales lines' owners.

The store: A01–A20 owned by Alice, B01–B20 by Bob (one order each in 2024, 100 × the number)."""
from __future__ import annotations

import io
import re
import zipfile

import pandas as pd
import pytest

from conftest import run_cli
from kam_analytics import service
from kam_analytics.access import Identity
from kam_analytics.errors import IngestError
from kam_analytics.export import excel_bytes
from kam_analytics.i18n import catalog
from ui.markdown import escape_markdown

EDITOR = Identity("ed@example.com", "editor")
ADMIN = Identity("ada@example.com", "admin")
ALICE_EDITOR = Identity("alice@example.com", "editor", scope=("Alice",))
ALICE = Identity("alice@example.com", "viewer", scope=("Alice",))


@pytest.fixture
def teams(store, tmp_path):
    lines = ["customer_id,customer_name,order_date,amount,owner"]
    for i in range(1, 21):
        lines.append(f"A{i:02d},Alpha {i:02d},2024-03-{i:02d},{100 * i},Alice")
        lines.append(f"B{i:02d},Beta {i:02d},2024-04-{i:02d},{100 * i},Bob")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    service.load_file(store, EDITOR, path, dataset="orders")
    return store.dataset("orders")


def _ids(frame) -> set[str]:
    return set(frame["customer_id"].astype(str))


# -- 2. workbooks hold text, never formulas or links -------------------------------------------
HOSTILE_NAMES = ['{=HYPERLINK("http://127.0.0.1/x","click me")}', "{=1+1}", "=1+1", "+1", "-1", "@SUM(A1)",
                 "http://127.0.0.1/a", "https://127.0.0.1/b", "mailto:a@example.com", "file:///etc/passwd",
                 "external:\\\\host\\share\\x.xlsx", "ftp://127.0.0.1/c", "12.50", "上海甲公司"]


def test_a_workbook_holds_every_name_as_text():
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(HOSTILE_NAMES))], "name": HOSTILE_NAMES,
                          "revenue": [float(i) for i in range(len(HOSTILE_NAMES))]})
    book = zipfile.ZipFile(io.BytesIO(excel_bytes(frame, "churn")))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f" not in sheet and "<hyperlink" not in sheet
    assert not [n for n in book.namelist() if "rels" in n and "sheet" in n]  # no relationship: no link target
    back = pd.read_excel(io.BytesIO(excel_bytes(frame, "churn")), dtype={"customer_id": str, "name": str})
    assert back["name"].tolist() == HOSTILE_NAMES  # exactly, with nothing added or cut
    assert back["revenue"].tolist() == frame["revenue"].tolist()  # numbers stay numbers
    # the shared strings hold the names as written (XML-escaped)
    strings = book.read("xl/sharedStrings.xml").decode()
    assert "{=1+1}" in strings and "file:///etc/passwd" in strings


# -- 3. a scope that data cannot widen -----------------------------------------------------------
def test_a_scoped_editor_cannot_take_accounts_with_an_attributes_file(store, teams, tmp_path):
    file = tmp_path / "owners.csv"
    file.write_text("customer_id,owner\n" + "".join(f"B{i:02d},Alice\n" for i in range(1, 11)), encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        service.attach_attributes(store, ALICE_EDITOR, teams, file)
    message = refused.value.message("en")
    assert "owners.csv" in message and "B01, B02" in message and "B10" in message
    assert refused.value.key == "attributes_scope_outside"
    assert store.dataset("orders").attributes_table is None  # nothing was attached
    mine = service.Slice.of(store.dataset("orders"), scope=ALICE.scope)
    assert _ids(service.customer_summary(store, mine)) == {f"A{i:02d}" for i in range(1, 21)}
    # refused in 中文 too, with the same accounts
    assert "B01" in refused.value.message("zh") and "owners.csv" in refused.value.message("zh")


def test_a_scoped_editor_cannot_give_an_account_to_another_owner(store, teams, tmp_path):
    file = tmp_path / "owners.csv"
    file.write_text("customer_id,owner,credit_rating\nA01,Alice,AA\nA02,Bob,A\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        service.attach_attributes(store, ALICE_EDITOR, teams, file)
    assert refused.value.key == "attributes_scope_owner" and "Bob" in refused.value.message("en")
    assert store.dataset("orders").attributes_table is None


def test_a_scoped_editor_cannot_replace_other_accounts_attributes(store, teams, tmp_path):
    everyone = tmp_path / "ratings.csv"
    everyone.write_text("customer_id,credit_rating\nA01,AA\nB01,B\nB02,C\n", encoding="utf-8")
    service.attach_attributes(store, EDITOR, teams, everyone)
    own = tmp_path / "mine.csv"
    own.write_text("customer_id,credit_rating,owner\nA01,AAA,Alice\nA02,A,Alice\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        service.attach_attributes(store, ALICE_EDITOR, store.dataset("orders"), own)
    assert refused.value.key == "attributes_scope_replace" and "B01, B02" in refused.value.message("en")
    kept = store.attributes(store.dataset("orders")).to_pandas()
    assert sorted(kept["customer_id"]) == ["A01", "B01", "B02"]  # the file the editor attached, untouched
    # within their own accounts, with owners they hold, a scoped editor may attach (nothing else held)
    store.drop("orders")


def test_a_scoped_editor_may_attach_attributes_of_their_own_accounts(store, teams, tmp_path):
    own = tmp_path / "mine.csv"
    own.write_text("customer_id,credit_rating,owner\nA01,AAA,Alice\nA02,A,\n", encoding="utf-8")
    report = service.attach_attributes(store, ALICE_EDITOR, teams, own)
    assert (report.customers, report.matched) == (2, 2)
    trail = service.audit_trail(store, ADMIN)
    assert trail.iloc[0]["action"] == "attributes"
    assert trail.iloc[0]["detail"] == {"file": "mine.csv", "rows": 2, "customers": 2}  # no longer empty


def test_an_unscoped_editor_may_change_owners(store, teams, tmp_path):
    file = tmp_path / "owners.csv"
    file.write_text("customer_id,owner\n" + "".join(f"B{i:02d},Alice\n" for i in range(1, 11)), encoding="utf-8")
    service.attach_attributes(store, EDITOR, teams, file)
    mine = service.Slice.of(store.dataset("orders"), scope=ALICE.scope)
    assert _ids(service.customer_summary(store, mine)) == {f"B{i:02d}" for i in range(1, 11)}


RECEIVABLES = ("客户编号,发票号,开票日期,到期日,应收金额,已收金额,收款日期{owner}\n"
               "A01,INV-1,2024-03-01,2024-03-31,5001,,{alice}\n"
               + "".join(f"B{i:02d},INV-B{i},2024-04-01,2024-04-30,{1000 + i},,{{alice}}\n" for i in range(1, 20)))


@pytest.mark.parametrize("owner_column", [True, False])
def test_receivables_take_each_customer_owner_from_the_sales_lines(store, teams, tmp_path, owner_column):
    # the file's own owner column names Alice for Bob's invoices, or there is no owner column
    text = RECEIVABLES.replace("{owner}", ",客户经理" if owner_column else "")
    text = text.replace(",{alice}", ",Alice" if owner_column else "")
    file = tmp_path / "ar.csv"
    file.write_text(text, encoding="utf-8")
    service.attach_receivables(store, EDITOR, teams, file)
    dataset = store.dataset("orders")
    everyone = service.receivables(store, service.Slice.of(dataset), "2024-12-31")
    assert len(everyone) == 20
    mine = service.receivables(store, service.Slice.of(dataset, scope=ALICE.scope), "2024-12-31")
    assert mine["customer_id"].tolist() == ["A01"]
    assert float(mine["outstanding"].iloc[0]) == pytest.approx(5001.0)


# -- 1. a broken secrets file keeps everyone out ----------------------------------------------
GOOD_SECRETS = """
[auth]
redirect_uri = "http://127.0.0.1:8501/oauth2callback"
cookie_secret = "3f5e0c1d9a7b6e4f2a1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e"
client_id = "kam-analytics"
client_secret = "kam-analytics-secret"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"

[kam.roles]
viewers = ["@example.com"]
"""
BROKEN = GOOD_SECRETS.replace('viewers = ["@example.com"]', 'viewers = ["@example.com", "new@partner.org]')


@pytest.fixture
def app_with_secrets(tmp_path, monkeypatch, teams):
    """The app (AppTest) on the teams store, reading the secrets file ``secrets.toml`` of
    ``tmp_path`` as ``--secrets.files`` would name it."""
    import streamlit as st
    from streamlit import config as st_config
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KAM_DB", str(teams_path(tmp_path)))
    monkeypatch.setenv("KAM_NO_DEMO", "1")
    monkeypatch.setenv("KAM_NO_PREPARE", "1")
    saved = st_config.get_option("secrets.files")
    secrets = tmp_path / "secrets.toml"
    st_config.set_option("secrets.files", [str(secrets)])
    st.cache_resource.clear()

    def run(lang: str = "en"):
        at = AppTest.from_file("../app.py", default_timeout=60)
        at.query_params["lang"] = lang
        return at.run()
    yield secrets, run
    st_config.set_option("secrets.files", saved)
    st.cache_resource.clear()


def teams_path(tmp_path):
    return tmp_path / "kam.duckdb"  # (the conftest store's file)


def _texts(at) -> str:
    return " ".join(str(e.value) for kind in ("title", "markdown", "error", "warning", "caption", "info")
                    for e in at.get(kind))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_broken_secrets_file_shows_the_configuration_error_to_everyone(app_with_secrets, caplog, lang):
    secrets, run = app_with_secrets
    secrets.write_text(BROKEN, encoding="utf-8")
    at = run(lang)
    assert not at.exception
    assert [e.value for e in at.error] == [catalog(lang)["auth_secrets_broken"]]
    shown = _texts(at)
    assert "orders" not in shown and "Alpha" not in shown and "A01" not in shown  # no data at all
    assert catalog(lang)["overview_title"] not in [t.value for t in at.title]
    assert not at.sidebar.selectbox  # no dataset picker, no page
    assert not at.get("file_uploader")
    # the log names the file and the line; the screen names neither
    assert str(secrets) in caplog.text and re.search(r"line \d+", caplog.text)
    assert str(secrets) not in shown


def test_a_live_edit_that_breaks_the_file_closes_the_app(app_with_secrets):
    secrets, run = app_with_secrets
    secrets.write_text(GOOD_SECRETS, encoding="utf-8")
    before = run()
    assert [b.label for b in before.button] == [catalog("en")["auth_sign_in"]]  # sign-in, nothing else
    secrets.write_text(BROKEN, encoding="utf-8")
    after = run()
    assert [e.value for e in after.error] == [catalog("en")["auth_secrets_broken"]]
    assert not after.button
    # an [auth] table that parses but lacks a setting is refused too (as before)
    secrets.write_text(GOOD_SECRETS.replace('client_id = "kam-analytics"\n', ""), encoding="utf-8")
    assert escape_markdown("client_id") in run().error[0].value  # (the setting's name, shown as text)
    # and with no secrets file at all the app is the local user's, as documented
    secrets.unlink()
    local = run()
    assert [t.value for t in local.title][:1] == [catalog("en")["overview_title"]]


# -- 8. --db at another program's SQLite database ------------------------------------------------
@pytest.mark.parametrize("schema", ["CREATE TABLE notes (id INTEGER, text TEXT)",
                                    "CREATE TABLE datasets (id INTEGER PRIMARY KEY, title TEXT)"])
def test_another_programs_sqlite_database_is_refused_before_anything_is_written(tmp_path, schema):
    import hashlib
    import sqlite3

    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute(schema)
    db.execute("INSERT INTO %s VALUES (1, 'kept')" % schema.split()[2])
    db.commit()
    db.close()
    before = hashlib.sha256(other.read_bytes()).hexdigest()
    done = run_cli("datasets", db=other)
    assert done.returncode == 2
    assert "is not a KAM Analytics store" in done.stderr and "other.db" in done.stderr
    assert "no datasets" not in done.stdout.lower()
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before  # not a byte written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # no other-datasets/ folder, no journal


def test_a_store_reopened_is_still_a_store(tmp_path):
    # its own catalog, in WAL mode, passes the read-only look: opened again, with its data
    from kam_analytics.ingest import ingest_file
    from kam_analytics.store import Store

    path = tmp_path / "one.csv"
    path.write_text("customer_id,order_date,amount\nA1,2024-01-05,100\nB2,2024-01-06,50\n", encoding="utf-8")
    with Store.open(tmp_path / "kam.db") as store:
        ingest_file(store, path, dataset="d")
    with Store.open(tmp_path / "kam.db") as again:
        dataset = again.dataset("d")
        assert (dataset.rows, dataset.customers, dataset.revenue) == (2, 2, 150.0)


# -- 7. a workbook that expands without bound ------------------------------------------------------
def _bomb(path, megabytes: int):
    """An .xlsx of a few hundred KB whose sheet holds one inline string of ``megabytes`` MB."""
    import zipfile

    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>customer_id</t></is></c></row>'
                        b'<row r="2"><c r="A2" t="inlineStr"><is><t>')
            chunk = b"A" * (1024 * 1024)
            for _ in range(megabytes):
                sheet.write(chunk)
            sheet.write(b"</t></is></c></row></sheetData></worksheet>")
    return path


def test_a_workbook_bomb_is_refused_before_it_is_read(tmp_path):
    import time

    book = _bomb(tmp_path / "bomb.xlsx", 60)
    assert book.stat().st_size < 200_000  # 60 MB of sheet in under 200 KB
    db = tmp_path / "kam.db"
    started = time.monotonic()
    done = run_cli("ingest", book, "--dataset", "bomb", db=db)
    assert done.returncode == 2
    assert "bomb.xlsx" in done.stderr and "xl/worksheets/sheet1.xml" in done.stderr and "100 times" in done.stderr
    assert time.monotonic() - started < 20  # refused from the zip's directory, not after reading 60 MB
    listed = run_cli("datasets", "--json", db=db)
    assert '"datasets": []' in listed.stdout
    # the page lists a workbook's sheets first: refused there too, with the same sentence
    from kam_analytics.ingest import list_sheets

    with pytest.raises(IngestError) as refused:
        list_sheets(book)
    assert refused.value.key == "file_workbook_bomb" and "sheet1.xml" in refused.value.message("zh")


def test_an_ordinary_workbook_is_not_mistaken_for_a_bomb(store, tmp_path):
    # 20,000 rows of one repeated order line pack about 17 times: read as usual
    from kam_analytics.ingest import ingest_file

    book = tmp_path / "orders.xlsx"
    pd.DataFrame({"customer_id": ["C1"] * 20_000, "order_date": ["2024-01-05"] * 20_000,
                  "amount": [10.0] * 20_000}).to_excel(book, index=False)
    report = ingest_file(store, book, dataset="orders")
    assert (report.rows, report.customers) == (20_000, 1)
    assert store.dataset("orders").revenue == pytest.approx(200_000.0)


# -- 10. a horizon of no days ---------------------------------------------------------------------
@pytest.mark.parametrize("command, value", [("churn", "-5"), ("backtest", "-30"), ("churn", "0"), ("backtest", "soon")])
def test_a_horizon_that_is_not_a_number_of_days_ahead_is_refused(tmp_path, command, value):
    path = tmp_path / "one.csv"
    path.write_text("customer_id,order_date,amount\nA1,2024-01-05,100\nA1,2024-03-05,100\n", encoding="utf-8")
    db = tmp_path / "kam.db"
    assert run_cli("ingest", path, "--dataset", "d", db=db).returncode == 0
    extra = ["--out", tmp_path / "out.csv"] if command == "churn" else ["--json"]
    done = run_cli(command, "--dataset", "d", "--as-of", "2024-03-31", "--horizon", value, *extra, db=db)
    assert done.returncode == 2
    assert f"--horizon takes a whole number of days from 1 to 3650, not {value}." in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.csv").exists()


# -- 10. an unclosed quote in a small file -----------------------------------------------------------
@pytest.mark.parametrize("text, line", [
    ('customer_id,order_date,amount\nC1,2024-01-01,"100\nC2,2024-01-02,200\n', 2),
    ('customer_id,customer_name,order_date,amount\nC1,"He said ""hi"", ok",2024-01-01,100\n'
     'C2,"Beta,2024-01-02,200\nC3,Gamma,2024-01-03,300\n', 3),  # the doubled quotes of line 2 are closed
])
def test_an_unclosed_quote_is_named_with_its_line(tmp_path, text, line):
    path = tmp_path / "quote.csv"
    path.write_bytes(text.encode("gb18030"))  # (read through the transcoded copy: the same lines)
    assert path.stat().st_size < 200  # a small file: no line in it can pass the reader's 10 MB
    done = run_cli("ingest", path, "--dataset", "q", db=tmp_path / "kam.db")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"quote.csv: a double quote opened on line {line} is never closed, so everything "
                                   "after it would be read as one cell and nothing was loaded. Close the quote (or "
                                   "remove it) on that line and try again.")


def test_the_preview_of_a_one_line_file_says_what_the_load_says(tmp_path):
    from kam_analytics.ingest import preview_file

    one_line = tmp_path / "one line.csv"
    one_line.write_text("customer_id,order_date,amount" + ",x" * 6_000_000, encoding="utf-8")  # 12 MB, no line end
    with pytest.raises(IngestError) as previewed:
        preview_file(one_line)
    assert previewed.value.key == "file_line_too_long"
    assert previewed.value.params["file"] == "one line.csv" and previewed.value.params["line"] == 1
    loaded = run_cli("ingest", one_line, "--dataset", "x", db=tmp_path / "kam.db")
    assert loaded.returncode == 2 and loaded.stderr.strip() == previewed.value.message("en")
    # a first row longer than the preview's 2 MB (but not than a load's 10 MB) is shown, whole
    long_row = tmp_path / "long row.csv"
    long_row.write_text("customer_id,order_date,amount,note\nC1,2024-01-01,100," + "x" * 3_000_000 + "\nC2,2024-01-02,200,y\n",
                        encoding="utf-8")
    preview = preview_file(long_row)
    assert preview.headers == ["customer_id", "order_date", "amount", "note"]
    assert [len(str(c)) for c in preview.rows[0]] == [2, 10, 3, 3_000_000]


# -- 10. Parquet: reasons in words, dates outside the range named as such -----------------------------
def test_parquet_refusals_speak_words_not_codes(tmp_path, store):
    import duckdb

    from kam_analytics.ingest import ingest_file

    bad = tmp_path / "bad.parquet"
    duckdb.connect().execute(f"""COPY (SELECT 'C' || i AS customer_id, DATE '2024-01-01' AS order_date,
        'abc' AS amount FROM range(30) t(i)) TO '{bad}' (FORMAT parquet)""")
    with pytest.raises(IngestError) as refused:
        ingest_file(store, bad, dataset="bad")
    assert refused.value.message("en") == ("No row of bad.parquet could be used (amount not readable: 30). "
                                           "Check the customer, date and amount columns are the right ones.")
    assert "（金额无法识别: 30）" in refused.value.message("zh") and "amount_unreadable" not in refused.value.message("zh")
    edge = tmp_path / "edge.parquet"
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES ('C1', DATE '0001-01-01', 10.0),
        ('C2', DATE '9999-12-31', 20.0), ('C3', DATE '2024-01-01', 30.0), ('C4', DATE '2024-01-02', NULL))
        t(customer_id, order_date, amount)) TO '{edge}' (FORMAT parquet)""")
    report = ingest_file(store, edge, dataset="edge")
    assert (report.rows, report.rejected) == (1, 3)
    assert report.rejected_reasons == {"date_out_of_range": 2, "amount_missing": 1}
