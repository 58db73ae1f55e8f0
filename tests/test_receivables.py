"""Receivables worked by hand: aging buckets, partial payments, a payment after the as-of date,
a credit note, an early payment, DSO, exposure shares and HHI, credit limits, deterioration."""
from __future__ import annotations

import pytest

from kam_analytics.analytics import receivables
from kam_analytics.ingest import ingest_file
from kam_analytics.ingest.attributes import ingest_attributes

AS_OF = "2024-06-30"
# recent payment window: 2024-04-02 .. 06-30 (90 days); prior: 2023-10-05 .. 2024-04-01 (180 days)
# credit sales window (DSO): lines dated 2024-04-02 .. 06-30
LINES = """客户编号,客户名称,订单编号,订单日期,金额,到期日,回款日期,回款金额
A,甲公司,a1,2024-01-10,1000,2024-02-09,2024-02-20,1000
A,甲公司,a2,2024-04-01,500,2024-05-01,2024-05-20,200
A,甲公司,a3,2024-06-01,800,2024-07-01,2024-07-05,800
A,甲公司,a4,2024-06-10,-100,2024-06-20,,
A,甲公司,a5,2024-02-01,400,2024-03-02,,
A,甲公司,a6,2024-07-02,999,2024-08-01,,
B,乙公司,b1,2023-12-01,100,2023-12-31,2023-12-20,100
B,乙公司,b2,2024-02-01,100,2024-03-15,,
B,乙公司,b3,2024-03-01,200,2024-04-15,,
B,乙公司,b4,2024-04-01,300,2024-05-15,,
B,乙公司,b5,2024-05-01,50,2024-05-31,2024-06-30,50
B,乙公司,b6,2024-05-20,70,2024-06-10,,
C,丙公司,c1,2024-06-01,5000,,,
D,丁公司,d1,2024-06-15,5000,2024-07-15,2024-06-16,
"""


@pytest.fixture
def lines(store, tmp_path):
    path = tmp_path / "应收.csv"
    path.write_text(LINES, encoding="utf-8")
    report = ingest_file(store, path, dataset="r")
    assert (report.rows, report.rejected) == (14, 0)
    return store.dataset("r")


def test_aging_by_hand(store, lines):
    got = receivables.per_customer(store.table(lines), AS_OF).set_index("customer_id")
    # C sold for cash (no due date): owes nothing and is not listed; a6 is dated after the as-of date
    assert list(got.index) == ["A", "B", "D"]
    a, b, d = got.loc["A"], got.loc["B"], got.loc["D"]
    # A: a1 paid; a2 500 − 200 partly paid, due 60 days ago; a3 paid after the as-of date so
    # still owed, due tomorrow; a4 a credit note 10 days past its due date; a5 unpaid, 120 days
    assert (a["outstanding"], a["not_due"], a["overdue_1_30"], a["overdue_31_60"], a["overdue_61_90"],
            a["overdue_90_plus"], a["overdue"]) == (1400.0, 800.0, -100.0, 300.0, 0.0, 400.0, 600.0)
    # B: 70 (20 days), 300 (46 days), 200 (76 days), 100 (107 days); b5 paid on the as-of day
    assert (b["outstanding"], b["not_due"], b["overdue_1_30"], b["overdue_31_60"], b["overdue_61_90"],
            b["overdue_90_plus"]) == (670.0, 0.0, 70.0, 300.0, 200.0, 100.0)
    # D paid in full (paid date given, paid amount blank: the whole line)
    assert d["outstanding"] == 0.0 and d["share_of_receivables"] == 0.0
    # DSO = outstanding / credit sales of 2024-04-02..06-30 × 90: A 1400 / (800 − 100) × 90;
    # B 670 / (50 + 70) × 90 (a2 and b4, dated April 1, fall outside)
    assert a["dso_days"] == pytest.approx(180.0) and b["dso_days"] == pytest.approx(502.5)
    assert a["share_of_receivables"] == pytest.approx(1400 / 2070)
    assert b["share_of_receivables"] == pytest.approx(670 / 2070)
    assert a["name"] == "甲公司"


