"""The key-account scorecard: pinned hand-worked cases (percentiles, ties, tiers, weights,
as-of) and the planted patterns of the demo data found, on the page's library calls and the CLI."""
from __future__ import annotations


import datetime as dt

import pandas as pd
import pytest

from conftest import demo_copy
from kam_analytics import demo
from kam_analytics.analytics import account_features, accounts
from kam_analytics.service import single_line_orders
from kam_analytics.ingest import ingest_file


@pytest.mark.parametrize("values,higher,expected", [
    ([10, 20, 30], True, [0, 50, 100]),
    ([10, 20, 30], False, [100, 50, 0]),
    ([10, 20, 20, 40], True, [0, 200 / 3, 200 / 3, 100]),  # ties: max rank, the same value
    ([5, 5, 5], True, [100, 100, 100]),                    # all equal: nobody is worse
    ([7], True, [100]),
    ([1, None, 3], True, [0, 50, 100]),                    # missing: neutral 50
])
def test_percentile_scores(values, higher, expected):
    got = accounts.percentile_scores(pd.Series(values, dtype="float64"), higher)
    assert got.tolist() == pytest.approx(expected)


def test_tier_cut_offs_are_exact():
    # 10 customers ranked by value: ⌈2⌉ platinum, up to ⌈5⌉ gold, up to ⌈8⌉ iron, 2 lead
    values = pd.Series([100, 90, 80, 70, 60, 50, 40, 30, 20, 10], dtype="float64")
    ids = pd.Series([f"C{i}" for i in range(10)])
    assert accounts.assign_tiers(values, ids).tolist() == ["platinum"] * 2 + ["gold"] * 3 + ["iron"] * 3 + ["lead"] * 2
    # 7 customers: ⌈1.4⌉ = 2 platinum, ⌈3.5⌉ = 4 (2 gold), ⌈5.6⌉ = 6 (2 iron), 1 lead; tie broken by id
    values = pd.Series([5, 9, 9, 1, 3, 7, 2], dtype="float64")
    ids = pd.Series(["e", "b", "a", "g", "d", "c", "f"])
    assert dict(zip(ids, accounts.assign_tiers(values, ids))) == {
        "a": "platinum", "b": "platinum", "c": "gold", "e": "gold", "d": "iron", "f": "iron", "g": "lead"}


def small(store, tmp_path, lines, header="客户编号,订单编号,订单日期,金额,利润"):
    path = tmp_path / "s.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    ingest_file(store, path, dataset="s")
    return store.table("s")


def test_features_by_hand_and_as_of(store, tmp_path):
    table = small(store, tmp_path, [
        "A,1,2024-01-10,600,60", "A,1,2024-01-10,400,40", "A,2,2024-03-05,1000,-100",
        "B,3,2024-02-01,300,30",
        "A,4,2024-07-01,5000,500",  # after the as-of date: must not count
    ])
    f = account_features.customer_features(table, "2024-03-31").set_index("customer_id")
    a = f.loc["A"]
    assert (a["revenue"], a["orders"], a["avg_order_value"]) == (2000.0, 2, 1000.0)
    assert a["largest_order_share"] == 0.5              # orders 1,000 and 1,000
    assert a["margin"] == pytest.approx(0.0)            # 60 + 40 − 100 = 0
    assert (a["tenure_days"], a["days_since_last"]) == (81, 26)
    assert a["active_months"] == 2 and a["regularity"] == pytest.approx(2 / 3)  # Jan, Mar of Jan–Mar
    assert f.loc["B", "regularity"] == 0.5  # ordered in Feb, of the months Feb–Mar
    later = account_features.customer_features(table, "2024-07-31").set_index("customer_id")
    assert later.loc["A", "revenue"] == 7000.0


@pytest.mark.parametrize("single", [False, True])
def test_the_standard_window_counts_money_in_it_and_history_before_it(store, tmp_path, single):
    # as of 2024-12-31 over 12 months: the window is 2024-01-01 – 2024-12-31
    table = small(store, tmp_path, [
        "A,1,2023-03-10,100,10", "A,2,2024-02-01,300,30", "A,3,2024-11-15,200,-50",
        "B,4,2023-06-01,900,90",                       # nothing in the window: not scored
        "C,5,2024-01-01,50,5",                         # the window's first day counts
        "C,6,2025-01-02,999,9",                        # after the date: never
    ])
    f = account_features.customer_features(table, "2024-12-31", since=dt.date(2024, 1, 1),
                                           single_line_orders=single).set_index("customer_id")
    assert sorted(f.index) == ["A", "C"]
    a = f.loc["A"]
    assert (a["revenue"], a["orders"], a["avg_order_value"]) == (500.0, 2, 250.0)   # 300 + 200, not the 2023 order
    assert a["largest_order_share"] == pytest.approx(300 / 500)
    assert a["profit"] == -20.0 and a["margin"] == pytest.approx(-20 / 500)
    assert str(pd.Timestamp(a["first_order"]).date()) == "2023-03-10"               # its history is not cut
    assert a["tenure_days"] == (dt.date(2024, 12, 31) - dt.date(2023, 3, 10)).days
    assert a["active_months"] == 3                                                    # Mar 2023, Feb and Nov 2024
    assert a["regularity"] == pytest.approx(3 / 22)                                  # of Mar 2023 – Dec 2024
    assert a["growth_ratio"] == pytest.approx(500 / 600)                              # 2024 against 2023
    assert f.loc["C", "revenue"] == 50.0


