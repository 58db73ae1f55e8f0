"""ERP exports as they come: a workbook with a merged title banner, total and subtotal lines
(合计, 小计, Total), a header line repeated, notes, repeated orders, a header row chosen by
hand — each recognised and reported as what it is, in the page's words and the command line's."""
from __future__ import annotations

import json

import openpyxl
import pytest

from kam_analytics.errors import FieldNames, IngestError
from kam_analytics.ingest import ingest_file
from kam_analytics.ingest.load import preview_file
from ui import tables

HEADER = ["客户编号", "客户名称", "订单编号", "订单日期", "金额", "区域", "业务员"]


def banner_workbook(path):
    """A month's export as 用友/金蝶 write it: a merged title A1:G1, the header, lines, a 小计,
    the header again (two pages pasted together), a note, a 合计 and a line with only a date."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2024年3月销售明细表"] + [None] * 6)
    ws.merge_cells("A1:G1")
    ws.append(HEADER)
    ws.append(["C1", "甲公司", "O1", "2024-03-01", 100.5, "华东", "王芳"])      # row 3
    ws.append(["C2", "乙公司", "O2", "2024-03-02", 200, "华南", "李娜"])        # row 4
    ws.append(["小计", None, None, None, 300.5, None, None])                   # row 5: a subtotal
    ws.append(HEADER)                                                           # row 6: the header again
    ws.append(["C1", "甲公司", "O3", "2024-03-05", 50, "华东", "王芳"])         # row 7
    ws.append([None, "备注：含税", None, None, None, None, None])               # row 8: a note
    ws.append(["合 计", None, None, None, 350.5, None, None])                  # row 9: the total
    ws.append([None, None, None, "2024-03-09", None, None, None])              # row 10: no customer
    wb.save(path)
    return path


def test_a_merged_title_banner_is_skipped_and_total_lines_are_not_data(store, tmp_path):
    report = ingest_file(store, banner_workbook(tmp_path / "三月.xlsx"), dataset="三月")
    assert report.mapping["customer_id"] == "客户编号" and report.mapping["amount"] == "金额"
    assert (report.rows, report.customers, report.revenue) == (3, 2, 350.5)   # 100.5 + 200 + 50
    assert report.rejected_reasons == {"summary_row": 2, "header_repeated": 1, "title_line": 1,
                                       "customer_missing": 1}
    assert (report.summary_rows, report.repeated_headers, report.rejected) == (2, 1, 5)
    assert report.data_rows == 8 and report.header_records == 2               # rows 3–10; title and header
    rejects = store.rejected_rows(store.dataset("三月"))
    assert dict(zip(rejects["row"], rejects["reason"])) == {
        5: "summary_row", 6: "header_repeated", 8: "title_line", 9: "summary_row", 10: "customer_missing"}
    # the download in the user's language: headers, reasons, and empty cells empty (not "None")
    zh = tables.rejected_rows(rejects, "zh")
    assert list(zh.columns[:2]) == ["行号", "原因"]
    assert zh["原因"].tolist() == ["合计/小计行", "重复的表头行", "无客户、日期和金额（标题或备注行）", "合计/小计行", "缺少客户"]
    assert zh.loc[0, "客户名称"] == "" and zh.loc[0, "客户编号"] == "小计"


@pytest.mark.parametrize("label", ["合计", "总计：", "Total", "SUBTOTAL", "Grand total", "小 计"])
def test_total_labels_in_a_gbk_text_file(store, tmp_path, label):
    path = tmp_path / "export.csv"
    path.write_bytes(("销售明细\n客户编号,订单日期,金额\nA,2024-01-02,10\nB,2024-01-03,20\n"
                      f"{label},,30\n").encode("gbk"))
    report = ingest_file(store, path, dataset="x")
    assert (report.rows, report.summary_rows, report.rejected_reasons) == (2, 1, {"summary_row": 1})


def test_a_customer_called_total_is_data(store, tmp_path):
    # a label only marks a line that fails anyway: a real customer named Total loads
    path = tmp_path / "t.csv"
    path.write_text("客户编号,订单日期,金额\nTotal,2024-01-02,10\nB,2024-01-03,20\n", encoding="utf-8")
    report = ingest_file(store, path, dataset="t")
    assert (report.rows, report.rejected) == (2, 0)


def repeated_orders(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户编号", "订单编号", "订单日期", "金额"])
    for line in [("C1", "O1", "2024-03-01", 100.25), ("C1", "O1", "2024-03-01", 100.25),  # O1 twice
                 ("C2", "O2", "2024-03-02", 50), ("C2", "O2", "2024-03-02", 50), ("C2", "O2", "2024-03-02", 50),
                 ("C2", "O4", "2024-03-02", 50),  # another order of the same amount: not a repeat
                 ("C3", "O3", "2024-03-03", 7)]:
        ws.append(list(line))
    wb.save(path)
    return path


def test_repeated_orders_are_counted_and_kept_unless_told(store, tmp_path):
    path = repeated_orders(tmp_path / "dups.xlsx")
    kept = ingest_file(store, path, dataset="d")
    # O1 once more (100.25) and O2 twice more (2 × 50): 3 lines, 200.25
    assert (kept.duplicate_lines, kept.duplicate_amount, kept.duplicates) == (3, 200.25, "keep")
    assert (kept.rows, kept.revenue) == (7, 407.5)
    dropped = ingest_file(store, path, dataset="d", replace=True, duplicates="drop")
    assert (dropped.duplicate_lines, dropped.duplicate_amount, dropped.duplicates) == (3, 200.25, "drop")
    assert (dropped.rows, dropped.revenue, dropped.data_rows) == (4, 207.25, 7)  # every line accounted for


def test_the_command_line_reports_and_drops_repeated_orders(cli, tmp_path):
    path = repeated_orders(tmp_path / "dups.xlsx")
    done = cli("ingest", path, "--dataset", "d", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["duplicate_lines"], report["duplicate_amount"], report["rows"]) == (3, 200.25, 7)
    done = cli("ingest", path, "--dataset", "d", "--replace", "--duplicates", "drop")
    assert done.returncode == 0, done.stderr
    assert "3 order lines repeated another line exactly (same order id and every column; 200.25 in all)" in done.stdout
    assert json.loads(cli("datasets", "--json").stdout.strip().splitlines()[-1])["datasets"][0]["rows"] == 4


def test_a_header_row_chosen_by_hand(store, tmp_path):
    # three filled cells above the header fool no one who looks, but they are the first row wide
    # enough to be a header by the rule: the user says row 3
    path = tmp_path / "report.csv"
    path.write_text("报表,单位：元,2024年\n,,\n客户编号,订单日期,金额\nA,2024-01-02,10\nB,2024-01-03,20\n",
                    encoding="utf-8")
    assert preview_file(path).headers == ["报表", "单位：元", "2024年"]
    chosen = preview_file(path, header_row=3)
    assert chosen.headers == ["客户编号", "订单日期", "金额"] and chosen.header_row == 3
    report = ingest_file(store, path, dataset="r", header_row=3)
    assert (report.rows, report.revenue, report.rejected) == (2, 30.0, 0)
    with pytest.raises(IngestError) as refused:
        ingest_file(store, path, dataset="r2", header_row=40)
    assert refused.value.key == "header_row_out_of_range"
    assert store.find("r2") is None


def test_a_page_never_gives_command_line_advice():
    error = IngestError("columns_missing", file="a.xlsx", missing=FieldNames(["customer_id", "order_date"]),
                        headers="名称, 日期")
    assert "--map" in error.message("en") and "customer_id, order_date" in error.message("en")
    for lang, fields in (("en", "Customer id, Order date"), ("zh", "客户编号、订单日期")):
        page = error.message(lang, page=True)
        assert "--" not in page and "customer_id" not in page and fields in page
    from kam_analytics.i18n import catalog

    for lang in ("en", "zh"):
        words = catalog(lang)
        for key, text in words.items():
            if key.endswith("_page"):
                assert "--" not in text, key
            elif "--map" in text or "--date-format" in text:
                assert f"{key}_page" in words or key.startswith("cli_"), key


def test_asked_first_nothing_is_saved_until_the_user_chooses(store, tmp_path):
    path = repeated_orders(tmp_path / "dups.xlsx")
    with pytest.raises(IngestError) as held:
        ingest_file(store, path, dataset="d", duplicates="ask")
    assert held.value.key == "duplicates_found"
    assert (held.value.params["lines"], held.value.params["amount"]) == ("3", "200.25")
    assert store.find("d") is None and store.datasets() == []
    # a file without repeats is not held
    clean = tmp_path / "clean.csv"
    clean.write_text("客户编号,订单编号,订单日期,金额\nA,1,2024-01-02,10\nA,2,2024-01-02,10\n", encoding="utf-8")
    assert ingest_file(store, clean, dataset="c", duplicates="ask").rows == 2