def test_deterioration_by_hand(store, lines):
    got = receivables.per_customer(store.table(lines), AS_OF).set_index("customer_id")
    a, b = got.loc["A"], got.loc["B"]
    # A paid a2 19 days late in the recent window, a1 11 days late before: 8 days worse, under 15
    assert (a["avg_days_late_recent"], a["avg_days_late_prior"]) == (19.0, 11.0)
    # overdue one, two, three months back (05-30, 04-30, 03-30): A 300 + 400, 400, 400 -> not rising
    assert (a["overdue_1m_ago"], a["overdue_2m_ago"], a["overdue_3m_ago"]) == (700.0, 400.0, 400.0)
    # B paid b1 early (0 days late) and b5 30 days late: 30 ≥ 0 + 15 -> paying later;
    # overdue 100 -> 300 -> 600 -> 670: three rises running
    assert (b["avg_days_late_recent"], b["avg_days_late_prior"]) == (30.0, 0.0)
    assert (b["overdue_3m_ago"], b["overdue_2m_ago"], b["overdue_1m_ago"], b["overdue"]) == (100.0, 300.0, 600.0, 670.0)
    assert a["flags"] == ["major_exposure"]
    assert b["flags"] == ["major_exposure", "paying_later", "overdue_growing"]
    assert got.loc["D", "flags"] == []


def test_portfolio_and_concentration_by_hand(store, lines):
    rows = receivables.per_customer(store.table(lines), AS_OF)
    total = receivables.portfolio(rows)
    assert (total["outstanding"], total["overdue"], total["customers"], total["owing"]) == (2070.0, 1270.0, 3, 2)
    assert total["overdue_share"] == pytest.approx(1270 / 2070)
    # credit sales 2024-04-02..06-30: 800 − 100 + 50 + 70 + 5000 (D)
    assert total["dso_days"] == pytest.approx(2070 / 5820 * 90)
    c = total["concentration"]
    assert c.hhi == pytest.approx(10_000 * ((1400 / 2070) ** 2 + (670 / 2070) ** 2))
    assert c.top5_share == 1.0 and c.top1_share == pytest.approx(1400 / 2070)


def test_credit_limit_from_the_attributes(store, lines, tmp_path):
    path = tmp_path / "客户.csv"
    path.write_text("客户编号,信用额度\nA,1000\nB,1000\n", encoding="utf-8")
    ingest_attributes(store, lines, path)
    dataset = store.dataset("r")
    got = receivables.per_customer(store.table(dataset), AS_OF, store.attributes(dataset)).set_index("customer_id")
    assert got.loc["A", "credit_limit"] == 1000.0 and "over_credit_limit" in got.loc["A", "flags"]
    assert "over_credit_limit" not in got.loc["B", "flags"]  # 670 is within 1,000


def test_account_history_by_hand(store, lines):
    rows = receivables.history(store.table(lines), "A", AS_OF)
    assert rows["order_id"].tolist() == ["a4", "a3", "a2", "a5", "a1"]  # newest first; a6 is after the date
    by = rows.set_index("order_id")
    assert by.loc["a2", "outstanding"] == 300.0 and by.loc["a2", "days_overdue"] == 60
    assert by.loc["a2", "days_late"] == 19                      # paid (partly) 19 days late
    assert by.loc["a3", "paid"] == 0.0 and by.loc["a3", "days_overdue"] == 0   # paid after the as-of date
    assert by.loc["a1", "outstanding"] == 0.0 and by.loc["a1", "days_late"] == 11
    assert by.loc["a5", "days_overdue"] == 120