def test_single_line_path_gives_the_same_features(store, tmp_path):
    # one line per order (filters.single_line_orders): orders and the largest order come from the
    # lines in the same pass; every feature must equal the general path's (which groups by order)
    table = small(store, tmp_path, [
        "A,1,2024-01-10,600,60", "A,2,2024-01-20,400,40", "A,3,2024-03-05,-100,-10",
        "B,1,2024-02-01,300,30", "C,9,2023-02-01,50,5",
    ])
    assert single_line_orders(store, store.dataset("s"))
    general = account_features.customer_features(table, "2024-03-31")
    fast = account_features.customer_features(table, "2024-03-31", single_line_orders=True)
    pd.testing.assert_frame_equal(fast[general.columns], general)
    a = fast.set_index("customer_id").loc["A"]
    assert (a["orders"], a["active_months"]) == (3, 2)  # Jan, Mar
    assert a["largest_order_share"] == pytest.approx(600 / 900)  # net revenue 600 + 400 − 100


def test_active_months_over_more_than_one_bit_word(store, tmp_path):
    # active months are counted from 62-month bit words: months 0–61 before the as-of month in
    # the first word, 62–123 in the second, … ; compare with a plain count of distinct months
    days = ["2024-12-31", "2024-12-01",             # month 0 (twice)
            "2019-11-15",                           # 61 months back: last bit of word 0
            "2019-10-15", "2019-10-01",             # 62 months back: first bit of word 1
            "2014-08-09",                           # 124 months back: word 2
            "2009-01-20"]                           # 191 months back: word 3
    table = small(store, tmp_path, [f"A,{i},{d},10,1" for i, d in enumerate(days)] + ["B,99,2024-06-30,5,1"])
    f = account_features.customer_features(table, "2024-12-31").set_index("customer_id")
    assert f.loc["A", "active_months"] == len({d[:7] for d in days}) == 5
    assert f.loc["A", "regularity"] == pytest.approx(5 / 192)  # Jan 2009 – Dec 2024
    assert f.loc["B", "active_months"] == 1
    # as of a date before some of them: only the months up to it count
    early = account_features.customer_features(table, "2015-01-31").set_index("customer_id")
    assert early.loc["A", "active_months"] == 2


def test_weights_change_the_ranking(store, tmp_path):
    # H: big revenue, thin margin; P: small revenue, fat margin
    table = small(store, tmp_path, ["H,1,2024-01-10,10000,100", "P,2,2024-01-10,1000,500"])
    f = account_features.customer_features(table, "2024-01-31")
    by_revenue = accounts.scorecard(f, {"revenue": 1.0, "margin": 0.0}).table
    by_margin = accounts.scorecard(f, {"revenue": 0.0, "margin": 1.0}).table
    assert by_revenue["customer_id"].tolist() == ["H", "P"] and by_revenue["score"].tolist() == [100.0, 0.0]
    assert by_margin["customer_id"].tolist() == ["P", "H"]
    both = accounts.scorecard(f, {"revenue": 3.0, "margin": 1.0}).table.set_index("customer_id")
    assert both.loc["H", "score"] == 75.0 and both.loc["H", "contrib_revenue"] == 75.0


@pytest.fixture(scope="module")
def demo_card(tmp_path_factory):
    from kam_analytics.store import Store

    folder = tmp_path_factory.mktemp("demo")
    store = Store.open(demo_copy(folder / "demo.duckdb"))
    dataset = store.dataset(demo.DATASET_NAME)
    features = account_features.customer_features(store.table(dataset), "2025-12-31", store.attributes(dataset))
    card = accounts.scorecard(features, as_of="2025-12-31")
    yield card, store, dataset
    store.close()


def flagged(card, flag):
    return set(card.table.loc[accounts.has_flag(card.table, flag), "customer_id"])


def test_demo_planted_patterns_are_found(demo_card):
    card, _, _ = demo_card
    t = card.table.set_index("customer_id")
    # the whale is a key account; the pseudo key accounts are flagged and kept off the list
    assert t.loc["C0001", "key_account"] and t.loc["C0001", "tier"] == "platinum"
    assert flagged(card, "pseudo_key_account") == set(demo.PLANTED["pseudo_key"])
    assert not t.loc[demo.PLANTED["pseudo_key"], "key_account"].any()
    # heavily discounted big accounts: negative margin, discount above margin
    assert flagged(card, "negative_margin") == set(demo.PLANTED["unprofitable"])
    assert set(demo.PLANTED["unprofitable"]) <= flagged(card, "discount_exceeds_margin")
    # slow payers
    assert flagged(card, "overdue") == set(demo.PLANTED["slow_payer"])
    # rising accounts: each is either already a key account or flagged rising
    for cid in demo.PLANTED["rising"]:
        assert t.loc[cid, "key_account"] or "rising" in t.loc[cid, "flags"].split(";"), cid
    assert len(flagged(card, "rising") & set(demo.PLANTED["rising"])) >= 3


