"""Cached library calls for the pages.

Every cached function takes the view's key (dataset id, dataset version, period, filters)
as its first argument, so a new upload, replace or rename (each bumps the version) or a new
slice gets fresh results, and an unrelated widget change re-uses what is cached.
"""
from __future__ import annotations

import streamlit as st

from kam_analytics.analytics import account, accounts, churn, concentration, customers, overview, rfm, trend
from kam_analytics.analytics.account_features import customer_features
from kam_analytics.analytics.filters import apply_filters, single_line_orders
from ui.state import get_store


def _table(key: tuple):
    dataset_id, _version, start, end, dims = key
    store = get_store()
    dataset = store.dataset_by_id(dataset_id)
    return apply_filters(store.table(dataset), start=start, end=end,
                         dimensions={name: list(values) for name, values in dims})


def _single_line_orders(key: tuple) -> bool:
    store = get_store()
    return single_line_orders(store, store.dataset_by_id(key[0]))


@st.cache_data(show_spinner=False, max_entries=64)
def customer_summary(key: tuple):
    return customers.customer_summary(_table(key), _single_line_orders(key))


@st.cache_data(show_spinner=False, max_entries=64)
def periods(key: tuple, freq: str = "month"):
    return trend.revenue_by_period(_table(key), freq, _single_line_orders(key))


@st.cache_data(show_spinner=False, max_entries=64)
def totals(key: tuple):
    return customers.dataset_totals(_table(key))


def headline(key: tuple, period_end):
    return overview.headline(customer_summary(key), period_end)


def attention(key: tuple, period_end):
    return overview.attention_items(customer_summary(key), periods(key, "month"), period_end)


@st.cache_data(show_spinner=False, max_entries=128)
def find_customers(key: tuple, query: str):
    return account.find_customers(_table(key), query)


@st.cache_data(show_spinner=False, max_entries=128)
def account_profile(key: tuple, customer_id: str):
    return account.account_profile(_table(key), customer_id)


@st.cache_data(show_spinner=False, max_entries=128)
def account_attributes(key: tuple, customer_id: str) -> dict:
    store = get_store()
    dataset = store.dataset_by_id(key[0])
    return account.account_attributes(store.attributes(dataset), customer_id)


@st.cache_data(show_spinner=False, max_entries=64)
def ranked_customers(key: tuple, measure: str = "revenue"):
    return concentration.ranked_customers(_table(key), measure)


@st.cache_data(show_spinner=False, max_entries=64)
def indicators_by_period(key: tuple, freq: str, measure: str = "revenue"):
    return concentration.indicators_by_period(_table(key), freq, measure)


@st.cache_data(show_spinner=False, max_entries=64)
def indicators_by_dimension(key: tuple, dimension: str, measure: str = "revenue"):
    return concentration.grouped_indicators(_table(key), dimension, measure)


@st.cache_data(show_spinner=False, max_entries=32)
def account_features(key: tuple, as_of):
    store = get_store()
    return customer_features(_table(key), as_of, store.attributes(store.dataset_by_id(key[0])),
                             single_line_orders=_single_line_orders(key))


def scorecard(key: tuple, as_of, weights: dict, tier_cuts: tuple, key_rule: dict):
    """Scoring is cheap once the features are cached: computed on every run."""
    return accounts.scorecard(account_features(key, as_of), weights, tier_cuts, key_rule, as_of)


def default_scorecard(view, as_of=None):
    """The scorecard other pages show: the weights saved on the Key accounts page (else the
    balanced preset), default tiers and the default key-account rule."""
    weights = view.store.get_setting(view.dataset, "scorecard_weights") or accounts.PRESETS["balanced"]
    return scorecard(view.key, as_of or view.end, weights, accounts.TIER_CUTS,
                     {"kind": "score", "min": accounts.KEY_SCORE})


@st.cache_data(show_spinner=False, max_entries=32)
def rfm_result(key: tuple, as_of, n_clusters="auto"):
    result = rfm.rfm(rfm.rfm_values(_table(key), as_of, _single_line_orders(key)), as_of)
    model = rfm.cluster_customers(result, n_clusters)
    return result, (model.silhouette_ if model is not None else None), (model.n_clusters_ if model is not None else 1)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_scored(key: tuple, as_of, horizon: int):
    return churn.score_accounts(_table(key), as_of, horizon)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_backtest(key: tuple, as_of, horizon: int):
    return churn.backtest(_table(key), as_of, horizon)


@st.cache_data(show_spinner=False, max_entries=16)
def churn_post_mortem(key: tuple, as_of, horizon: int, by: str | None):
    return churn.post_mortem(_table(key), as_of, horizon, by)


@st.cache_data(show_spinner=False, max_entries=16)
def cohort_retention(key: tuple, as_of):
    return churn.cohort_retention(_table(key), as_of)
