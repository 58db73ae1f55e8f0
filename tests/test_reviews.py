"""The review on file: bridges and migrations worked out by hand, the twelve months a review
archives, immutability after a replace and after new weights, who may create and delete, the
command line's contract, and a review deleted with its dataset."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pandas as pd
import pytest

from kam_analytics import reviews, service
from kam_analytics.access import AccessDenied, Identity
from kam_analytics.analytics import reviews as review_math
from kam_analytics.errors import KamError, StoreError
from kam_analytics.ingest import ingest_file

ADMIN = Identity("admin@example.com", "admin")
EDITOR = Identity("editor@example.com", "editor")
VIEWER = Identity("viewer@example.com", "viewer")


# -- the bridge, by hand --------------------------------------------------------------------
# Earlier review: key accounts A, B, D, E (C = {A, B, D, E}); X not key.
#   A 100 → absent later: churns (R1 = 0)         churned  += 100
#   B  50 → 100, still key: doubles               expansion += 50
#   D  80 →  60, no longer key but still buys     contraction += 20 (stays in C's figures)
#   E  40 →  40, key both times                   nothing
# Later key accounts: B, E, N (N new, 70) and X (was not key, 30 → 35: new key account too)
# start = 100 + 50 + 80 + 40 = 270; end = 0 + 100 + 60 + 40 = 200
# expansion 50, contraction 20, churned 100 → 270 + 50 − 20 − 100 = 200 ✓
# new = 70 + 35 = 105; nrr = 200/270; grr = (0 + 50 + 60 + 40)/270 = 150/270
EARLIER = pd.DataFrame({
    "customer_id": ["A", "B", "D", "E", "X"], "name": ["甲", "乙", "丁", "戊", "己"],
    "tier": ["platinum", "gold", "platinum", "gold", "iron"], "key_account": [True, True, True, True, False],
    "score": [90.0, 80.0, 85.0, 78.0, 60.0], "revenue_12m": [100.0, 50.0, 80.0, 40.0, 30.0],
    "contrib_revenue": [40.0, 30.0, 35.0, 30.0, 20.0], "contrib_orders": [50.0, 50.0, 50.0, 48.0, 40.0]})
LATER = pd.DataFrame({
    "customer_id": ["B", "D", "E", "N", "X"], "name": ["乙", "丁", "戊", "新", "己"],
    "tier": ["platinum", "iron", "gold", "gold", "platinum"], "key_account": [True, False, True, True, True],
    "score": [88.0, 60.0, 78.0, 80.0, 76.0], "revenue_12m": [100.0, 60.0, 40.0, 70.0, 35.0],
    "contrib_revenue": [38.0, 25.0, 30.0, 30.0, 26.0], "contrib_orders": [50.0, 35.0, 48.0, 50.0, 50.0]})


def test_bridge_worked_by_hand():
    b = review_math.bridge(EARLIER, LATER)
    assert b["start_revenue"] == 270 and b["end_revenue"] == 200
    assert (b["expansion"], b["contraction"], b["churned"], b["new"]) == (50, 20, 100, 105)
    assert b["nrr"] == pytest.approx(200 / 270) and b["grr"] == pytest.approx(150 / 270)
    assert b["start_revenue"] + b["expansion"] - b["contraction"] - b["churned"] == b["end_revenue"]
    assert (b["key_accounts_start"], b["key_accounts_new"], b["key_accounts_churned"]) == (4, 2, 1)


def test_bridge_without_earlier_key_accounts_has_no_ratios():
    b = review_math.bridge(EARLIER.assign(key_account=False), LATER)
    assert b["start_revenue"] == 0 and b["nrr"] is None and b["grr"] is None and b["new"] == 100 + 40 + 70 + 35


def test_migration_and_movers_worked_by_hand():
    matrix, moves = review_math.migration(EARLIER, LATER, ["revenue", "orders"])
    assert matrix.loc["platinum", "none"] == 1      # A: gone
    assert matrix.loc["platinum", "iron"] == 1      # D
    assert matrix.loc["gold", "platinum"] == 1      # B
    assert matrix.loc["gold", "gold"] == 1          # E
    assert matrix.loc["iron", "platinum"] == 1      # X
    assert matrix.loc["none", "gold"] == 1          # N: new
    assert int(matrix.to_numpy().sum()) == 6
    # entered: N (absent before: revenue +30 vs 0, orders +50 → orders), X (revenue +6, orders +10 → orders)
    # left: A (revenue −40, orders −50 → orders), D (revenue −10, orders −15 → orders)
    assert moves[["customer_id", "change", "criterion"]].values.tolist() == [
        ["N", "entered", "orders"], ["X", "entered", "orders"], ["A", "left", "orders"], ["D", "left", "orders"]]
    assert moves.set_index("customer_id").loc["D", "criterion_change"] == -15
    assert moves.set_index("customer_id").loc["A", "revenue_after"] == 0


# -- a review of real lines ------------------------------------------------------------------
# Review dates 2024-06-30 and 2025-06-30: their twelve months are 2023-07-01..2024-06-30 and
# 2024-07-01..2025-06-30 (the same date a year earlier excluded, the review date included).
#   A: 2023-06-30 1000 (the day before the window: out), 2023-07-01 200 and 2024-06-30 300 (in)
#      → revenue_12m 500 at the first review; 2024-07-01 50 → 50 at the second
#   B: 2024-01-10 400 and a return 2024-02-10 −600 → net −200, archived as 0
#   R1..R6: a line a month (100 each, R1 at 1,000) through both years, so the standard has
#   regular accounts to score
def _lines() -> str:
    rows = ["客户编号,客户名称,订单日期,金额",
            "A,甲公司,2023-06-30,1000", "A,甲公司,2023-07-01,200", "A,甲公司,2024-06-30,300", "A,甲公司,2024-07-01,50",
            "B,乙公司,2024-01-10,400", "B,乙公司,2024-02-10,-600"]
    for month in range(24):
        year, m = 2023 + (month + 6) // 12, (month + 6) % 12 + 1
        for k in range(1, 7):
            rows.append(f"R{k},常客{k}号,{year}-{m:02d}-15,{1000 if k == 1 else 100}")
    return "\n".join(rows) + "\n"


@pytest.fixture
def reviewed(store, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(_lines(), encoding="gb18030")
    ingest_file(store, path, dataset="r")
    return store, store.dataset("r")


def test_a_review_archives_the_twelve_months_by_hand(reviewed):
    store, dataset = reviewed
    first = reviews.create_review(store, ADMIN, dataset, "2024-06-30", note="Q2 <b>")
    rows = reviews.review_rows(store, ADMIN, first).set_index("customer_id")
    assert rows.loc["A", "revenue_12m"] == 500
    assert rows.loc["B", "revenue_12m"] == 0            # a net return counts as 0
    assert rows.loc["R1", "revenue_12m"] == 12 * 1000   # 2023-07-15 .. 2024-06-15
    assert rows.loc["R2", "revenue_12m"] == 12 * 100
    assert first.note == "Q2 <b>" and first.by == "customer" and first.as_of == "2024-06-30"
    assert first.key_accounts == int(rows["key_account"].sum()) and first.accounts == len(rows) == 8
    assert first.settings["dataset_version"] == dataset.version and first.settings["weights"]
    # every criterion the standard used: its value and percentile archived
    for criterion in first.settings["criteria"]:
        assert rows[f"pct_{criterion}"].between(0, 100).all() and f"value_{criterion}" in rows
    second = reviews.create_review(store, ADMIN, dataset, "2025-06-30")
    assert reviews.review_rows(store, ADMIN, second).set_index("customer_id").loc["A", "revenue_12m"] == 50
    # the comparison equals the bridge worked out from the archived rows with plain sums
    a = reviews.review_rows(store, ADMIN, first)
    b = reviews.review_rows(store, ADMIN, second)
    r0 = dict(zip(a["customer_id"], a["revenue_12m"]))
    r1 = dict(zip(b["customer_id"], b["revenue_12m"]))
    c = [cid for cid, key in zip(a["customer_id"], a["key_account"]) if key]
    start = sum(r0[x] for x in c)
    end = sum(r1.get(x, 0) for x in c)
    result = reviews.compare(store, ADMIN, dataset, first.review_id, second.review_id).to_json()
    assert result["bridge"]["start_revenue"] == pytest.approx(start)
    assert result["bridge"]["end_revenue"] == pytest.approx(end)
    assert result["bridge"]["nrr"] == pytest.approx(end / start)
    assert set(result) >= {"bridge", "migration", "entered", "left"}


def test_an_archived_review_never_changes(reviewed, tmp_path):
    store, dataset = reviewed
    review = reviews.create_review(store, ADMIN, dataset, "2024-06-30")
    before = reviews.review_rows(store, ADMIN, review)
    summary = store.reviews.get(review.review_id).summary
    # new weights: only revenue counts
    service.save_weights(store, ADMIN, dataset, {"revenue": 1.0})
    # the dataset replaced by other lines altogether
    other = tmp_path / "other.csv"
    other.write_text("customer_id,order_date,amount\nZ,2024-05-01,5\n", encoding="utf-8")
    ingest_file(store, other, dataset="r", replace=True)
    again = store.reviews.get(review.review_id)
    pd.testing.assert_frame_equal(reviews.review_rows(store, ADMIN, again), before)
    assert again.summary == summary and again.settings == review.settings
    # while a review made now reads the new lines and weights
    now = reviews.create_review(store, ADMIN, store.dataset("r"), "2024-06-30")
    assert reviews.review_rows(store, ADMIN, now)["customer_id"].tolist() == ["Z"]
    assert now.settings["weights"] == {"revenue": 1.0}


def test_a_rows_file_changed_on_disk_is_refused(reviewed):
    store, dataset = reviewed
    review = reviews.create_review(store, ADMIN, dataset, "2024-06-30")
    path = store.reviews.folder / review.rows_file
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(StoreError) as refused:
        reviews.review_rows(store, ADMIN, review)
    assert "changed on disk" in refused.value.message("en")


def test_who_may_create_and_delete(reviewed):
    store, dataset = reviewed
    with pytest.raises(AccessDenied):
        reviews.create_review(store, VIEWER, dataset, "2024-06-30")
    review = reviews.create_review(store, EDITOR, dataset, "2024-06-30")
    assert review.created_by == "editor@example.com"
    with pytest.raises(AccessDenied):
        reviews.delete_review(store, EDITOR, dataset, review.review_id)
    assert [r.review_id for r in reviews.list_reviews(store, VIEWER, dataset)] == [review.review_id]
    reviews.delete_review(store, ADMIN, dataset, review.review_id)
    assert reviews.list_reviews(store, VIEWER, dataset) == []
    assert not (store.reviews.folder / review.rows_file).exists()
    trail = store.audit_trail()
    assert trail["action"].tolist()[:2] == ["review_delete", "review_create"]
    assert trail["actor"].tolist()[:2] == ["admin@example.com", "editor@example.com"]


def test_a_scoped_reader_sees_the_accounts_of_their_scope(reviewed, tmp_path):
    store, dataset = reviewed
    attributes = tmp_path / "owners.csv"
    attributes.write_text("customer_id,owner\nA,王芳\nR1,王芳\nR2,李雷\n", encoding="utf-8")
    service.attach_attributes(store, ADMIN, dataset, attributes)
    dataset = store.dataset("r")
    review = reviews.create_review(store, ADMIN, dataset, "2024-06-30")
    mine = reviews.review_rows(store, replace(VIEWER, scope=("王芳",)), review)
    assert sorted(mine["customer_id"]) == ["A", "R1"]


def test_a_failed_review_leaves_nothing(reviewed, monkeypatch):
    store, dataset = reviewed
    stale = replace(dataset, version=dataset.version - 1)  # replaced meanwhile
    with pytest.raises(StoreError):
        store.reviews.create(stale, "2024-06-30", "customer", "", {}, {}, pd.DataFrame({"key_account": [True]}), None)
    assert store.reviews.list(dataset.id) == []
    assert list(store.reviews.folder.iterdir()) == []


def test_dropping_the_dataset_drops_its_reviews(reviewed):
    store, dataset = reviewed
    review = reviews.create_review(store, ADMIN, dataset, "2024-06-30")
    store.drop("r")
    with pytest.raises(StoreError):
        store.reviews.get(review.review_id)
    assert list(store.reviews.folder.iterdir()) == []


def test_reviews_at_two_levels_are_not_compared(reviewed):
    store, dataset = reviewed
    one = reviews.create_review(store, ADMIN, dataset, "2024-06-30", by="customer")
    two = reviews.create_review(store, ADMIN, dataset, "2025-06-30", by="group")
    with pytest.raises(KamError) as refused:
        reviews.compare(store, ADMIN, dataset, one.review_id, two.review_id)
    assert "by customer, one by group" in refused.value.message("en")


# -- the command line -------------------------------------------------------------------------
def test_review_commands(cli, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text(_lines(), encoding="gb18030")
    assert cli("ingest", path, "--dataset", "r").returncode == 0
    made = cli("review", "create", "--dataset", "r", "--as-of", "2024-06-30", "--note", "第二季度", "--json")
    assert made.returncode == 0, made.stderr
    first = json.loads(made.stdout.strip().splitlines()[-1])
    second = json.loads(cli("review", "create", "--dataset", "r", "--as-of", "2025-06-30", "--json").stdout.splitlines()[-1])
    listed = json.loads(cli("review", "list", "--dataset", "r", "--json").stdout.splitlines()[-1])
    assert [r["review_id"] for r in listed["reviews"]] == [second["review_id"], first["review_id"]]
    assert set(listed["reviews"][0]) >= {"review_id", "as_of", "created_at", "created_by", "by", "note", "key_accounts"}
    assert listed["reviews"][1]["note"] == "第二季度"
    out = tmp_path / "review.csv"
    assert cli("review", "show", first["review_id"], "--out", out).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert list(rows[0])[:6] == ["customer_id", "name", "score", "tier", "key_account", "revenue_12m"]
    assert {r["customer_id"]: r["revenue_12m"] for r in rows}["A"] in ("500.0", "500")
    assert sum(r["key_account"] == "true" for r in rows) == first["key_accounts"]
    compared = cli("review", "compare", "--dataset", "r", "--from", first["review_id"], "--to", second["review_id"], "--json")
    result = json.loads(compared.stdout.splitlines()[-1])
    assert set(result["bridge"]) >= set(review_math.BRIDGE_KEYS)
    assert set(result) >= {"bridge", "migration", "entered", "left"}
    gone = cli("review", "show", "999", "--out", out)
    assert gone.returncode == 2 and "no review 999" in gone.stderr and "Traceback" not in gone.stderr
    deleted = cli("review", "delete", "--dataset", "r", first["review_id"])
    assert deleted.returncode == 0
    listed = json.loads(cli("review", "list", "--dataset", "r", "--json").stdout.splitlines()[-1])
    assert [r["review_id"] for r in listed["reviews"]] == [second["review_id"]]


def test_a_review_by_group_counts_each_group_once(store, tmp_path, cli):
    """By group (the lines of tests/test_groups.py, all in 2024): 甲集团 = A 300 + B 280 = 580,
    C alone 400, 乙集团 = D 200 + E (100 − 150) = 150, 丙集团 100, 戊集团 (G, its latest line's
    group) 20 — each group's twelve months to 2024-12-31."""
    from tests.test_groups import LINES

    path = tmp_path / "groups.csv"
    path.write_text(LINES, encoding="gb18030")
    ingest_file(store, path, dataset="g")
    review = reviews.create_review(store, ADMIN, store.dataset("g"), "2024-12-31", by="group")
    rows = reviews.review_rows(store, ADMIN, review)
    by_name = dict(zip(rows["group_name"], rows["revenue_12m"]))
    assert by_name == {"甲集团": 580, "丙丁商行": 400, "乙集团": 150, "丙集团": 100, "戊集团": 20}
    assert dict(zip(rows["group_name"], rows["members"]))["甲集团"] == 2
    assert review.by == "group" and review.accounts == 5
    export = reviews.review_export(rows, "group")
    assert list(export.columns[:4]) == ["group_id", "group_name", "members", "customer_id"]