def test_without_due_dates_there_are_no_receivables(store, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("客户编号,订单日期,金额\nA,2024-01-01,10\n", encoding="utf-8")
    ingest_file(store, path, dataset="plain")
    assert not receivables.available(store.table(store.dataset("plain")).columns)


def test_demo_planted_slow_payers_are_found(store):
    from kam_analytics import demo

    demo.seed_store(store)
    dataset = store.datasets()[0]
    rows = receivables.per_customer(store.table(dataset), "2025-12-31")
    slow = rows[rows["flags"].apply(lambda f: "slow_payer" in f)]
    # the demo plants C0020–C0024 paying 60–150 days after the due date; everyone else within ~10
    assert sorted(slow["customer_id"]) == ["C0020", "C0021", "C0022", "C0023", "C0024"]
    assert (slow["avg_days_late"] > 30).all() and (slow["overdue"] > 0).all()


def test_cli_writes_the_hand_worked_figures(cli, tmp_path):
    import pandas as pd

    path = tmp_path / "应收.csv"
    path.write_text(LINES, encoding="utf-8")
    assert cli("ingest", path, "--dataset", "r").returncode == 0
    out = tmp_path / "owed.csv"
    done = cli("receivables", "--dataset", "r", "--as-of", AS_OF, "--out", out)
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    assert list(got.columns) == ["customer_id", "name", "outstanding", "not_due", "overdue_1_30", "overdue_31_60",
                                 "overdue_61_90", "overdue_90_plus", "dso_days", "share_of_receivables", "flags"]
    assert got["customer_id"].tolist() == ["A", "B", "D"]
    a = got.iloc[0]
    assert (a["outstanding"], a["not_due"], a["overdue_1_30"], a["overdue_31_60"], a["overdue_90_plus"]) == (
        1400.0, 800.0, -100.0, 300.0, 400.0)
    assert a["dso_days"] == 180.0 and a["share_of_receivables"] == round(1400 / 2070, 6)
    assert got.iloc[1]["flags"] == "holds 10%+ of receivables, paying later, overdue rising 3 months running"


def test_cli_refuses_a_dataset_without_due_dates(cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("客户编号,订单日期,金额\nA,2024-01-01,10\n", encoding="utf-8")
    assert cli("ingest", path, "--dataset", "plain").returncode == 0
    done = cli("receivables", "--dataset", "plain", "--out", tmp_path / "x.csv")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "has no due dates and paid dates" in done.stderr and "Attach an accounts-receivable export" in done.stderr and not (tmp_path / "x.csv").exists()


def test_tables_in_both_languages(store, lines):
    from ui import tables

    rows = receivables.per_customer(store.table(lines), AS_OF)
    zh = tables.receivables_list(rows, "zh")
    assert zh.iloc[0].tolist() == ["A", "甲公司", "1,400", "800", "-100", "300", "0", "400", "180", "67.6%",
                                   "占应收 10% 以上"]
    en = tables.receivables_list(rows, "en")
    assert en.iloc[1].tolist()[-1] == "holds 10%+ of receivables, paying later, overdue rising 3 months running"
    b = rows.set_index("customer_id").loc["B"]
    assert tables.deterioration_text(b, "en") == (
        "pays 30 days late on average lately, against 0 days before; "
        "overdue rose three months running: 100 → 300 → 600 → 670")
    history = tables.receivables_history(receivables.history(store.table(lines), "A", AS_OF), "zh")
    first = history.iloc[0].tolist()   # a4, the credit note: not paid by then
    assert first == ["a4", "2024-06-10", "2024-06-20", "-100", "0", "–", "-100", "10", "–"]


def test_overview_points_at_customers_paying_later(store, lines):
    import pandas as pd

    from kam_analytics.analytics.overview import attention_items

    rows = receivables.per_customer(store.table(lines), AS_OF)
    # five customers; B pays later and its overdue rises: the one account of the receivables
    # page's list of payments getting worse
    summary = pd.DataFrame({"customer_id": ["B", "A", "C", "D", "E"], "name": ["乙公司", "甲公司", None, None, None],
                            "last_order": pd.to_datetime(["2024-06-29"] * 5), "revenue": [900.0, 50.0, 40.0, 30.0, 20.0]})
    items = [i for i in attention_items(summary, pd.DataFrame(columns=["period", "revenue"]), AS_OF, rows)
             if i["kind"] == "receivables"]
    assert items == [{"kind": "receivables", "count": 1, "customer_id": "B", "name": "乙公司", "overdue": 670.0}]
    assert list(receivables.getting_worse(rows)["customer_id"]) == ["B"]
    # the same without B on top: still the one account that list holds (the count is the list's)
    summary["revenue"] = [50.0, 900.0, 40.0, 30.0, 20.0]
    assert [i["customer_id"] for i in attention_items(summary, pd.DataFrame(columns=["period", "revenue"]), AS_OF, rows)
            if i["kind"] == "receivables"] == ["B"]


AR_FILE = """客户编号,发票号,开票日期,到期日,应收金额,已收金额,收款日期
A,INV1,2024/03/01,2024/03/31,1000,300,2024/03/20
A,INV1,2024/03/01,2024/03/31,1000,200,2024/05/10
A,INV1,2024/03/01,2024/03/31,1000,500,2024/07/15
A,INV2,2024/05/01,2024/06/15,400,,
A,CN1,2024/06/01,2024/06/01,-150,,
B,INV3,2024/06/10,,600,,
B,INV4,2024/04/01,2024/05/01,800,,2024/04/20
,INV5,2024/04/01,2024/05/01,100,,
C,INV6,2024/04/01,2024/05/01,abc,,
C,INV7,2024/02/30,2024/05/01,100,,
"""


@pytest.fixture
def with_file(store, tmp_path):
    from kam_analytics import service
    from kam_analytics.access import local_identity

    sales = tmp_path / "sales.csv"
    sales.write_text("客户编号,订单日期,金额\nA,2024-01-05,100\nZ,2024-01-06,50\n", encoding="utf-8")
    ingest_file(store, sales, dataset="s")
    path = tmp_path / "应收账款.csv"
    path.write_bytes(AR_FILE.encode("gb18030"))
    report = service.attach_receivables(store, local_identity(), store.dataset("s"), path)
    return report, store.dataset("s")


def test_receivables_file_rows_add_up_and_refusals_are_counted(store, with_file):
    report, dataset = with_file
    # 10 data rows: 7 loaded, 3 refused (no customer, amount 'abc', 2024/02/30)
    assert (report.rows, report.rejected) == (7, 3)
    assert report.rejected_reasons == {"customer_missing": 1, "amount_unreadable": 1, "date_unreadable": 1}
    assert (report.invoices, report.customers, report.matched, report.undated_due) == (5, 2, 1, 1)
    assert report.encoding in ("gb18030", "gbk", "GB18030")
    assert report.mapping["order_id"] == "发票号" and report.mapping["paid_amount"] == "已收金额"
    assert dataset.receivables_details["rows"] == 7 and dataset.receivables_details["source_file"] == "应收账款.csv"


def test_receivables_file_by_hand(store, with_file):
    from kam_analytics import service

    _, dataset = with_file
    got = service.receivables(store, service.Slice.of(dataset), AS_OF).set_index("customer_id")
    a, b = got.loc["A"], got.loc["B"]
    # A: INV1 1,000 paid 300 + 200 by then (the 500 of 07-15 is after) -> 500, 91 days overdue;
    # INV2 400, 15 days; the credit note −150, 29 days
    assert (a["outstanding"], a["overdue_1_30"], a["overdue_90_plus"], a["not_due"]) == (750.0, 250.0, 500.0, 0.0)
    # B: INV3 has no due date: due on its invoice date 06-10, 20 days; INV4 paid in full early
    assert (b["outstanding"], b["overdue_1_30"]) == (600.0, 600.0)
    # credit sales 2024-04-02..06-30: A 400 − 150, B 600 -> DSO 750 / 250 × 90 and 600 / 600 × 90
    assert a["dso_days"] == pytest.approx(270.0) and b["dso_days"] == pytest.approx(90.0)
    # A's payments: 200 forty days late lately, 300 early before -> paying later; B on time
    assert (a["avg_days_late_recent"], a["avg_days_late_prior"]) == (40.0, 0.0)
    assert "paying_later" in a["flags"] and b["avg_days_late_recent"] == 0.0
    history = service.receivables_history(store, service.Slice.of(dataset), "A", AS_OF)
    inv1 = history[history["order_id"] == "INV1"].sort_values("paid")
    assert inv1["paid"].tolist() == [0.0, 200.0, 300.0] and inv1["outstanding"].tolist() == [500.0, 0.0, 0.0]


def test_a_receivables_file_without_usable_rows_changes_nothing(store, with_file, tmp_path):
    from kam_analytics.errors import IngestError
    from kam_analytics.ingest.receivables import ingest_receivables

    _, dataset = with_file
    bad = tmp_path / "bad.csv"
    bad.write_text("客户编号,开票日期,应收金额\nA,2024-01-01,abc\n", encoding="utf-8")
    with pytest.raises(IngestError):
        ingest_receivables(store, dataset, bad)
    after = store.dataset("s")
    assert after.receivables_file == dataset.receivables_file and after.version == dataset.version


def test_cli_attaches_a_receivables_file_and_reports(cli, tmp_path):
    import json

    import pandas as pd

    sales = tmp_path / "sales.csv"
    sales.write_text("客户编号,订单日期,金额\nA,2024-01-05,100\nZ,2024-01-06,50\n", encoding="utf-8")
    assert cli("ingest", sales, "--dataset", "s").returncode == 0
    path = tmp_path / "应收账款.csv"
    path.write_bytes(AR_FILE.encode("gb18030"))
    done = cli("receivables-file", path, "--dataset", "s", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["rows"], report["rejected"], report["invoices"]) == (7, 3, 5)
    out = tmp_path / "owed.csv"
    assert cli("receivables", "--dataset", "s", "--as-of", AS_OF, "--out", out).returncode == 0
    got = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str}).set_index("customer_id")
    assert got.loc["A", "outstanding"] == 750.0 and got.loc["B", "outstanding"] == 600.0   # as worked above


