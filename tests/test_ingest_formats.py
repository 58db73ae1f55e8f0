"""Ingest of small files written here: each encoding, delimiter, date style and number style.

Expected values are written out by hand from the file contents.
"""
from __future__ import annotations

import datetime as dt

import pytest

from kam_analytics.ingest import ingest_file

D = dt.datetime


def _rows(store, name):
    return store.cursor().execute(
        f'SELECT customer_id, order_date, CAST(amount AS DOUBLE) FROM "{store.dataset(name).table_name}" '
        "ORDER BY order_date, customer_id").fetchall()


ZH_HEADER = "客户编号,客户名称,订单日期,销售额"
ZH_ROWS = ["007,上海华信有限公司,2019/1/3,\"1,234.50\"", "12923.0,北京恒达科技,2019/1/13,￥88",
           " 42 ,深圳金鼎贸易,2019/12/31,(10.00)"]
ZH_EXPECTED = [("007", D(2019, 1, 3), 1234.5), ("12923", D(2019, 1, 13), 88.0), ("42", D(2019, 12, 31), -10.0)]
BIG5_ROWS = ["007,台北華信股份有限公司,2019/1/3,\"1,234.50\"", "12923.0,高雄恆達科技,2019/1/13,88",
             " 42 ,台中金鼎貿易,2019/12/31,(10.00)"]
EN_HEADER = "Customer ID,Customer Name,Order Date,Sales"
LATIN_ROWS = ["007,Müller GmbH,2019-01-03,1234.50", "12923.0,Café Crème SARL,2019-01-13,88",
              "42,Señor Ltd,2019-12-31,-10"]


def _text(header, rows, sep=","):
    return "\n".join([header.replace(",", sep)] + [r.replace(",", sep) if sep != "," else r for r in rows]) + "\n"


ENCODING_CASES = [
    # id, bytes, expected encoding label
    ("utf8", _text(ZH_HEADER, ZH_ROWS).encode("utf-8"), "UTF-8"),
    ("utf8-bom", _text(ZH_HEADER, ZH_ROWS).encode("utf-8-sig"), "UTF-8 (BOM)"),
    ("gb18030", _text(ZH_HEADER, ZH_ROWS).encode("gb18030"), "GB18030"),
    ("gbk", _text(ZH_HEADER, ZH_ROWS).encode("gbk"), "GB18030"),
    ("utf16-bom-tab", _text(ZH_HEADER, [r.replace('"1,234.50"', "1234.50") for r in ZH_ROWS], "\t").encode("utf-16"), "UTF-16"),
    ("big5", _text("客戶編號,客戶名稱,訂單日期,銷售額", BIG5_ROWS).encode("big5"), "Big5"),
    ("cp1252", _text(EN_HEADER, LATIN_ROWS).encode("cp1252"), "cp1252"),
]


@pytest.mark.parametrize("case_id,content,encoding", ENCODING_CASES, ids=[c[0] for c in ENCODING_CASES])
def test_encodings_detected_and_values_parsed(store, tmp_path, case_id, content, encoding):
    path = tmp_path / f"{case_id}.csv"
    path.write_bytes(content)
    report = ingest_file(store, path, dataset=case_id)
    assert report.encoding == encoding
    assert report.rejected == 0
    got = _rows(store, case_id)
    assert [(c, d) for c, d, _ in got] == [(c, d) for c, d, _ in ZH_EXPECTED]
    assert [a for _, _, a in got] == pytest.approx([a for _, _, a in ZH_EXPECTED])
    names = store.cursor().execute(
        f'SELECT customer_name FROM "{store.dataset(case_id).table_name}" ORDER BY order_date').fetchall()
    expected_names = {"big5": ["台北華信股份有限公司", "高雄恆達科技", "台中金鼎貿易"],
                      "cp1252": ["Müller GmbH", "Café Crème SARL", "Señor Ltd"]}.get(
        case_id, ["上海华信有限公司", "北京恒达科技", "深圳金鼎贸易"])
    assert [n for (n,) in names] == expected_names