def test_cli_gives_the_same_list(demo_card, tmp_path):
    card, store, dataset = demo_card
    from kam_analytics import service

    rows = service.accounts_table(store, service.Slice.of(dataset), "2025-12-31", months=0)  # the whole history
    key = set(rows.loc[rows["key_account"] == "true", "customer_id"])
    assert key == set(card.table.loc[card.table["key_account"], "customer_id"])
    # by default the standard reads the twelve months ending on the date: 2025-01-01 – 2025-12-31
    lines = store.table(dataset)
    in_window = set(lines.filter(lines.order_date >= pd.Timestamp("2025-01-01").to_pydatetime())
                    .select("customer_id").distinct().to_pandas()["customer_id"])
    windowed = service.accounts_table(store, service.Slice.of(dataset), "2025-12-31")
    assert set(windowed["customer_id"]) == in_window
    features = account_features.customer_features(lines, "2025-12-31", store.attributes(dataset),
                                                  since=dt.date(2025, 1, 1))
    expected = accounts.scorecard(features, as_of="2025-12-31").table
    assert set(windowed.loc[windowed["key_account"] == "true", "customer_id"]) == \
        set(expected.loc[expected["key_account"], "customer_id"])
    assert list(rows.columns[:6]) == ["customer_id", "name", "score", "tier", "key_account", "flags"]
    assert {f"criterion_{c}" for c in card.criteria} <= set(rows.columns)


def test_watched_ids_fall_back_to_the_top_fifth(store, tmp_path):
    # 6 customers; a key rule nobody meets -> ⌈0.2 · 6⌉ = 2 with the most revenue, tie broken by id
    table = small(store, tmp_path, ["A,1,2024-01-10,100,1", "B,2,2024-01-10,300,1", "C,3,2024-01-10,300,1",
                                    "D,4,2024-01-10,50,1", "E,5,2024-01-10,20,1", "F,6,2024-01-10,10,1"])
    f = account_features.customer_features(table, "2024-01-31")
    assert accounts.watched_ids(accounts.scorecard(f, key_rule=accounts.KeyRule.by_score(101))) == ({"B", "C"}, True)
    card = accounts.scorecard(f, key_rule=accounts.KeyRule.by_tiers(["platinum"]))
    assert accounts.watched_ids(card) == (set(card.table.loc[card.table["key_account"], "customer_id"]), False)


def test_has_flag_matches_whole_names():
    table = pd.DataFrame({"flags": ["pseudo_key_account;rising", "", None, "rising_fast", "overdue;rising"]})
    assert accounts.has_flag(table, "rising").tolist() == [True, False, False, False, True]
    assert accounts.has_flag(table, "pseudo_key_account").tolist() == [True, False, False, False, False]


def test_over_a_window_a_pseudo_key_account_is_a_one_time_buyer_not_a_thin_old_account(store, tmp_path):
    # as of 2024-12-31 over 12 months (2024-01-01 …): P bought once, big, in February and never
    # before; L bought every month of 2023, then once big in February 2024. Both are silent
    # 334 days, far beyond 3 × the portfolio's monthly rhythm, and both placed one order in
    # the window — but only P's whole history is that order.
    lines, order = [], 0
    def add(customer, day, amount):
        nonlocal order
        order += 1
        lines.append(f"{customer},{order},{day},{amount},{amount / 10}")
    add("P", "2024-02-01", 50_000)
    for month in range(1, 13):
        add("L", f"2023-{month:02d}-15", 100)
    add("L", "2024-02-01", 50_000)
    for r in range(8):
        for month in range(1, 13):
            add(f"R{r}", f"2024-{month:02d}-{10 + r:02d}", 200)
    table = small(store, tmp_path, lines)
    features = account_features.customer_features(table, "2024-12-31", since=dt.date(2024, 1, 1))
    card = accounts.scorecard(features)
    assert card.rhythm_days == pytest.approx(30.4, abs=0.5)   # the R accounts: 11 gaps over 2024
    flagged = set(card.table.loc[accounts.has_flag(card.table, "pseudo_key_account"), "customer_id"])
    assert flagged == {"P"}


def test_ties_within_float_noise_are_ties():
    # 0.1 + 0.2 is 0.30000000000000004 in binary floating point: the same growth summed in
    # another order (another engine) must tie with 0.3, not rank above it
    from kam_analytics.analytics.accounts import comparable, percentile_scores

    values = pd.Series([0.1 + 0.2, 0.3, 0.2, None])
    # ranks (max) of 0.3, 0.3, 0.2 among 3 known: 3, 3, 1 -> (3-1)/2, (3-1)/2, 0 -> 100, 100, 0; missing 50
    assert percentile_scores(values).tolist() == [100.0, 100.0, 0.0, 50.0]
    assert comparable(pd.Series([1234567.8912345678, -0.30000000000000004, 0.0, 1e-300])).tolist() == [
        1234567.89123, -0.3, 0.0, 1e-300]