def test_churn_reasons_include_payments_getting_worse(store, lines):
    from kam_analytics import service
    from kam_analytics.analytics.churn import reason_text

    review = service.churn_list(store, service.Slice.of(lines), AS_OF, 90, scope="all", listing="all")
    by = dict(zip(review.table["customer_id"], review.table["reasons"]))
    worse = [r for r in by["B"] if r["reason"] in ("paying_later", "overdue_rising")]
    assert worse == [{"reason": "paying_later", "recent": 30, "prior": 0}, {"reason": "overdue_rising", "amount": 670.0}]
    assert [reason_text(r, "zh") for r in worse] == ["回款变慢：近期平均逾期 30 天，此前 0 天", "逾期金额连续三个月上升，目前 670"]
    assert not [r for r in by["A"] if r["reason"] in ("paying_later", "overdue_rising")]


def test_the_refused_rows_of_a_receivables_file_come_back_with_their_reasons(store, with_file):
    from kam_analytics import service
    from kam_analytics.access import local_identity

    _, dataset = with_file
    rows = service.rejected_rows(store, local_identity(), dataset, receivables=True)
    # file rows 9, 10 and 11 (the header is row 1)
    assert rows["row"].tolist() == [9, 10, 11]
    assert rows["reason"].tolist() == ["customer_missing", "amount_unreadable", "date_unreadable"]
    assert rows["发票号"].tolist() == ["INV5", "INV6", "INV7"]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

