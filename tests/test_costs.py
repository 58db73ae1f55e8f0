"""Cost to serve and the account P&L, worked by hand: a direct cost, a regional cost shared by
net revenue (a customer with negative revenue carrying none), a cost outside the window, a cost
for an unknown customer refused, the financing of receivables, the whale curve on net profit,
the group level; the refusals; the demo's planted account that loses money after its costs."""
from __future__ import annotations

import csv
import json

import pytest

from kam_analytics.access import Identity
from kam_analytics.errors import IngestError
from kam_analytics.i18n import catalog
from test_app import app_env, open_app  # noqa: F401 (the app's store and caches, around each page test)

# Window 2025-01-10 .. 2025-03-10 = 22 + 28 + 10 = 60 days.
# 华东 net revenue: A 1000 (its March line is 华北), B 3000, C −200 + 100 = −100 → 0.
SALES = """客户编号,客户名称,订单日期,金额,利润,区域,集团,到期日,回款日期,回款金额
A,甲公司,2025-01-10,1000,300,华东,一集团,2025-02-09,2025-02-28,1000
A,甲公司,2025-03-10,500,100,华北,一集团,,,
B,乙公司,2025-02-10,3000,600,华东,一集团,,,
C,丙公司,2025-02-11,-200,-50,华东,,,,
C,丙公司,2025-01-11,100,20,华东,,,,
"""
# rows: 1 direct (A, 50), 2 shared 华东 (390), 3 unknown customer Z, 4 unknown region 西南,
# 5 neither customer nor region, 6 a total line, 7 a direct cost of C dated before the window
COSTS = """日期,客户编号,区域,费用类型,金额
2025-01-31,A,,拜访费用,50
2025-02-28,,华东,物流费用,390
2025-03-01,Z,,返利,10
2025-03-01,,西南,返利,10
2025-03-01,,,返利,10
合计,,,,470
2024-12-31,C,,返利,70
"""


@pytest.fixture
def shop(cli, tmp_path):
    sales = tmp_path / "销售.csv"
    sales.write_text(SALES, encoding="utf-8")
    costs = tmp_path / "费用.csv"
    costs.write_bytes(COSTS.encode("gbk"))
    assert cli("ingest", sales, "--dataset", "s").returncode == 0
    return cli, costs


def _read(path) -> dict[str, dict]:
    with open(path, encoding="utf-8-sig") as handle:
        return {row["customer_id"]: row for row in csv.DictReader(handle)}