DELIMITER_CASES = [
    ("comma.csv", "id,date,amount\nA1,2019-01-03,10.5\nA2,2019-01-04,2\n", "comma"),
    ("semicolon.csv", "id;date;amount\nA1;2019-01-03;10,5\nA2;2019-01-04;2\n", "semicolon"),
    ("tab.tsv", "id\tdate\tamount\nA1\t2019-01-03\t10.5\nA2\t2019-01-04\t2\n", "tab"),
    ("pipe.txt", "id|date|amount\nA1|2019-01-03|10.5\nA2|2019-01-04|2\n", "pipe"),
    ("spaces.txt", "id    date        amount\nA1    2019-01-03  10.5\nA2    2019-01-04  2\n", "whitespace_wide"),
]


@pytest.mark.parametrize("name,text,delimiter", DELIMITER_CASES, ids=[c[0] for c in DELIMITER_CASES])
def test_delimiters(store, tmp_path, name, text, delimiter):
    path = tmp_path / name
    path.write_text(text.replace("id", "Customer ID", 1).replace("date", "Order Date", 1).replace("amount", "Sales", 1),
                    encoding="utf-8")
    report = ingest_file(store, path, dataset="d")
    assert report.delimiter == delimiter
    assert _rows(store, "d") == [("A1", D(2019, 1, 3), 10.5), ("A2", D(2019, 1, 4), 2.0)]


DATE_CASES = [
    ("dmy-2digit", ["03/01/19", "25/12/19"], None, [D(2019, 1, 3), D(2019, 12, 25)]),
    ("mdy-4digit", ["01/03/2019", "12/25/2019"], None, [D(2019, 1, 3), D(2019, 12, 25)]),
    ("compact", ["19970101", "19971231"], None, [D(1997, 1, 1), D(1997, 12, 31)]),
    ("dotted-time", ["03.01.2019 10:51", "25.12.2019 08:00"], None, [D(2019, 1, 3, 10, 51), D(2019, 12, 25, 8, 0)]),
    ("iso-t", ["2019-01-03T10:00:00", "2019-12-25"], None, [D(2019, 1, 3, 10), D(2019, 12, 25)]),
    ("ymd-slash", ["2019/1/3", "2019/12/25 14:30"], None, [D(2019, 1, 3), D(2019, 12, 25, 14, 30)]),
    ("chinese", ["2019年1月3日", "2019年12月25日"], None, [D(2019, 1, 3), D(2019, 12, 25)]),
    # Excel serials: 1899-12-30 + n days
    ("excel-serial", ["43468", "43824"], None, [D(1899, 12, 30) + dt.timedelta(days=43468),
                                                D(1899, 12, 30) + dt.timedelta(days=43824)]),
    ("ambiguous-dmy", ["01/02/2019", "03/04/2019"], "dmy", [D(2019, 2, 1), D(2019, 4, 3)]),
    ("ambiguous-mdy", ["01/02/2019", "03/04/2019"], "mdy", [D(2019, 1, 2), D(2019, 3, 4)]),
    ("explicit-format", ["01/02/2019", "03/04/2019"], "%d/%m/%Y", [D(2019, 2, 1), D(2019, 4, 3)]),
]


@pytest.mark.parametrize("case_id,dates,date_format,expected", DATE_CASES, ids=[c[0] for c in DATE_CASES])
def test_date_styles(store, tmp_path, case_id, dates, date_format, expected):
    path = tmp_path / "dates.csv"
    path.write_text("客户,日期,金额\n" + "".join(f"C{i},{d},1\n" for i, d in enumerate(dates)), encoding="utf-8")
    ingest_file(store, path, dataset="d", date_format=date_format)
    assert sorted(d for _, d, _ in _rows(store, "d")) == expected


NUMBER_CASES = [
    # (file text after the header line "Customer;Date;Amount", delimiter, expected amounts in row order)
    ("decimal-comma", "A;2019-01-01;1.234,56\nB;2019-01-02;12,5\nC;2019-01-03;-3,25\n", ";", [1234.56, 12.5, -3.25]),
    ("euro-symbol", "A;2019-01-01;€ 1.234,56\nB;2019-01-02;7,00 €\nC;2019-01-03;0,5\n", ";", [1234.56, 7.0, 0.5]),
    ("space-thousands", "A;2019-01-01;1 234,56\nB;2019-01-02;12,5\nC;2019-01-03;3\n", ";", [1234.56, 12.5, 3.0]),
    ("currency", 'A,2019-01-01,"$1,234.56"\nB,2019-01-02,"1,234元"\nC,2019-01-03,￥88.8\n', ",", [1234.56, 1234.0, 88.8]),
    ("negatives", "A,2019-01-01,(500.00)\nB,2019-01-02,500-\nC,2019-01-03,-7.5\n", ",", [-500.0, -500.0, -7.5]),
    ("gbp-rmb", "A,2019-01-01,£12.30\nB,2019-01-02,RMB 15\nC,2019-01-03,CNY15.5\n", ",", [12.3, 15.0, 15.5]),
]