invoice = hs.tuples(hs.sampled_from(["A", "B", "客户1"]), hs.integers(-5_000, 100_000),
                    hs.lists(hs.tuples(hs.integers(0, 100_000), hs.one_of(hs.none(), hs.integers(0, 400))), max_size=3))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invoices=hs.lists(invoice, min_size=1, max_size=12), bad=hs.lists(hs.sampled_from(["no_customer", "bad_amount"]),
                                                                        max_size=4))
@pytest.mark.slow  # (make test runs it; make check leaves it out)
def test_receivables_file_property(tmp_path_factory, invoices, bad):
    """Every data row is loaded or refused, and what each customer owes long after is its
    invoices' amounts less the payments that have a date — from the generator, not the code."""
    import datetime as dt

    from kam_analytics.ingest.receivables import ingest_receivables
    from kam_analytics.store import Store

    folder = tmp_path_factory.mktemp("ar")
    store = Store.open(folder / "kam.db")
    sales = folder / "sales.csv"
    sales.write_text("客户编号,订单日期,金额\nA,2024-01-05,100\n", encoding="utf-8")
    ingest_file(store, sales, dataset="s")
    base = dt.date(2024, 1, 1)
    lines, owed = ["客户编号,发票号,开票日期,到期日,应收金额,已收金额,收款日期"], {}
    for n, (customer, cents, payments) in enumerate(invoices):
        amount = f"{cents / 100:.2f}"
        rows = payments or [(None, None)]
        for paid, day in rows:
            paid_text = "" if paid is None else f"{paid / 100:.2f}"
            day_text = "" if day is None or paid is None else (base + dt.timedelta(days=day)).isoformat()
            lines.append(f"{customer},INV{n},2024-01-01,2024-01-31,{amount},{paid_text},{day_text}")
        dated = sum(p for p, d in payments if p is not None and d is not None)
        owed[customer] = owed.get(customer, 0) + cents - dated
    for k, kind in enumerate(bad):
        lines.append(f",BAD{k},2024-01-01,2024-01-31,10,," if kind == "no_customer" else f"A,BAD{k},2024-01-01,2024-01-31,x,,")
    path = folder / "ar.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest_receivables(store, store.dataset("s"), path)
    assert report.rows + report.rejected == len(lines) - 1 and report.rejected == len(bad)
    got = receivables.per_customer(store.receivables(store.dataset("s")), "2030-01-01").set_index("customer_id")
    for customer, cents in owed.items():
        value = got["outstanding"].get(customer, 0.0)
        assert round(value * 100) == cents, customer
    store.close()


def test_english_headers_map_too(store, tmp_path):
    from kam_analytics.ingest.receivables import ingest_receivables

    sales = tmp_path / "sales.csv"
    sales.write_text("customer_id,order_date,amount\nA,2024-01-05,100\n", encoding="utf-8")
    ingest_file(store, sales, dataset="s")
    path = tmp_path / "ar.csv"
    path.write_text("Customer ID,Invoice No,Invoice Date,Due Date,Amount,Amount Received,Received Date\n"
                    "A,I1,2024-05-01,2024-05-31,100,40,2024-05-20\n", encoding="utf-8")
    report = ingest_receivables(store, store.dataset("s"), path)
    assert report.mapping == {"customer_id": "Customer ID", "order_id": "Invoice No", "order_date": "Invoice Date",
                              "due_date": "Due Date", "amount": "Amount", "paid_amount": "Amount Received",
                              "paid_date": "Received Date"}
    got = receivables.per_customer(store.receivables(store.dataset("s")), AS_OF).set_index("customer_id")
    # 100 − 40 paid, due 2024-05-31: 30 days overdue on 2024-06-30
    assert got.loc["A", "outstanding"] == 60.0 and got.loc["A", "overdue_1_30"] == 60.0
