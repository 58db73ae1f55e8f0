"""Cached use cases for the pages: each function caches one ``kam_analytics.service`` call (or
one analysis of a cached result) and adds nothing of its own.

Every cached function takes the view's slice (``service.Slice``: dataset id, dataset version,
period, filters) as its first argument, so a new upload, replace or rename (each bumps the
version) or a new slice gets fresh results, and an unrelated widget change re-uses what is cached.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from kam_analytics import service
from kam_analytics.analytics import account, churn, concentration, customers, overview
from kam_analytics.service import Slice
from ui import background, tables
from ui.state import get_store


def _table(key: Slice):
    return service.transactions(get_store(), key)


def _orders(key: Slice):
    """The slice summed per order (``service.order_lines``): for figures that only sum, count
    distinct values and take minima and maxima."""
    return service.order_lines(get_store(), key)


@st.cache_data(show_spinner=False, max_entries=64)
def customer_summary(key: Slice):
    return service.customer_summary(get_store(), key)


@st.cache_data(show_spinner=False, max_entries=32)
def standing(key: Slice, as_of):
    """Each account's standing as of ``as_of`` (``churn.standing`` on the whole dataset's
    per-customer summary up to that day): 'active', 'lapsed' or 'gone', by customer_id."""
    table = service.customer_summary(get_store(), service.whole(key), as_of)
    return pd.Series(churn.standing(table, as_of).to_numpy(), index=table["customer_id"]) if len(table) else pd.Series(dtype=str)


@st.cache_data(show_spinner=False, max_entries=64)
def periods(key: Slice, freq: str = "month"):
    return service.revenue_by_period(get_store(), key, freq)


@st.cache_data(show_spinner=False, max_entries=64)
def totals(key: Slice):
    return customers.dataset_totals(_table(key))


@st.cache_data(show_spinner=False, max_entries=64)
def headline(key: Slice, period_end):
    return overview.headline(customer_summary(key), period_end)


def _standard(key: Slice) -> tuple:
    """What the key-account list depends on besides the data, as saved now: the window, the
    weights and the newest archived review (a lapsed key account of the latest review is on the
    win-back list) — a cache key part, so a change of any is seen at once."""
    store = get_store()
    newest = max((r.review_id for r in store.reviews.list(service.dataset_of(store, key).id)), default=0)
    return standard_months(key), tuple(sorted(scorecard_weights(key).items())), newest


def attention(key: Slice, period_end):
    """The overview's findings (``overview.attention_items``); its lapsed count is
    ``lapsed_key_accounts``, the churn page's win-back list."""
    return _attention(key, period_end, _standard(key))


@st.cache_data(show_spinner=False, max_entries=64)
def _attention(key: Slice, period_end, standard: tuple):
    owed = receivables(key, period_end) if service.has_receivables(get_store(), key) else None
    return overview.attention_items(customer_summary(key), periods(key, "month"), period_end, owed,
                                    lapsed_key_accounts(key, period_end))


def lapsed_key_accounts(key: Slice, as_of, horizon: int = overview.LAPSE_HORIZON_DAYS):
    """``service.lapsed_key_accounts`` on the cached scorecard and names."""
    return _lapsed_key_accounts(key, as_of, horizon, _standard(key))


@st.cache_data(show_spinner=False, max_entries=32)
def _lapsed_key_accounts(key: Slice, as_of, horizon: int, standard: tuple):
    return service.lapsed_key_accounts(get_store(), key, as_of, horizon, card=whole_scorecard(key, as_of),
                                       listed=listed_ids(key), summary=customer_summary(service.whole(key)),
                                       card_before=whole_scorecard(key, service.horizon_before(as_of, horizon)))


@st.cache_data(show_spinner=False, max_entries=128)
def find_customers(key: Slice, query: str):
    return account.find_customers(_orders(key), query)  # (sums and names: the order table gives the same)


@st.cache_data(show_spinner=False, max_entries=128)
def account_profile(key: Slice, customer_id: str):
    """``account.account_profile`` on the order table, its place in the portfolio from the
    cached ``customer_summary`` every page shares (not a summary of its own)."""
    return account.account_profile(_orders(key), customer_id, summary=customer_summary(key), end=key.end)


@st.cache_data(show_spinner=False, max_entries=128)
def account_attributes(key: Slice, customer_id: str) -> dict:
    """An account's attributes at the slice's level (a group: its largest member's)."""
    return account.account_attributes(service.attributes(get_store(), key), customer_id)


@st.cache_data(show_spinner=False, max_entries=128)
def group_of(key: Slice, customer_id: str):
    return service.group_of(get_store(), key, customer_id)


@st.cache_data(show_spinner=False, max_entries=64)
def group_member_rows(key: Slice, group_id: str, as_of):
    return service.group_member_rows(get_store(), key, group_id, as_of)


@st.cache_data(show_spinner=False, max_entries=16)
def group_map(key: Slice):
    """Every customer with its group (``service.group_map``: customer_id, name, group_id,
    group_name), for flags that name a group's members."""
    store = get_store()
    return service.group_map(store, service.dataset_of(store, key))


