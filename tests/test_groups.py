"""Customer groups (集团): where groups come from, figures by group worked out by hand, the load
report of a customer given two groups, suggestions from names, and the command line."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from kam_analytics import service
from kam_analytics.analytics import groups
from kam_analytics.ingest import ingest_file
from kam_analytics.ingest.attributes import ingest_attributes
from kam_analytics.ingest.report import report_warnings

# Seven customers, every line in 2024. By customer (net revenue):
#   A 甲集团 华东 300 · B 甲集团 华南 280 · C (none) 华东 400 · D 乙集团 华东 200
#   E 乙集团 华东 100 − 150 = −50 (a return larger than its sale) · F 丙集团 华东 100 (a group of one)
#   G: 甲集团 on 2024-01-05, then 戊集团 on 2024-03-05 (10 each): two groups, the later wins → 戊集团
# By group: 甲集团 = A + B = 580 (larger than every customer; its members in two regions),
#   C 400 (its own group, named by its name), 乙集团 = 200 − 50 = 150, 丙集团 100, 戊集团 20.
LINES = """客户编号,客户名称,所属集团,订单日期,金额,区域
A,甲集团上海分公司,甲集团,2024-01-10,300,华东
B,甲集团广州分公司,甲集团,2024-02-10,280,华南
C,丙丁商行,,2024-01-20,400,华东
D,乙集团北京分公司,乙集团,2024-01-15,200,华东
E,乙集团天津分公司,乙集团,2024-02-01,100,华东
E,乙集团天津分公司,乙集团,2024-02-20,-150,华东
F,丙集团有限公司,丙集团,2024-03-01,100,华东
G,戊庚贸易,甲集团,2024-01-05,10,华东
G,戊庚贸易,戊集团,2024-03-05,10,华东
"""


@pytest.fixture
def grouped(store, tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text(LINES, encoding="gb18030")
    report = ingest_file(store, path, dataset="g")
    return store, store.dataset("g"), report


def test_the_group_column_is_read_and_a_second_group_is_reported(grouped):
    store, dataset, report = grouped
    assert report.mapping["customer_group"] == "所属集团"
    assert report.rows == 9 and report.rejected == 0  # every line loaded: the row accounting is unchanged
    assert (report.file_records, report.header_records, report.data_rows) == (10, 1, 9)
    assert report.group_conflicts == 1
    assert report.group_conflict_examples == [{"customer_id": "G", "groups": ["戊集团", "甲集团"], "kept": "戊集团"}]
    for lang, words in (("en", "G (戊集团, 甲集团 → 戊集团)"), ("zh", "G（戊集团、甲集团 → 戊集团）")):
        sentence = [w for w in report_warnings(report.to_json(), lang) if "G" in w]
        assert len(sentence) == 1 and words in sentence[0], sentence


def test_group_map_by_hand(grouped):
    store, dataset, _ = grouped
    gmap = service.group_map(store, dataset).set_index("customer_id")
    assert gmap["group_id"].to_dict() == {"A": "甲集团", "B": "甲集团", "C": "C", "D": "乙集团", "E": "乙集团",
                                          "F": "丙集团", "G": "戊集团"}
    assert gmap.loc["C", "group_name"] == "丙丁商行"  # no group: its own, named by its name


def test_concentration_by_group_by_hand(grouped):
    store, dataset, _ = grouped
    by_customer = service.slice_concentration(store, service.Slice.of(dataset))
    # positive values 300 + 280 + 400 + 200 + 100 + 20 = 1,300 (E's −50 counts as 0)
    assert (by_customer["customers"], by_customer["negatives_clipped"]) == (7, 1)
    assert by_customer["top1_share"] == pytest.approx(400 / 1300)
    report = service.slice_concentration(store, service.Slice.of(dataset, by="group"))
    # groups: 580, 400, 150, 100, 20 = 1,250; none negative (乙集团 nets E's return)
    assert report["by"] == "group"
    assert (report["customers"], report["total"], report["negatives_clipped"]) == (5, 1250.0, 0)
    assert report["top1_share"] == pytest.approx(580 / 1250)
    shares = [580, 400, 150, 100, 20]
    assert report["hhi"] == pytest.approx(10_000 * sum((s / 1250) ** 2 for s in shares))
    majors = [(f["customer_id"], f.get("members")) for f in report["flags"] if f["flag"] == "major_customer"]
    # ≥ 10%: 甲集团 46.4%, C 32.0%, 乙集团 12.0% (丙集团 8.0% is not)
    assert majors == [("甲集团", ["A", "B"]), ("C", ["C"]), ("乙集团", ["D", "E"])]
    assert not [f for f in report["flags"] if f["flag"] == "major_dependency"]  # 46.4% is not more than half


def test_filters_choose_lines_before_the_roll_up(grouped):
    store, dataset, _ = grouped
    south = service.Slice.of(dataset, dimensions={"region": ["华南"]}, by="group")
    summary = service.customer_summary(store, south)
    # only B's line is in 华南: the group is listed with that line's revenue
    assert summary[["customer_id", "name", "revenue"]].to_dict("records") == [
        {"customer_id": "甲集团", "name": "甲集团", "revenue": 280.0}]
    assert service.listed_ids(store, south) == {"甲集团"}


def test_orders_of_two_members_stay_two_orders(store, tmp_path):
    # both branches use order number 1: by group that is two orders, not one
    path = tmp_path / "o.csv"
    path.write_text("customer_id,group,order_id,order_date,amount\nX1,Acme,1,2024-01-01,10\n"
                    "X1,Acme,1,2024-01-01,5\nX2,Acme,1,2024-01-02,20\n", encoding="utf-8")
    ingest_file(store, path, dataset="o")
    summary = service.customer_summary(store, service.Slice.of(store.dataset("o"), by="group"))
    assert summary[["customer_id", "orders", "revenue"]].to_dict("records") == [
        {"customer_id": "Acme", "orders": 2, "revenue": 35.0}]


def test_attributes_win_and_the_group_takes_its_largest_members_attributes(grouped, tmp_path):
    store, dataset, _ = grouped
    path = tmp_path / "attrs.csv"
    # C joins 甲集团 by the attributes file; D leaves 乙集团 (blank = the sales lines' group stays)
    path.write_text("客户编号,集团,行业,信用额度\nA,,零售,100\nB,,制造,50\nC,甲集团,能源,\nD,,物流,30\n", encoding="utf-8")
    ingest_attributes(store, dataset, path)
    dataset = store.dataset("g")
    gmap = service.group_map(store, dataset).set_index("customer_id")
    assert gmap.loc["C", "group_id"] == "甲集团" and gmap.loc["D", "group_id"] == "乙集团"
    attrs = service.attributes(store, service.Slice.of(dataset, by="group")).to_pandas().set_index("customer_id")
    # 甲集团 = A 300, B 280, C 400: its largest member is C, so its industry is C's; credit limits 100 + 50
    assert attrs.loc["甲集团", "industry"] == "能源"
    assert attrs.loc["甲集团", "credit_limit"] == pytest.approx(150)
    assert attrs.loc["乙集团", "industry"] == "物流" and attrs.loc["乙集团", "credit_limit"] == pytest.approx(30)
    report = service.slice_concentration(store, service.Slice.of(dataset, by="group"))
    assert report["top1_share"] == pytest.approx(980 / 1250)
    assert [(f["customer_id"], f["measure"]) for f in report["flags"] if f["flag"] == "major_dependency"] == [
        ("甲集团", "revenue")]


def test_a_group_lapses_only_as_a_whole(store, tmp_path):
    # Two branches of Acme ordered every month of 2023; X2 stopped after March: the group still
    # orders (X1 in December), so the group is active, and X2 is a lapsed member.
    rows = ["customer_id,group,order_date,amount"]
    rows += [f"X1,Acme,2023-{m:02d}-15,100" for m in range(1, 13)]
    rows += [f"X2,Acme,2023-{m:02d}-15,100" for m in range(1, 4)]
    rows += [f"Y,,2023-{m:02d}-15,50" for m in range(1, 4)]
    path = tmp_path / "l.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset="l")
    dataset = store.dataset("l")
    from kam_analytics.analytics import churn

    summary = service.customer_summary(store, service.Slice.of(dataset, by="group"), "2023-12-31")
    status = dict(zip(summary["customer_id"], churn.standing(summary, "2023-12-31")))
    assert status == {"Acme": "active", "Y": "lapsed"}  # Y: silent 290 days after a 29.5-day rhythm
    members = service.group_member_rows(store, service.Slice.of(dataset, by="group"), "Acme", "2023-12-31")
    assert members[["customer_id", "revenue", "standing"]].to_dict("records") == [
        {"customer_id": "X1", "revenue": 1200.0, "standing": "active"},
        {"customer_id": "X2", "revenue": 300.0, "standing": "lapsed"}]
    assert members["share"].round(4).tolist() == [0.8, 0.2]
    assert service.group_of(store, service.Slice.of(dataset), "X2") == {"group_id": "Acme", "group_name": "Acme",
                                                                         "members": 2}
    assert service.group_of(store, service.Slice.of(dataset), "Y") is None


@pytest.mark.parametrize("names, expected", [
    # branches of one group, in both scripts
    (["华润集团上海分公司", "华润集团北京分公司", "华润集团有限公司"], ["华润集团"] * 3),
    (["華潤集團上海分公司", "華潤集團北京辦事處"], ["華潤集團"] * 2),
    (["中国石化北京分公司", "中国石化(上海)有限公司"], ["中国石化"] * 2),
    (["Siemens AG - Berlin Branch", "Siemens Ltd. (Shanghai)", "SIEMENS AG"], ["Siemens"] * 3),
    (["Acme (Shanghai) Co., Ltd.", "Acme Inc."], ["Acme"] * 2),
    # never one group: two unrelated trading companies, places at the start, a lone name
    (["上海东方贸易有限公司", "北京东方贸易有限公司"], [None, None]),
    (["上海贸易有限公司", "北京贸易有限公司", "贸易有限公司"], [None, None, None]),
    (["Global Trading Ltd", "Global Trading Co., Ltd."], [None, None]),
    (["华润集团上海分公司", "美的集团有限公司"], [None, None]),
])
def test_suggestions_from_names(names, expected):
    customers = pd.DataFrame({"customer_id": [f"K{i}" for i in range(len(names))], "name": names})
    got = groups.suggest_groups(customers).set_index("customer_id")["group"]
    assert [got.get(f"K{i}") for i in range(len(names))] == expected


SIX = ["客户编号,客户名称,订单日期,金额"]
SIX += [f"B{i + 1},华润集团{city}分公司,2025-0{i + 1}-01,400" for i, city in enumerate(["上海", "北京", "广州", "深圳", "杭州", "南京"])]
SIX += ["S1,上海东方贸易有限公司,2025-04-01,900"]
SIX += [f"C{j:02d},客户{j:02d}号商行,2025-05-{j % 28 + 1:02d},100" for j in range(67)]


def test_six_branches_from_the_command_line(cli, tmp_path):
    """Six branches at 4% each (400 of 10,000) and a 9% customer: by customer the 9% tops the
    list; suggested and loaded back, the group holds 24%, flagged with its members."""
    path = tmp_path / "six.csv"
    path.write_text("\n".join(SIX) + "\n", encoding="gb18030")
    assert cli("ingest", path, "--dataset", "six").returncode == 0
    plain = json.loads(cli("concentration", "--dataset", "six", "--json").stdout.splitlines()[-1])
    assert plain["by"] == "customer" and plain["top1_share"] == pytest.approx(0.09)
    out = tmp_path / "suggested.csv"
    done = cli("groups", "suggest", "--dataset", "six", "--out", out)
    assert done.returncode == 0, done.stderr
    suggested = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(suggested.columns) == ["customer_id", "name", "group"]
    assert suggested["customer_id"].tolist() == [f"B{i}" for i in range(1, 7)]
    assert set(suggested["group"]) == {"华润集团"}
    # a suggestion changes nothing by itself
    assert json.loads(cli("concentration", "--dataset", "six", "--by", "group", "--json").stdout.splitlines()[-1])[
        "top1_share"] == pytest.approx(0.09)
    loaded = cli("attributes", "--dataset", "six", out, "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout.splitlines()[-1])["customers"] == 6
    report = json.loads(cli("concentration", "--dataset", "six", "--by", "group", "--json").stdout.splitlines()[-1])
    assert report["by"] == "group" and report["customers"] == 74 - 6 + 1
    assert report["top1_share"] == pytest.approx(0.24)
    flag = next(f for f in report["flags"] if f["flag"] == "major_customer")
    assert (flag["customer_id"], flag["group_name"], flag["members"]) == (
        "华润集团", "华润集团", ["B1", "B2", "B3", "B4", "B5", "B6"])
    assert flag["share"] == pytest.approx(0.24)
    accounts = tmp_path / "accounts.csv"
    assert cli("accounts", "--dataset", "six", "--by", "group", "--out", accounts).returncode == 0
    card = pd.read_csv(accounts, encoding="utf-8-sig", dtype={"group_id": str})
    assert list(card.columns[:3]) == ["group_id", "group_name", "members"]
    group = card[card["group_id"] == "华润集团"].iloc[0]
    assert group["members"] == 6 and group["revenue"] == pytest.approx(2400)
    trail = cli("audit", "--json")
    assert json.loads(trail.stdout.splitlines()[-1])["entries"][0]["action"] == "attributes"


def test_attributes_command_refuses_like_the_page(cli, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("customer_id,order_date,amount\nA,2024-01-01,10\n", encoding="utf-8")
    assert cli("ingest", path, "--dataset", "s").returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("colour,size\nred,1\n", encoding="utf-8")
    refused = cli("attributes", "--dataset", "s", bad)
    assert refused.returncode == 2 and "customer" in refused.stderr.lower() and "Traceback" not in refused.stderr
    mapped = tmp_path / "m.csv"
    mapped.write_text("code,holding\nA,Acme Holdings\n,Orphan\n", encoding="utf-8")
    done = cli("attributes", "--dataset", "s", mapped, "--map", "customer_id=code", "--map", "group=holding")
    assert done.returncode == 0, done.stderr
    assert "1 row(s) without a customer id" in done.stdout
    summary = cli("customers", "--dataset", "s", "--by", "group", "--out", tmp_path / "c.csv")
    assert summary.returncode == 0
    rows = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig")
    assert rows[["group_id", "group_name", "members", "revenue"]].values.tolist() == [
        ["Acme Holdings", "Acme Holdings", 1, 10.0]]


def test_receivables_sum_over_the_members(store, tmp_path):
    # Acme's two branches owe: X1 invoice 100 due 2024-01-31 unpaid (overdue 61 days on
    # 2024-04-01: 61–90), X2 invoice 50 due 2024-03-15 paid 20 on 2024-03-20 (owes 30, overdue
    # 17 days: 1–30); Y owes 40 not yet due. By group Acme owes 130 of 170.
    path = tmp_path / "r.csv"
    path.write_text(
        "customer_id,group,order_id,order_date,amount,due_date,paid_date,paid_amount\n"
        "X1,Acme,1,2024-01-01,100,2024-01-31,,\n"
        "X2,Acme,2,2024-02-14,50,2024-03-15,2024-03-20,20\n"
        "Y,,3,2024-03-25,40,2024-04-24,,\n", encoding="utf-8")
    ingest_file(store, path, dataset="r")
    owed = service.receivables(store, service.Slice.of(store.dataset("r"), by="group"), "2024-04-01")
    owed = owed.set_index("customer_id")
    assert owed.loc["Acme", "outstanding"] == pytest.approx(130)
    assert owed.loc["Acme", "overdue_61_90"] == pytest.approx(100) and owed.loc["Acme", "overdue_1_30"] == pytest.approx(30)
    assert owed.loc["Y", "not_due"] == pytest.approx(40)
    assert owed.loc["Acme", "share_of_receivables"] == pytest.approx(130 / 170)


def test_a_follow_up_of_a_group_as_a_whole(grouped):
    from kam_analytics.access import local_identity
    from kam_analytics.errors import KamError

    store, dataset, _ = grouped
    me = local_identity()
    service.add_followup(store, me, dataset, "甲集团", "contacted", note="总部采购")
    history = service.followups(store, me, dataset, "甲集团")
    assert history[["customer_id", "status", "note"]].values.tolist() == [["甲集团", "contacted", "总部采购"]]
    # the churn list by group shows it on the group's row
    listed = service.churn_list(store, service.Slice.of(dataset, by="group"), "2024-03-05", 90, scope="all",
                                listing="all").table.set_index("customer_id")
    assert listed.loc["甲集团", "followup"] == "contacted" and listed.loc["甲集团", "followups"] == 1
    with pytest.raises(KamError):  # neither a customer nor a group of the dataset
        service.add_followup(store, me, dataset, "无此集团", "contacted")


def test_without_groups_the_group_level_is_the_customer_level(store, tmp_path):
    # no group anywhere: each customer is its own group, so every figure is the customer level's
    path = tmp_path / "plain.csv"
    path.write_text("customer_id,customer_name,order_date,amount\nA,甲,2024-01-01,600\nB,乙,2024-01-02,300\n"
                    "C,丙,2024-01-03,100\n", encoding="utf-8")
    ingest_file(store, path, dataset="plain")
    dataset = store.dataset("plain")
    by_customer = service.slice_concentration(store, service.Slice.of(dataset))
    by_group = service.slice_concentration(store, service.Slice.of(dataset, by="group"))
    flags = by_group.pop("flags")
    assert {**by_customer, "by": "group", "flags": None} == {**by_group, "flags": None}
    assert by_group["top1_share"] == pytest.approx(0.6)
    # the same flags, each group's naming its one member
    assert [{k: v for k, v in f.items() if k not in ("group_name", "members")} for f in flags] == by_customer["flags"]
    assert [(f["group_name"], f["members"]) for f in flags if "customer_id" in f][:3] == [
        ("甲", ["A"]), ("乙", ["B"]), ("丙", ["C"])]
    summary = service.customer_summary(store, service.Slice.of(dataset, by="group"))
    assert summary[["customer_id", "name", "revenue"]].values.tolist() == [["A", "甲", 600.0], ["B", "乙", 300.0],
                                                                           ["C", "丙", 100.0]]
    rows = service.with_group_columns(store, service.Slice.of(dataset, by="group"), summary)
    assert rows[["group_id", "group_name", "members"]].values.tolist() == [["A", "甲", 1], ["B", "乙", 1], ["C", "丙", 1]]