def test_a_costs_file_is_accounted_for_row_by_row(shop):
    cli, costs = shop
    done = cli("costs-file", "--dataset", "s", costs, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # 8 records = the header + 3 loaded + 4 refused, each with its reason
    assert (report["rows"], report["rejected"]) == (3, 4)
    assert report["rejected_reasons"] == {"cost_customer_unknown": 1, "cost_value_unknown": 1,
                                          "cost_target_missing": 1, "summary_row": 1}
    assert (report["direct_rows"], report["shared_rows"], report["customers"]) == (2, 1, 2)
    assert report["total"] == 50 + 390 + 70
    assert report["encoding"] in ("GB18030", "GBK")
    assert report["mapping"] == {"customer_id": "客户编号", "order_date": "日期", "amount": "金额",
                                 "cost_type": "费用类型", "region": "区域"}
    assert report["dimensions"] == ["region"]
    assert [e["row"] for e in report["rejected_examples"]] == [4, 5, 6, 7]
    # attached again without --replace: refused, and what is attached stays
    again = cli("costs-file", "--dataset", "s", costs)
    assert again.returncode != 0 and "--replace" in again.stderr
    rejects = cli.db.parent / "rej.csv"
    assert cli("rejects", "--dataset", "s", "--out", rejects).returncode == 0  # (the sales file's: none)


def test_the_pnl_by_hand(shop, tmp_path):
    cli, costs = shop
    assert cli("costs-file", "--dataset", "s", costs).returncode == 0
    out = tmp_path / "pnl.csv"
    done = cli("pnl", "--dataset", "s", "--out", out)
    assert done.returncode == 0, done.stderr
    rows = _read(out)
    assert list(rows) == ["C", "A", "B"]  # by net profit, lowest first
    assert list(next(iter(rows.values())))[:8] == ["customer_id", "name", "revenue", "gross_profit", "cost_to_serve",
                                                   "financing_cost", "net_profit", "net_margin"]
    a, b, c = rows["A"], rows["B"], rows["C"]
    # the window is the data's (2025-01-10 .. 03-10): C's cost of 2024-12-31 is left out
    assert "70.00" in done.stdout
    # A: 拜访 50 + its share of 华东 logistics 390 × 1000 / 4000 = 97.5
    assert float(a["cost_物流费用"]) == 97.5 and float(a["cost_拜访费用"]) == 50.0
    assert (float(a["revenue"]), float(a["gross_profit"]), float(a["cost_to_serve"])) == (1500.0, 400.0, 147.5)
    assert float(a["net_profit"]) == 252.5 and float(a["net_margin"]) == pytest.approx(252.5 / 1500, abs=1e-6)
    assert float(b["cost_物流费用"]) == 292.5 and float(b["net_profit"]) == 600 - 292.5
    # C's net revenue in 华东 is negative: it carries none of the shared cost; no margin without revenue
    assert float(c["cost_to_serve"]) == 0.0 and float(c["net_profit"]) == -30.0 and c["net_margin"] == ""
    assert a["name"] == "甲公司"
    # from February: A has no 华东 revenue left in the window, so B carries all 390; A's visit is outside
    done = cli("pnl", "--dataset", "s", "--start", "2025-02-01", "--out", out)
    rows = _read(out)
    assert float(rows["B"]["cost_物流费用"]) == 390.0 and float(rows["A"]["cost_to_serve"]) == 0.0
    assert "120.00" in done.stdout  # A's visit of January 31 (50) and C's rebate of 2024 (70), left out


def test_financing_of_receivables_by_hand(shop, tmp_path):
    cli, costs = shop
    assert cli("costs-file", "--dataset", "s", costs).returncode == 0
    out = tmp_path / "pnl.csv"
    # A owed 1000 from 2025-01-10 to 2025-02-27 (paid 02-28): 49 days of the 60 → average 1000 × 49/60;
    # × 3.65% × 60/365 = 1000 × 49 × 0.0365 / 365 = 4.90. The other lines have no due date: cash sales.
    assert cli("pnl", "--dataset", "s", "--rate", "0.0365", "--out", out).returncode == 0
    rows = _read(out)
    assert float(rows["A"]["financing_cost"]) == 4.9
    assert float(rows["A"]["net_profit"]) == 252.5 - 4.9
    assert float(rows["B"]["financing_cost"]) == 0.0


def test_the_whale_on_net_profit_matches_the_pnl(shop, tmp_path):
    cli, costs = shop
    assert cli("costs-file", "--dataset", "s", costs).returncode == 0
    out = tmp_path / "pnl.csv"
    assert cli("pnl", "--dataset", "s", "--out", out).returncode == 0
    net = {k: float(v["net_profit"]) for k, v in _read(out).items()}
    done = cli("concentration", "--dataset", "s", "--measure", "net_profit", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    positive = sum(max(v, 0) for v in net.values())  # 252.5 + 307.5 = 560
    assert report["measure"] == "net_profit" and report["customers"] == 3
    assert report["top1_share"] == pytest.approx(307.5 / positive)
    assert report["total"] == pytest.approx(sum(net.values()))
    assert report["unprofitable_customers"] == 1  # C
    # the whale's peak: B then A, before C's loss: (307.5 + 252.5) / 530
    assert report["peak_share"] == pytest.approx(560 / 530) and report["peak_customers"] == 2
    assert report["top20pct_share"] == pytest.approx(307.5 / 530)


def test_the_pnl_by_group(shop, tmp_path):
    cli, costs = shop
    assert cli("costs-file", "--dataset", "s", costs).returncode == 0
    out = tmp_path / "pnl.csv"
    assert cli("pnl", "--dataset", "s", "--by", "group", "--out", out).returncode == 0
    with open(out, encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    group = next(r for r in rows if r["group_name"] == "一集团")
    # 一集团 = A + B: revenue 4500, gross 1000, costs 147.5 + 292.5
    assert (float(group["revenue"]), float(group["cost_to_serve"]), float(group["net_profit"])) == (4500.0, 440.0, 560.0)
    assert group["members"] == "2"
    alone = next(r for r in rows if r["customer_id"] == "C")
    assert float(alone["net_profit"]) == -30.0


def test_refusals_change_nothing(store, tmp_path):
    from kam_analytics import service
    from kam_analytics.ingest import ingest_file
    from kam_analytics.ingest.costs import ingest_costs

    sales = tmp_path / "s.csv"
    sales.write_text(SALES, encoding="utf-8")
    ingest_file(store, sales, dataset="s")
    before = store.dataset("s")
    nowhom = tmp_path / "nowhom.csv"
    nowhom.write_text("Date,Cost type,Amount\n2025-01-31,Visits,50\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        ingest_costs(store, before, nowhom)
    assert refused.value.key == "columns_missing_who"
    unknown_only = tmp_path / "channel.csv"
    unknown_only.write_text("Date,Channel,Cost type,Amount\n2025-01-31,Online,Ads,50\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        ingest_costs(store, before, unknown_only)
    assert refused.value.key == "costs_dimensions_unknown"
    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("Customer ID,Date,Cost type,Amount\nZZ,2025-01-31,Visits,50\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        ingest_costs(store, before, all_bad)
    assert refused.value.key == "no_usable_rows"
    assert store.dataset("s").version == before.version and store.dataset("s").costs_file is None
    # roles: a viewer may not attach; a scoped editor may not either (shared costs reach beyond the scope)
    good = tmp_path / "good.csv"
    good.write_text("Customer ID,Date,Expense type,Expense\nA,2025-01-31,Visits,50\n", encoding="utf-8")
    from kam_analytics.access import AccessDenied

    with pytest.raises(AccessDenied):
        service.attach_costs(store, Identity(user="v", role="viewer"), before, good)
    with pytest.raises(IngestError) as refused:
        service.attach_costs(store, Identity(user="e", role="editor", scope=("张伟",)), before, good)
    assert refused.value.key == "costs_scope"
    report = service.attach_costs(store, Identity(user="e", role="editor"), before, good)
    # English headers mapped: Expense → amount, Expense type → cost type
    assert report.mapping == {"customer_id": "Customer ID", "order_date": "Date", "amount": "Expense",
                              "cost_type": "Expense type"}
    trail = store.audit_trail()  # (a frame)
    assert trail.loc[trail["action"] == "costs", "actor"].tolist() == ["e"]


def test_the_messages_exist_in_both_languages():
    for lang in ("en", "zh"):
        words = catalog(lang)
        for key in ("costs_loaded", "costs_exist", "costs_scope", "columns_missing_who", "pnl_window",
                    "reject_cost_target_missing", "reject_cost_customer_unknown", "reject_cost_value_unknown",
                    "ka_tab_loss", "account_pnl", "criterion_net_margin"):
            assert words[key]


def test_the_demo_shows_a_key_account_that_loses_money_after_its_costs(tmp_path):
    from kam_analytics import demo

    from conftest import demo_copy, run_cli

    db = demo_copy(tmp_path / "demo.duckdb")  # (a new store seeded with the demo)
    out = tmp_path / "pnl.csv"
    done = run_cli("pnl", "--dataset", demo.DATASET_NAME, "--out", out, db=db)
    assert done.returncode == 0, done.stderr
    rows = _read(out)
    # computed apart from the product: C0337's gross profit from the demo's own lines, and its
    # planted costs (1.3 × gross profit) plus its visits (12 quarters × ¥1,500) and its share of
    # its region's logistics and marketing
    lines = demo.generate()
    mine = lines[lines["客户编号"] == "C0337"]
    gross = float((mine["金额"] - mine["成本"]).sum())
    lost = rows["C0337"]
    assert float(lost["gross_profit"]) == pytest.approx(gross, abs=0.01) and gross > 0
    assert float(lost["cost_销售人员"]) + float(lost["cost_返利"]) == pytest.approx(gross * 1.3 * 0.8, abs=1.0)
    assert float(lost["cost_拜访费用"]) == 12 * 1500
    assert float(lost["net_profit"]) < 0
    assert float(rows["C0001"]["net_profit"]) > 0 and float(rows["C0833"]["net_profit"]) > 0
    accounts = tmp_path / "accounts.csv"
    assert run_cli("accounts", "--dataset", demo.DATASET_NAME, "--out", accounts, db=db).returncode == 0
    assert _read(accounts)["C0337"]["key_account"] == "true"


# A loses money once its visits are counted: gross 400 − (500 + 97.5) = −197.5; B carries a cost
# typed with Markdown, HTML and a Streamlit directive, shown as text.
HOSTILE_TYPE = "**粗体** :red[x] <b>b</b>"
PAGE_COSTS = f"""日期,客户编号,区域,费用类型,金额
2025-01-31,A,,拜访费用,500
2025-02-28,,华东,物流费用,390
2025-02-28,B,,"{HOSTILE_TYPE}",2.5
"""


@pytest.fixture
def app_with_costs(app_env, tmp_path):
    """The app on a store holding SALES with PAGE_COSTS attached (``test_app.app_env``)."""
    from kam_analytics.ingest import ingest_file
    from kam_analytics.ingest.costs import ingest_costs
    from kam_analytics.store import Store

    sales, costs = tmp_path / "s.csv", tmp_path / "c.csv"
    sales.write_text(SALES, encoding="utf-8")
    costs.write_text(PAGE_COSTS, encoding="utf-8")
    with Store.open(tmp_path / "app.duckdb") as store:
        ingest_file(store, sales, dataset="s")
        ingest_costs(store, store.dataset("s"), costs)


def _on_tab(lang: str, page: str, widget: str, tab: str):
    """The page in ``lang`` with its tab ``tab`` (a catalog key) open; the catalog and the app."""
    words = catalog(lang)
    at = open_app(lang, page)
    at.session_state[widget] = words[tab]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return words, at


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_key_accounts_page_lists_who_serves_at_a_loss(app_with_costs, lang):
    words, at = _on_tab(lang, "key_accounts", "ka_tab", "ka_tab_loss")
    lost = at.dataframe[0].value
    # only A: gross profit positive, net negative (C's gross profit is already negative)
    assert lost[words["col_customer_id"]].tolist() == ["A"]
    assert lost[words["col_net_profit"]].tolist() == [-197.5]
    assert lost[words["col_cost_to_serve"]].tolist() == [597.5]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_account_page_draws_its_pnl_as_a_waterfall_with_text_as_text(app_with_costs, lang):
    words = catalog(lang)
    at = open_app(lang, "account", account="B")
    assert words["account_pnl"] in [s.value for s in at.subheader]
    metrics = {m.label: m.value for m in at.metric}
    assert words["col_net_profit"] in metrics
    [chart] = [c for c in at.get("plotly_chart") if json.loads(c.proto.spec)["data"][0]["type"] == "waterfall"]
    bars = json.loads(chart.proto.spec)["data"][0]
    # revenue 3000 → cost of goods −2400 → gross 600 → logistics −292.5 → the hostile type −2.5 → 305
    assert bars["y"] == [3000.0, -2400.0, 600.0, -292.5, -2.5, 305.0]
    assert bars["x"][4] == "**粗体** :red[x] &lt;b&gt;b&lt;/b&gt;"
    assert bars["x"][0] == words["col_revenue"] and bars["x"][-1] == words["col_net_profit"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_whale_switches_between_gross_and_net_profit(app_with_costs, lang):
    words, at = _on_tab(lang, "concentration", "conc_tab", "conc_tab_whale")
    unprofitable = {m.label: m.value for m in at.metric}[words["whale_unprofitable"]]
    assert unprofitable == "1"  # on gross profit: C alone
    at.segmented_control(key="whale_basis").set_value("net").run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}[words["whale_unprofitable"]] == "2"  # A and C
    assert at.dataframe[0].value["customer_id"].tolist() == ["A", "C"]  # (labels are the column config's)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_data_page_attaches_a_costs_file_and_sets_the_rate(app_with_costs, tmp_path, lang):
    from kam_analytics import service
    from kam_analytics.store import Store

    words = catalog(lang)
    at = open_app(lang, "data")
    assert words["costs_file_title"] in [s.value for s in at.subheader]
    # replacing needs the box ticked: without it the upload is refused and the file attached stays
    uploader = next(u for u in at.file_uploader if u.label == words["costs_file_upload"])
    uploader.upload("新费用.csv", "日期,客户编号,费用类型,金额\n2025-02-01,B,返利,10\n".encode("gbk"), "text/csv").run()
    [attach] = [b for b in at.button if b.label.startswith(words["costs_file_attach"].split("“")[0])]
    attach.click().run()
    assert words["costs_exist_page"].split("“")[0] in " ".join(e.value for e in at.error)
    [replace] = [c for c in at.checkbox if c.label == words["costs_file_replace"]]
    replace.check().run()
    [attach] = [b for b in at.button if b.label.startswith(words["costs_file_attach"].split("“")[0])]
    attach.click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store.open(tmp_path / "app.duckdb") as store:
        dataset = store.dataset("s")
        assert dataset.costs_details["source_file"] == "新费用.csv" and dataset.costs_details["rows"] == 1
    # the rate: 5% a year saved by the local administrator
    [rate] = [n for n in at.number_input if n.label == words["costs_rate"]]
    rate.set_value(5.0).run()
    [save] = [b for b in at.button if b.label == words["costs_rate_save"]]
    save.click().run()
    with Store.open(tmp_path / "app.duckdb") as store:
        assert service.financing_rate(store, store.dataset("s")) == 0.05


def test_attaching_costs_moves_no_score(shop, tmp_path):
    # net margin is a criterion of weight 0 in every preset: the scorecard is the same file before and after
    cli, costs = shop
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    assert cli("accounts", "--dataset", "s", "--out", before).returncode == 0
    assert cli("costs-file", "--dataset", "s", costs).returncode == 0
    assert cli("accounts", "--dataset", "s", "--out", after).returncode == 0
    assert before.read_bytes() == after.read_bytes()
