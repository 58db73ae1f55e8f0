"""The command line contract: JSON on the last line, CSV outputs, formula guarding, errors."""
from __future__ import annotations

import json

import pandas as pd


def test_ingest_json_fields_and_customers_csv(cli, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("客户编号,客户名称,订单编号,订单日期,金额,利润\n"
                    "0012,=HYPERLINK(\"x\"),O1,2021-01-05,100.50,10\n0012,=HYPERLINK(\"x\"),O2,2021-03-01,-20.25,-5\n"
                    "0012,=HYPERLINK(\"x\"),O2,2021-03-01,4,1\nB7,+Beta Ltd,O3,2021-02-01,30,3\n", encoding="utf-8")
    result = cli("ingest", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("dataset", "rows", "rejected", "customers", "revenue", "encoding", "delimiter", "mapping",
                "date_min", "date_max"):
        assert key in report
    assert (report["dataset"], report["rows"], report["rejected"], report["customers"]) == ("orders", 4, 0, 2)
    assert abs(report["revenue"] - 114.25) < 1e-9
    assert report["date_min"] == "2021-01-05 00:00:00" and report["date_max"] == "2021-03-01 00:00:00"
    out = tmp_path / "customers.csv"
    result = cli("customers", "--dataset", "orders", "--out", out)
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "customer_id,name,first_order,last_order,orders,revenue,profit"
    frame = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert list(frame["customer_id"]) == ["0012", "B7"]
    assert list(frame["name"]) == ["'=HYPERLINK(\"x\")", "'+Beta Ltd"]
    assert list(frame["orders"]) == [2, 1]
    assert list(frame["revenue"]) == [84.25, 30.0]
    assert list(frame["profit"]) == [6.0, 3.0]
    # as-of: only orders on or before the date
    result = cli("customers", "--dataset", "orders", "--as-of", "2021-01-31", "--out", out)
    frame = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert list(frame["customer_id"]) == ["0012"] and list(frame["revenue"]) == [100.5]


def test_datasets_drop_and_rejects(cli, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("客户,日期,金额\nA,2021-01-01,1\n,2021-01-02,2\nB,bad,3\n", encoding="utf-8")
    assert cli("ingest", path, "--dataset", "r").returncode == 0
    listed = json.loads(cli("datasets", "--json").stdout.splitlines()[-1])["datasets"]
    assert [(d["name"], d["rows"], d["rejected"]) for d in listed] == [("r", 1, 2)]
    out = tmp_path / "rej.csv"
    assert cli("rejects", "--dataset", "r", "--out", out).returncode == 0
    rejected = pd.read_csv(out, encoding="utf-8-sig")
    assert list(rejected["row"]) == [3, 4] and list(rejected["reason"]) == ["customer_missing", "date_unreadable"]
    assert list(rejected.columns[2:]) == ["客户", "日期", "金额"]
    assert cli("drop", "r").returncode == 0
    result = cli("drop", "r")
    assert result.returncode == 2 and "no dataset called 'r'" in result.stderr


def test_bad_date_argument_is_a_sentence(cli, tmp_path):
    result = cli("customers", "--dataset", "x", "--as-of", "yesterday", "--out", tmp_path / "o.csv")
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def test_fresh_store_is_seeded_with_demo(tmp_path):
    from conftest import run_cli

    result = run_cli("datasets", "--json", db=tmp_path / "fresh.duckdb", env={"KAM_NO_DEMO": ""})
    listed = json.loads(result.stdout.splitlines()[-1])["datasets"]
    assert [d["customers"] for d in listed] == [1500]
