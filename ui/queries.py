"""Cached use cases for the pages: each function caches one ``kam_analytics.service`` call (or
one analysis of a cached result) and adds nothing of its own.

Every cached function takes the view's slice (``service.Slice``: dataset id, dataset version,
period, filters) as its first argument, so a new upload, replace or rename (each bumps the
version) or a new slice gets fresh results, and an unrelated widget change re-uses what is cached.
"""
from __future__ import annotations

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


@st.cache_data(show_spinner=False, max_entries=64)
def periods(key: Slice, freq: str = "month"):
    return service.revenue_by_period(get_store(), key, freq)


@st.cache_data(show_spinner=False, max_entries=64)
def totals(key: Slice):
    return customers.dataset_totals(_table(key))


@st.cache_data(show_spinner=False, max_entries=64)
def headline(key: Slice, period_end):
    return overview.headline(customer_summary(key), period_end)


@st.cache_data(show_spinner=False, max_entries=64)
def attention(key: Slice, period_end):
    owed = receivables(key, period_end) if service.has_receivables(get_store(), key) else None
    return overview.attention_items(customer_summary(key), periods(key, "month"), period_end, owed)


@st.cache_data(show_spinner=False, max_entries=128)
def find_customers(key: Slice, query: str):
    return account.find_customers(_orders(key), query)  # (sums and names: the order table gives the same)


@st.cache_data(show_spinner=False, max_entries=128)
def account_profile(key: Slice, customer_id: str):
    """``account.account_profile`` on the order table, its place in the portfolio from the
    cached ``customer_summary`` every page shares (not a summary of its own)."""
    return account.account_profile(_orders(key), customer_id, summary=customer_summary(key))


@st.cache_data(show_spinner=False, max_entries=128)
def account_attributes(key: Slice, customer_id: str) -> dict:
    store = get_store()
    return account.account_attributes(store.attributes(service.dataset_of(store, key)), customer_id)


@st.cache_data(show_spinner=False, max_entries=64)
def ranked_customers(key: Slice, measure: str = "revenue"):
    return concentration.ranked_customers(_orders(key), measure)


@st.cache_data(show_spinner=False, max_entries=64)
def indicators_by_period(key: Slice, freq: str, measure: str = "revenue"):
    return concentration.indicators_by_period(_orders(key), freq, measure)


@st.cache_data(show_spinner=False, max_entries=64)
def indicators_by_dimension(key: Slice, dimension: str, measure: str = "revenue"):
    return concentration.grouped_indicators(_orders(key), dimension, measure)


@st.cache_data(show_spinner=False, max_entries=32)
def account_features(key: Slice, as_of):
    return service.account_features(get_store(), key, as_of)


@st.cache_data(show_spinner=False, max_entries=32)
def scorecard(key: Slice, as_of, weights: dict, tier_cuts: tuple, key_rule):
    """The scorecard for the page's weights, cuts and rule, on the cached features (0.2 s for
    100,000 accounts: cached too, as every click on the page reruns it)."""
    return service.score_features(account_features(key, as_of), as_of, weights, tier_cuts, key_rule)


def scorecard_weights(key: Slice) -> dict:
    store = get_store()
    return service.scorecard_weights(store, service.dataset_of(store, key))


def default_scorecard(key: Slice, as_of):
    """The scorecard other pages show (``service.scorecard``: saved weights, default tiers
    and key-account rule), on the cached features; cached by the weights as saved now, so a
    change of weights is seen at once."""
    store = get_store()
    weights = service.scorecard_weights(store, service.dataset_of(store, key))
    return _scored(key, as_of, tuple(sorted(weights.items())))


@st.cache_data(show_spinner=False, max_entries=32)
def _scored(key: Slice, as_of, weights: tuple):
    return service.scorecard(get_store(), key, as_of, dict(weights), features=account_features(key, as_of))


@st.cache_data(show_spinner=False, max_entries=32)
def key_account_outlook(key: Slice, as_of, horizon: int = 90):
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
    store = get_store()
    return background.job(("churn", key, as_of, horizon),
                          lambda progress: service.churn_scores(store, key, as_of, horizon, progress), ahead)


def churn_scored(key: Slice, as_of, horizon: int):
    """The churn scores once computed (waiting for ``churn_job`` if need be)."""
    return churn_job(key, as_of, horizon).value()


def churn_list_inputs(key: Slice, as_of, scope: str) -> None:
    """Compute (into the caches) what ``churn_list`` needs besides the scores: the page runs
    it while the scores are being computed."""
    if scope == "key":
        default_scorecard(key, as_of)
    if key.end == as_of:
        customer_summary(key)
    account_dimensions(key)
    if service.has_receivables(get_store(), key):
        receivables(key, as_of)


def _followups_stamp(key: Slice) -> tuple[int, int]:
    store = get_store()
    return store.followups_stamp(service.dataset_of(store, key))


def churn_list(key: Slice, as_of, horizon: int, scope: str, listing: str = "at_risk"):
    """The churn review list (``service.churn_list``) on the cached scores and scorecard,
    cached under the state of the dataset's follow-ups (``Store.followups_stamp``, read on
    every call), so a follow-up saved anywhere shows at once. Shared by the sessions as it is
    (``st.cache_resource``: unpickling a copy of 100,000 scored accounts for each run cost
    more than the list): never changed in place."""
    return _churn_list(key, as_of, horizon, scope, listing, _followups_stamp(key))


def churn_table(key: Slice, as_of, horizon: int, scope: str, listing: str, lang: str):
    """``churn_list`` as the page shows it (``ui.tables.churn_list``: money and reasons in
    words, 0.16 s for 5,500 accounts), cached the same way; never changed in place."""
    return _churn_table(key, as_of, horizon, scope, listing, lang, _followups_stamp(key))


@st.cache_resource(show_spinner=False, max_entries=32)
def _churn_table(key: Slice, as_of, horizon: int, scope: str, listing: str, lang: str, followups: tuple):
    return tables.churn_list(_churn_list(key, as_of, horizon, scope, listing, followups).table, lang, listing)


@st.cache_resource(show_spinner=False, max_entries=32)
def _churn_list(key: Slice, as_of, horizon: int, scope: str, listing: str, followups: tuple):
    return service.churn_list(get_store(), key, as_of, horizon, scope, scored=churn_scored(key, as_of, horizon),
                              card=default_scorecard(key, as_of) if scope == "key" else None,
                              summary=customer_summary(key) if key.end == as_of else None, listing=listing,
                              dimensions=account_dimensions(key),
                              owed=receivables(key, as_of) if service.has_receivables(get_store(), key) else None)


@st.cache_data(show_spinner=False, max_entries=16)
def account_dimensions(key: Slice):
    return service.account_dimensions(get_store(), key)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_backtest(key: Slice, as_of, horizon: int):
    return churn.backtest(_orders(key), as_of, horizon, scored=churn_scored(key, as_of, horizon))


@st.cache_data(show_spinner=False, max_entries=16)
def ordered_in_horizon(key: Slice, as_of, horizon: int) -> set:
    return churn.ordered_in_horizon(_orders(key), as_of, horizon)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_post_mortem(key: Slice, as_of, horizon: int, by: str | None):
    return churn.post_mortem(_orders(key), as_of, horizon, by)


@st.cache_data(show_spinner=False, max_entries=16)
def cohort_retention(key: Slice, as_of):
    return churn.cohort_retention(_orders(key), as_of)
