"""Per-customer attributes joined on customer_id: real files, duplicates, refusals."""
from __future__ import annotations

import pytest

from kam_analytics.analytics.account import account_attributes
from kam_analytics.errors import IngestError
from kam_analytics.ingest import ingest_attributes, ingest_file

TX = "客户编号,订单日期,金额\nC001,2024-01-01,100\nC002,2024-01-02,200\nC003,2024-01-03,300\n"


@pytest.fixture
def dataset(store, tmp_path):
    path = tmp_path / "tx.csv"
    path.write_text(TX, encoding="utf-8")
    ingest_file(store, path, dataset="tx")
    return store.dataset("tx")


def test_gbk_attributes_file(store, dataset, tmp_path):
    path = tmp_path / "属性.csv"
    # C002 appears twice (the first row wins), C009 is not in the transactions, one row has no id
    path.write_bytes(("客户编号,客户经理,信用等级,行业影响力\n"
                      "C001,王芳,AAA,\"1,5\"\n"   # one digit after the comma: a decimal comma, 1.5
                      "C002,李强,BB,3\n"
                      "C002,赵六,C,9\n"
                      ",无名,A,1\n"
                      "C009,孙七,A,2\n").encode("gbk"))
    report = ingest_attributes(store, dataset, path)
    assert (report.rows, report.customers, report.duplicates, report.missing_id, report.matched) == (5, 3, 1, 1, 2)
    assert report.mapping == {"customer_id": "客户编号", "owner": "客户经理", "credit_rating": "信用等级",
                              "industry_influence": "行业影响力"}
    refreshed = store.dataset("tx")
    assert refreshed.version > dataset.version
    attrs = store.attributes(refreshed)
    assert account_attributes(attrs, "C002") == {"owner": "李强", "credit_rating": "BB", "industry_influence": 3.0}
    assert account_attributes(attrs, "C001")["industry_influence"] == 1.5
    assert account_attributes(attrs, "C003") == {}


@pytest.mark.parametrize("content,key", [
    ("客户经理,信用等级\n王芳,AAA\n", "attributes_no_customer"),
    ("客户编号,备注\nC001,好客户\n", "attributes_none"),
    ("客户编号,客户经理\n", "file_header_only"),
])
def test_refusals_leave_the_dataset_as_it_was(store, dataset, tmp_path, content, key):
    good = tmp_path / "good.csv"
    good.write_text("客户编号,客户经理\nC001,王芳\n", encoding="utf-8")
    ingest_attributes(store, dataset, good)
    before = store.dataset("tx")
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError) as error:
        ingest_attributes(store, before, bad)
    assert error.value.key == key
    after = store.dataset("tx")
    assert (after.attributes_table, after.version) == (before.attributes_table, before.version)
    assert account_attributes(store.attributes(after), "C001") == {"owner": "王芳"}