@pytest.mark.parametrize("case_id,body,sep,expected", NUMBER_CASES, ids=[c[0] for c in NUMBER_CASES])
def test_number_styles(store, tmp_path, case_id, body, sep, expected):
    path = tmp_path / "numbers.csv"
    path.write_text(f"Customer{sep}Date{sep}Amount\n" + body, encoding="utf-8")
    ingest_file(store, path, dataset="d")
    assert [a for _, _, a in _rows(store, "d")] == pytest.approx(expected)


def test_amount_from_quantity_and_price_keeps_returns(store, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
                    "1,3,2011-01-01 10:00,1.25,12923.0\nC2,-2,2011-01-02 11:00,1.25,12923.0\n"
                    "3,4,2011-01-03 09:00,0.85,00456\n", encoding="utf-8")
    report = ingest_file(store, path, dataset="d")
    assert report.amount_source == "quantity_x_unit_price"
    assert _rows(store, "d") == [("12923", D(2011, 1, 1, 10), 3.75), ("12923", D(2011, 1, 2, 11), -2.5),
                                 ("00456", D(2011, 1, 3, 9), 3.4)]
    assert report.revenue == pytest.approx(3.75 - 2.5 + 3.4)
    assert report.customers == 2


def test_percentages_profit_from_cost_and_discount_amounts(store, tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("客户编号,订单日期,金额,成本,折扣\nK1,2020-05-01,100,60,15%\nK2,2020-05-02,200,250,5%\n", encoding="utf-8")
    ingest_file(store, path, dataset="pct")
    got = store.cursor().execute(
        f'SELECT customer_id, CAST(profit AS DOUBLE), discount FROM "{store.dataset("pct").table_name}" ORDER BY 1').fetchall()
    assert got == [("K1", 40.0, pytest.approx(0.15)), ("K2", -50.0, pytest.approx(0.05))]
    # discount given as an amount: rate = discount / (amount + discount)
    path2 = tmp_path / "disc_amount.csv"
    path2.write_text("客户编号,订单日期,金额,折扣\nK1,2020-05-01,80,20\nK2,2020-05-02,300,0\n", encoding="utf-8")
    report = ingest_file(store, path2, dataset="amt")
    assert report.discount_kind == "amount"
    got = store.cursor().execute(
        f'SELECT discount FROM "{store.dataset("amt").table_name}" ORDER BY customer_id').fetchall()
    assert [g for (g,) in got] == pytest.approx([0.2, 0.0])


def test_bad_rows_are_rejected_with_row_and_reason(store, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("客户编号,订单日期,金额\nA,2020-01-01,10\n,2020-01-02,5\nB,someday,7\nC,2020-01-04,\n"
                    "D,2020-01-05,abc\nE,,3\nF,2020-01-07,4\n", encoding="utf-8")
    report = ingest_file(store, path, dataset="m")
    assert report.rows == 2 and report.rejected == 5
    assert report.rejected_reasons == {"customer_missing": 1, "date_unreadable": 1, "amount_missing": 1,
                                       "amount_unreadable": 1, "date_missing": 1}
    assert [(e["row"], e["reason"]) for e in report.rejected_examples] == [
        (3, "customer_missing"), (4, "date_unreadable"), (5, "amount_missing"), (6, "amount_unreadable"),
        (7, "date_missing")]
    full = store.rejected_rows(store.dataset("m"))
    assert list(full["row"]) == [3, 4, 5, 6, 7]
    assert [None if v is None or v != v else v for v in full["订单日期"]] == [
        "2020-01-02", "someday", "2020-01-04", "2020-01-05", None]


def test_title_rows_above_header_and_blank_rows_are_skipped(store, tmp_path):
    path = tmp_path / "titled.csv"
    path.write_text("2020年销售明细表,,\n导出时间 2021-01-05,,\n客户,日期,金额\nA,2020-01-01,10\n,,\nB,2020-01-02,20\n",
                    encoding="utf-8")
    report = ingest_file(store, path, dataset="t")
    assert report.rows == 2 and report.rejected == 0
    assert _rows(store, "t") == [("A", D(2020, 1, 1), 10.0), ("B", D(2020, 1, 2), 20.0)]


def test_xlsx_first_non_empty_sheet_and_chosen_sheet(store, tmp_path):
    import openpyxl

    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "封面"
    data = workbook.create_sheet("明细")
    data.append(["客户编号", "订单日期", "销售额", "客户经理"])
    data.append([12923.0, dt.datetime(2021, 3, 4), 1500.5, "王芳"])
    data.append(["00077", dt.datetime(2021, 3, 5, 9, 30), 20, "李娜"])
    other = workbook.create_sheet("2022")
    other.append(["客户编号", "订单日期", "销售额"])
    other.append(["X", "2022/2/1", 5])
    workbook.save(path)
    report = ingest_file(store, path, dataset="xl")
    assert report.sheet == "明细" and report.file_format == "xlsx"
    assert _rows(store, "xl") == [("12923", D(2021, 3, 4), 1500.5), ("00077", D(2021, 3, 5, 9, 30), 20.0)]
    assert report.mapping["owner"] == "客户经理"
    report = ingest_file(store, path, dataset="xl2", sheet="2022")
    assert _rows(store, "xl2") == [("X", D(2022, 2, 1), 5.0)]


def test_parquet(store, tmp_path):
    import pandas as pd

    path = tmp_path / "tx.parquet"
    pd.DataFrame({"customer_id": ["A", "B"], "order_date": pd.to_datetime(["2020-01-01", "2020-02-01"]),
                  "amount": [1.5, 2.25]}).to_parquet(path)
    report = ingest_file(store, path, dataset="pq")
    assert report.file_format == "parquet"
    assert _rows(store, "pq") == [("A", D(2020, 1, 1), 1.5), ("B", D(2020, 2, 1), 2.25)]


def test_xlsx_renamed_csv_is_read_as_workbook(store, tmp_path):
    import openpyxl

    path = tmp_path / "export.csv"
    workbook = openpyxl.Workbook()
    workbook.active.append(["Customer", "Date", "Amount"])
    workbook.active.append(["Z", dt.datetime(2020, 1, 1), 3])
    workbook.save(path)
    report = ingest_file(store, path, dataset="renamed")
    assert report.file_format == "xlsx"
    assert _rows(store, "renamed") == [("Z", D(2020, 1, 1), 3.0)]


def test_map_override_and_prefers_order_date_over_ship_date(store, tmp_path):
    path = tmp_path / "ship.csv"
    path.write_text("Ship Date,Order Date,Customer,Net,Gross\n2020-01-10,2020-01-01,A,8,10\n", encoding="utf-8")
    report = ingest_file(store, path, dataset="s", mapping={"amount": "net"})
    assert report.mapping["order_date"] == "Order Date" and report.mapping["amount"] == "Net"
    assert _rows(store, "s") == [("A", D(2020, 1, 1), 8.0)]


def _xls(path, rows, merge=None):
    """A real Excel 97–2003 file (BIFF8, written by xlwt), dates as date cells."""
    import datetime as dt

    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("订单")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if merge and (r, c) == merge[0]:
                sheet.write_merge(merge[0][0], merge[1][0], merge[0][1], merge[1][1], value)
            elif merge and merge[0][0] < r <= merge[1][0] and c == merge[0][1]:
                continue
            elif isinstance(value, dt.date):
                sheet.write(r, c, value, date_style)
            else:
                sheet.write(r, c, value)
    book.save(str(path))
    return path


def _ods(path, frame):
    frame.to_excel(path, engine="odf", index=False, sheet_name="订单")
    return path


def test_every_workbook_format_reads_the_same_rows(store, tmp_path):
    import datetime as dt

    import pandas as pd

    # 甲 10.5 + 乙 4 + 丙 (merged over two lines in the .xls) 1 + 2 = 17.5; 3 customers
    rows = [["客户编号", "订单日期", "金额"], ["甲", dt.date(2024, 1, 2), 10.5], ["乙", dt.date(2024, 2, 3), 4],
            ["丙", dt.date(2024, 3, 1), 1], [None, dt.date(2024, 3, 2), 2]]
    xls = ingest_file(store, _xls(tmp_path / "订单.xls", rows, merge=((3, 0), (4, 0))), dataset="xls")
    assert (xls.file_format, xls.rows, xls.customers, xls.revenue) == ("xls", 4, 3, 17.5)
    assert xls.warnings == ["merged_filled:A4:A5"] and xls.count_method == "sheet rows"
    frame = pd.DataFrame({"客户编号": ["甲", "乙", "丙", "丙"],
                          "订单日期": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-03-01", "2024-03-02"]),
                          "金额": [10.5, 4.0, 1.0, 2.0]})
    ods = ingest_file(store, _ods(tmp_path / "订单.ods", frame), dataset="ods")
    assert (ods.file_format, ods.rows, ods.customers, ods.revenue) == ("ods", 4, 3, 17.5)
    assert ods.date_min.startswith("2024-01-02") and ods.date_max.startswith("2024-03-02")
    xlsx = tmp_path / "订单.xlsx"
    frame.to_excel(xlsx, index=False, sheet_name="订单")
    report = ingest_file(store, xlsx, dataset="xlsx")
    assert (report.file_format, report.rows, report.revenue, report.sheet) == ("xlsx", 4, 17.5, "订单")
    for name in ("xls", "ods", "xlsx"):
        got = store.cursor().execute(
            f'SELECT customer_id, CAST(order_date AS DATE), CAST(amount AS DOUBLE) FROM "{store.dataset(name).table_name}" '
            "ORDER BY 2").fetchall()
        assert got == [("甲", dt.date(2024, 1, 2), 10.5), ("乙", dt.date(2024, 2, 3), 4.0),
                       ("丙", dt.date(2024, 3, 1), 1.0), ("丙", dt.date(2024, 3, 2), 2.0)], name


@pytest.mark.parametrize("value,text", [
    (None, None), ("", None), ("客户A", "客户A"), (3.0, "3"), (2.5, "2.5"), (12923.0, "12923"), (7, "7"),
    (True, "True"), (dt.date(2024, 1, 2), "2024-01-02"), (D(2024, 1, 2, 10, 30, 5, 999), "2024-01-02 10:30:05"),
])
def test_workbook_cells_as_text(value, text):
    import pandas as pd

    from kam_analytics.ingest.read import _cell_text

    assert _cell_text(value) == text
    if isinstance(value, dt.datetime):  # a subclass takes its base type's form
        assert _cell_text(pd.Timestamp(value)) == text


def test_xlsx_columns_past_the_head_rows_read_as_cell_by_cell(store, tmp_path):
    # 250 data rows: past the first 100 rows each column goes to the database as one kind of
    # value and is printed there; the text must be what the cell-by-cell reading makes of it
    import openpyxl

    from kam_analytics.ingest import read

    path = tmp_path / "long.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["客户编号", "订单日期", "销售额", "备注"])
    expected = []
    for i in range(250):
        ident = float(10_000 + i) if i % 2 else f"K{i}"          # ids: integral floats and text, mixed
        when = dt.datetime(2021, 1, 1, 9, 30, 15) + dt.timedelta(days=i)
        amount = [0.1, 1234.57, 20.0, 99.99][i % 4]
        sheet.append([ident, when, amount, None if i % 3 else "备注"])
        expected.append((str(int(ident)) if isinstance(ident, float) else ident, when, amount))
    sheet.append(["K999", dt.datetime(9999, 12, 31), 5.0, None])   # a placeholder date beyond pandas' range
    workbook.save(path)
    assert read.SHEET_HEAD_ROWS < 250
    report = ingest_file(store, path, dataset="long")
    assert (report.rows, report.rejected) == (250, 1)   # 9999-12-31 is outside the years a date may have
    assert _rows(store, "long") == sorted(expected, key=lambda r: (r[1], r[0]))

    # and the raw text of every cell is the cell-by-cell reading's (the reference: _cell_text
    # of calamine's values), fractions such as 2.5e-05 and 0.30000000000000004 included
    import duckdb
    from python_calamine import CalamineWorkbook

    sheet.cell(row=200, column=3, value=2.5e-05)
    sheet.cell(row=201, column=3, value=0.30000000000000004)
    workbook.save(path)
    con = duckdb.connect()
    raw = read.read_raw(con, path, "raw")
    got = con.execute(f'SELECT {", ".join(raw.columns)} FROM raw ORDER BY rowid').fetchall()
    cells = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(raw.sheet).to_python(skip_empty_area=False)
    assert got == [tuple(read._cell_text(v) for v in row) for row in cells]