@st.cache_data(show_spinner=False, max_entries=16)
def group_table(key: Slice):
    """group_id, group_name, members, one row per group (``service.group_members``)."""
    return service.group_members(get_store(), key)


@st.cache_data(show_spinner=False, max_entries=8)
def suggest_groups(key: Slice):
    store = get_store()
    return service.suggest_groups(store, service.dataset_of(store, key))


@st.cache_data(show_spinner=False, max_entries=64)
def ranked_customers(key: Slice, measure: str = "revenue"):
    return concentration.ranked_customers(_orders(key), measure)


@st.cache_data(show_spinner=False, max_entries=32)
def account_pnl(key: Slice, start=None, end=None):
    """The account P&L of the slice's accounts (``service.account_pnl``)."""
    return service.account_pnl(get_store(), key, start, end)


@st.cache_data(show_spinner=False, max_entries=32)
def ranked_net_profit(key: Slice):
    """The slice's accounts ranked by net profit (``concentration.ranked_frame`` of the P&L)."""
    return concentration.ranked_frame(account_pnl(key).rows, "net_profit")


@st.cache_data(show_spinner=False, max_entries=64)
def indicators_by_period(key: Slice, freq: str, measure: str = "revenue"):
    return concentration.indicators_by_period(_orders(key), freq, measure)


@st.cache_data(show_spinner=False, max_entries=64)
def indicators_by_dimension(key: Slice, dimension: str, measure: str = "revenue"):
    return concentration.grouped_indicators(_orders(key), dimension, measure)


@st.cache_data(show_spinner=False, max_entries=64)
def listed_ids(key: Slice):
    """The accounts the slice lists (``service.listed_ids``; None = all)."""
    return service.listed_ids(get_store(), key)


def standard_months(key: Slice) -> int:
    """The key-account standard's window as saved now (``service.standard_months``)."""
    store = get_store()
    return service.standard_months(store, service.dataset_of(store, key))


def account_features(key: Slice, as_of):
    """The scorecard features of every account (``service.account_features``: the whole
    dataset over the standard's window), cached once for every filter and scope."""
    return _features(service.whole(key), as_of, standard_months(key))


@st.cache_data(show_spinner=False, max_entries=32)
def _features(whole: Slice, as_of, months: int):
    return service.account_features(get_store(), whole, as_of, months)


def scorecard(key: Slice, as_of, weights: dict, tier_cuts: tuple, key_rule):
    """The scorecard for the page's weights, cuts and rule, on the cached features, of every
    account (``service.listed_card`` narrows it to the slice's)."""
    return _scorecard(service.whole(key), as_of, standard_months(key), weights, tier_cuts, key_rule)


@st.cache_data(show_spinner=False, max_entries=32)
def _scorecard(whole: Slice, as_of, months: int, weights: dict, tier_cuts: tuple, key_rule):
    # (0.2 s for 100,000 accounts: cached too, as every click on the page reruns it)
    return service.score_features(_features(whole, as_of, months), as_of, weights, tier_cuts, key_rule)


def scorecard_weights(key: Slice) -> dict:
    store = get_store()
    return service.scorecard_weights(store, service.dataset_of(store, key))


def whole_scorecard(key: Slice, as_of):
    """The scorecard other pages use (``service.scorecard``: saved weights and window, default
    tiers and key-account rule) of every account, on the cached features; cached by the
    weights and window as saved now, so a change of either is seen at once."""
    store = get_store()
    weights = service.scorecard_weights(store, service.dataset_of(store, key))
    return _scored(service.whole(key), as_of, standard_months(key), tuple(sorted(weights.items())))


def default_scorecard(key: Slice, as_of):
    """``whole_scorecard`` showing the slice's accounts (``service.listed_card``)."""
    return _listed_scorecard(key, as_of, _standard(key))


@st.cache_data(show_spinner=False, max_entries=32)
def _listed_scorecard(key: Slice, as_of, standard: tuple):
    return service.listed_card(whole_scorecard(key, as_of), listed_ids(key))


@st.cache_data(show_spinner=False, max_entries=32)
def _scored(whole: Slice, as_of, months: int, weights: tuple):
    return service.scorecard(get_store(), whole, as_of, dict(weights), features=_features(whole, as_of, months))


def key_account_outlook(key: Slice, as_of, horizon: int = 90):
    return _outlook(key, as_of, horizon, _standard(key))


@st.cache_data(show_spinner=False, max_entries=32)
def _outlook(key: Slice, as_of, horizon: int, standard: tuple):
    return service.key_account_outlook(get_store(), key, as_of, horizon, card=default_scorecard(key, as_of))


@st.cache_data(show_spinner=False, max_entries=32)
def receivables(key: Slice, as_of):
    return service.receivables(get_store(), key, as_of)


@st.cache_data(show_spinner=False, max_entries=128)
def receivables_history(key: Slice, customer_id: str, as_of):
    return service.receivables_history(get_store(), key, customer_id, as_of)


