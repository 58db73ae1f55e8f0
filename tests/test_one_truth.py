"""One truth in the seat: an account's risk, reason, list, tier, score and key-account status
are the account's — the same with or without a filter, for a scoped lead and an administrator;
the key-account standard reads one window ending on the as-of date; the overview's lapsed count
is the win-back list it opens."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from conftest import demo_copy
from kam_analytics import demo, service
from kam_analytics.analytics.filters import apply_filters

AS_OF = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from kam_analytics.store import Store

    store = Store.open(demo_copy(tmp_path_factory.mktemp("truth") / "demo.duckdb"))
    yield store, store.dataset(demo.DATASET_NAME)
    store.close()


@pytest.fixture(scope="module")
def scored(demo_store):
    """The churn scores of the whole dataset, trained once for the module."""
    store, dataset = demo_store
    return service.churn_scores(store, service.Slice.of(dataset), AS_OF, 90)


def _ids_where(store, dataset, **equal) -> set[str]:
    """The customers with a line whose columns equal ``equal`` (worked out on the lines, not
    by ``listed_ids``)."""
    lines = store.table(dataset)
    for column, value in equal.items():
        lines = lines.filter(lines[column] == value)
    return set(lines.select("customer_id").distinct().to_pandas()["customer_id"])


def _view(frame: pd.DataFrame, columns) -> pd.DataFrame:
    return frame.set_index("customer_id")[list(columns)].sort_index()


def test_a_region_filter_and_a_scope_choose_accounts_never_their_risk(demo_store, scored):
    store, dataset = demo_store
    everyone = service.Slice.of(dataset, "2023-01-01", AS_OF)
    east = service.Slice.of(dataset, "2025-01-01", AS_OF, {"region": ["华东"]})
    lead = service.Slice.of(dataset, None, AS_OF, scope=("李娜",))
    columns = ["risk", "rank_all", "status", "reasons_text"]

    def review(data_slice):
        table = service.churn_list(store, data_slice, AS_OF, 90, scope="all", listing="all", scored=scored).table
        table["rank_all"] = table["customer_id"].map(dict(zip(scored.table["customer_id"], scored.table["rank"])))
        table["reasons_text"] = table["reasons"].map(repr)
        return table

    full = review(everyone)
    for data_slice, expected in ((east, _ids_where(store, dataset, region="华东")),
                                 (lead, _ids_where(store, dataset, owner="李娜"))):
        part = review(data_slice)
        # the accounts listed: exactly the active accounts with a line in the region / of the owner
        active = set(full["customer_id"])
        assert set(part["customer_id"]) == expected & active
        assert 0 < len(part) < len(full)
        pd.testing.assert_frame_equal(_view(part, columns), _view(full, columns).loc[sorted(part["customer_id"])])
        # the list's own ranks are 1..n in the whole list's order
        assert part["rank"].tolist() == list(range(1, len(part) + 1))
        assert part["rank_all"].is_monotonic_increasing


def test_the_scorecard_is_the_accounts_whatever_the_filter(demo_store):
    store, dataset = demo_store
    columns = ["score", "score_rank", "revenue_rank", "tier", "key_account", "flags"]
    whole = service.scorecard(store, service.Slice.of(dataset), AS_OF)
    north = service.Slice.of(dataset, None, AS_OF, {"region": ["华北"]})
    card = service.listed_card(service.scorecard(store, north, AS_OF), service.listed_ids(store, north))
    expected = _ids_where(store, dataset, region="华北") & set(whole.table["customer_id"])
    assert set(card.table["customer_id"]) == expected
    pd.testing.assert_frame_equal(_view(card.table, columns), _view(whole.table, columns).loc[sorted(expected)])


def test_the_standard_reads_the_window_ending_on_the_date_whatever_the_period_start(demo_store):
    store, dataset = demo_store
    all_dates = service.accounts_table(store, service.Slice.of(dataset, "2023-01-01", AS_OF), AS_OF)
    last_year = service.accounts_table(store, service.Slice.of(dataset, "2025-01-01", AS_OF), AS_OF)
    pd.testing.assert_frame_equal(all_dates, last_year)
    # the accounts scored: those with a line in 2025-01-01 … 2025-12-31, counted on the lines
    lines = apply_filters(store.table(dataset), start="2025-01-01", end=AS_OF)
    assert set(all_dates["customer_id"]) == set(lines.select("customer_id").distinct().to_pandas()["customer_id"])
    # a customer's revenue is its 2025 revenue, summed here on the lines
    revenue = lines.group_by("customer_id").aggregate(r=lines.amount.cast("float64").sum()).to_pandas().set_index("customer_id")["r"]
    got = all_dates.set_index("customer_id")["revenue"]
    assert got.round(2).to_dict() == revenue.loc[got.index].round(2).to_dict()


def test_the_window_is_a_saved_setting_only_administrators_change(demo_store):
    from kam_analytics.access import AccessDenied, Identity

    store, dataset = demo_store
    assert service.standard_months(store, dataset) == 12
    with pytest.raises(AccessDenied):
        service.save_standard_months(store, Identity("lead@x", "viewer", ("李娜",)), dataset, 24)
    admin = Identity("boss@x", "admin")
    service.save_standard_months(store, admin, dataset, 24)
    try:
        assert service.standard_months(store, dataset) == 24
        assert any(entry["action"] == "settings" for entry in service.audit_trail(store, admin).to_dict("records"))
    finally:
        service.save_standard_months(store, admin, dataset, 12)


@pytest.mark.parametrize("dimensions,scope", [({}, None), ({"region": ["华南"]}, None), ({}, ("王芳",))])
def test_the_overviews_lapsed_count_is_the_win_back_list(demo_store, scored, dimensions, scope):
    store, dataset = demo_store
    data_slice = service.Slice.of(dataset, None, AS_OF, dimensions, scope)
    win_back = service.churn_list(store, data_slice, AS_OF, 90, scope="key", listing="lapsed", scored=scored).table
    counted = service.lapsed_key_accounts(store, data_slice, AS_OF, 90)
    assert counted["customer_id"].tolist() == win_back["customer_id"].tolist()
    assert counted["revenue_last_year"].tolist() == pytest.approx(win_back["revenue_last_year"].tolist())
    # each one lapsed by its own rhythm, worked out here from its own lines: silent more than
    # max(3 × its mean gap, 60) days
    lines = store.table(dataset)
    for row in counted.head(5).itertuples():
        mine = lines.filter((lines.customer_id == row.customer_id) & (lines.order_date <= pd.Timestamp(AS_OF)))
        orders = mine.group_by("order_id").aggregate(d=mine.order_date.min()).to_pandas()["d"]
        silent = (pd.Timestamp(AS_OF) - orders.max()).days
        gap = (orders.max() - orders.min()).days / (len(orders) - 1) if len(orders) > 1 else None
        assert silent > (max(3 * gap, 60) if gap is not None else 90)


def test_the_top_of_the_list_is_not_tied_and_every_row_says_why(demo_store, scored):
    """The demo's at-risk and lapsed key accounts: distinct risks at the top, in the order the
    list states (risk, then the score, then last year's revenue), and at least one reason in
    words for every row in both languages."""
    from kam_analytics.analytics.churn import reason_text

    store, dataset = demo_store
    table = scored.table
    top = table["risk"].head(10).tolist()
    assert len(set(top)) == 10 and top == sorted(top, reverse=True)
    keys = list(zip(-table["risk"], -table["score"], -table["revenue_year"], table["customer_id"]))
    assert keys == sorted(keys)
    for listing in ("at_risk", "lapsed"):
        listed = service.churn_list(store, service.Slice.of(dataset), AS_OF, 90, "key", scored=scored,
                                    listing=listing).table
        assert len(listed) > 0
        for reasons in listed["reasons"]:
            assert reasons and all(reason_text(r, lang).strip() for r in reasons for lang in ("en", "zh"))


def test_a_key_account_of_the_latest_review_that_lapsed_is_on_the_win_back_list(demo_store, scored, tmp_path):
    from kam_analytics import reviews
    from kam_analytics.access import local_identity

    store, dataset = demo_store
    data_slice = service.Slice.of(dataset)
    whole = service.churn_list(store, data_slice, AS_OF, 90, "all", scored=scored, listing="lapsed").table
    keyed = set(service.churn_list(store, data_slice, AS_OF, 90, "key", scored=scored, listing="lapsed",
                                   reviewed=set()).table["customer_id"])
    outside = sorted(set(whole["customer_id"]) - keyed)[0]  # lapsed, and not a key account now or a horizon ago
    got = service.churn_list(store, data_slice, AS_OF, 90, "key", scored=scored, listing="lapsed", reviewed={outside})
    assert outside in set(got.table["customer_id"]) and keyed <= set(got.table["customer_id"])
    # the latest review on or before the date is the one read, as archived
    assert service.reviewed_key_ids(store, data_slice, AS_OF) == set()
    review = reviews.create_review(store, local_identity(), dataset, as_of="2025-06-30")
    archived = store.reviews.rows(review)
    assert service.reviewed_key_ids(store, data_slice, AS_OF) == set(archived.loc[archived["key_account"], "customer_id"])
    assert service.reviewed_key_ids(store, data_slice, "2025-06-29") == set()
    store.reviews.delete(review.review_id, None)