@st.cache_data(show_spinner=False, max_entries=32)
def rfm_scores(key: Slice, as_of):
    """RFM scores and segments (``service.rfm_scores``): what the segment tabs show, without
    the clustering only the cluster tabs need (0.5–1.4 s at 100,000 customers)."""
    return service.rfm_scores(get_store(), key, as_of)


@st.cache_data(show_spinner=False, max_entries=32)
def rfm_result(key: Slice, as_of, n_clusters="auto"):
    """``rfm_scores`` clustered (``rfm.cluster_customers``, on the cached scores' copy):
    the result, the silhouette (None when there was nothing to cluster) and k."""
    from kam_analytics.analytics import rfm

    result = rfm_scores(key, as_of)
    model = rfm.cluster_customers(result, n_clusters)
    return result, (model.silhouette_ if model is not None else None), (model.n_clusters_ if model is not None else 1)


def churn_job(key: Slice, as_of, horizon: int, ahead: bool = False):
    """The churn scores (``service.churn_scores``) as a job of the app process
    (``ui.background``): trained once per slice and date, whoever asks first, and shared by
    every session; it tells the step it is at. ``ahead``: asked by ``ui.prepare``, not a page."""
    store, everything = get_store(), service.whole(key)
    return background.job(("churn", everything, as_of, horizon),
                          lambda progress: service.churn_scores(store, everything, as_of, horizon, progress), ahead)


def churn_scored(key: Slice, as_of, horizon: int):
    """The churn scores once computed (waiting for ``churn_job`` if need be)."""
    return churn_job(key, as_of, horizon).value()


def churn_list_inputs(key: Slice, as_of, scope: str, horizon: int = 90) -> None:
    """Compute (into the caches) what ``churn_list`` needs besides the scores: the page runs
    it while the scores are being computed."""
    everything = service.whole(key)
    if scope == "key":
        whole_scorecard(key, as_of)
        whole_scorecard(key, service.horizon_before(as_of, horizon))
    customer_summary(everything)
    account_dimensions(everything)
    listed_ids(key)
    if service.has_receivables(get_store(), key):
        receivables(everything, as_of)


def _followups_stamp(key: Slice) -> tuple[int, int]:
    store = get_store()
    return store.followups_stamp(service.dataset_of(store, key))


def churn_list(key: Slice, as_of, horizon: int, scope: str, listing: str = "at_risk"):
    """The churn review list (``service.churn_list``) on the cached scores and scorecard,
    cached under the state of the dataset's follow-ups (``Store.followups_stamp``, read on
    every call), so a follow-up saved anywhere shows at once. Shared by the sessions as it is
    (``st.cache_resource``: unpickling a copy of 100,000 scored accounts for each run cost
    more than the list): never changed in place."""
    return _churn_list(key, as_of, horizon, scope, listing, _followups_stamp(key), _standard(key))


def churn_table(key: Slice, as_of, horizon: int, scope: str, listing: str, lang: str):
    """``churn_list`` as the page shows it (``ui.tables.churn_list``: money and reasons in
    words, 0.16 s for 5,500 accounts), cached the same way; never changed in place."""
    return _churn_table(key, as_of, horizon, scope, listing, lang, _followups_stamp(key), _standard(key))


@st.cache_resource(show_spinner=False, max_entries=32)
def _churn_table(key: Slice, as_of, horizon: int, scope: str, listing: str, lang: str, followups: tuple,
                 standard: tuple):
    return tables.churn_list(_churn_list(key, as_of, horizon, scope, listing, followups, standard).table, lang, listing)


@st.cache_resource(show_spinner=False, max_entries=32)
def _churn_list(key: Slice, as_of, horizon: int, scope: str, listing: str, followups: tuple, standard: tuple):
    everything = service.whole(key)
    return service.churn_list(get_store(), key, as_of, horizon, scope, scored=churn_scored(key, as_of, horizon),
                              card=whole_scorecard(key, as_of) if scope == "key" else None,
                              card_before=whole_scorecard(key, service.horizon_before(as_of, horizon)) if scope == "key" else None,
                              summary=customer_summary(everything), listing=listing,
                              dimensions=account_dimensions(everything), listed=listed_ids(key),
                              owed=receivables(everything, as_of) if service.has_receivables(get_store(), key) else None)


@st.cache_data(show_spinner=False, max_entries=16)
def account_dimensions(key: Slice):
    return service.account_dimensions(get_store(), key)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_backtest(key: Slice, as_of, horizon: int):
    """The model card's backtest: the model's, on every account (``service.whole``)."""
    return churn.backtest(_orders(service.whole(key)), as_of, horizon, scored=churn_scored(key, as_of, horizon))


@st.cache_data(show_spinner=False, max_entries=16)
def ordered_in_horizon(key: Slice, as_of, horizon: int) -> set:
    return churn.ordered_in_horizon(_orders(service.whole(key)), as_of, horizon)  # (an order anywhere counts)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_post_mortem(key: Slice, as_of, horizon: int, by: str | None):
    return churn.post_mortem(_orders(key), as_of, horizon, by)


@st.cache_data(show_spinner=False, max_entries=16)
def cohort_retention(key: Slice, as_of):
    return churn.cohort_retention(_orders(key), as_of)
