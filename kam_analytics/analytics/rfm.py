"""RFM: recency, frequency and monetary value per customer as of a date, 1–5 scores with a
deterministic tie rule, and named segments from a rule table that covers every (R, F) pair
exactly once.

The per-customer values are aggregated in the database (Ibis); scoring and segments work on
that one row per customer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from kam_analytics.analytics.customers import summary_metrics
from kam_analytics.analytics.filters import apply_filters

# Segment rule table on (R score, F score), after the R×F segment map popularised by Putler's
# RFM analysis, with its 1-1 cell named "Lost". Each (R, F) pair from 1–5 falls in exactly
# one segment (tests/test_rfm.py proves it). Order = display order, best first.
def _cells(rs, fs) -> frozenset:
    return frozenset((r, f) for r in rs for f in fs)


SEGMENTS: list[tuple[str, frozenset]] = [
    ("champions", _cells({5}, {4, 5})),
    ("loyal", _cells({3, 4}, {4, 5})),
    ("potential_loyalists", _cells({4, 5}, {2, 3})),
    ("new", _cells({5}, {1})),
    ("promising", _cells({4}, {1})),
    ("need_attention", _cells({3}, {3})),
    ("about_to_sleep", _cells({3}, {1, 2})),
    ("cant_lose", _cells({1, 2}, {5})),
    ("at_risk", _cells({1, 2}, {3, 4})),
    ("hibernating", _cells({1, 2}, {1, 2}) - {(1, 1)}),
    ("lost", _cells({1}, {1})),
]
SEGMENT_ORDER = [name for name, _ in SEGMENTS]
_SEGMENT_OF = {cell: name for name, cells in SEGMENTS for cell in cells}


def segment_of(r: int, f: int) -> str:
    """The segment of an (R, F) pair (see ``SEGMENTS``)."""
    return _SEGMENT_OF[(int(r), int(f))]


def rfm_values(table: ibis.Table, as_of, single_line_orders: bool = False) -> pd.DataFrame:
    """One row per customer with transactions up to ``as_of`` (nothing after it is used):
    recency_days (as_of − last order date, whole days), frequency (distinct orders, or order
    days without order ids), monetary (net revenue), tenure_days (as_of − first order),
    avg_order_value (monetary / frequency), name when known. Ordered by customer_id.
    ``single_line_orders``: see ``filters.orders_expr`` (same values, a cheaper count)."""
    t = apply_filters(table, as_of=as_of)
    day = pd.Timestamp(as_of).normalize()
    base = summary_metrics(t, single_line_orders)  # the per-customer summary, in RFM's words
    metrics = {"first": base["first_order"], "last": base["last_order"], "frequency": base["orders"],
               "monetary": base["revenue"]}
    if "name" in base:
        metrics["name"] = base["name"]
    out = t.group_by("customer_id").aggregate(**metrics).order_by("customer_id").to_pandas()
    out["recency_days"] = (day - pd.to_datetime(out["last"]).dt.normalize()).dt.days
    out["tenure_days"] = (day - pd.to_datetime(out["first"]).dt.normalize()).dt.days
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    return out.drop(columns=["first", "last"]).reset_index(drop=True)


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1–5 by position: score = 1 + ⌊5 · (r − 1) / n⌋, where r is the value's rank
    counted from the worst with ties taking the lowest rank of their group (method 'min').
    So equal values always get equal scores and a big tie is pulled down to the score where
    it starts; with n ≥ 5 distinct positions the best reaches 5, with fewer customers the top
    score is lower (3 customers score 1, 2, 4). Higher is better unless told otherwise
    (recency: fewer days is better, so recent = 5)."""
    if values.empty:
        return pd.Series(dtype="int64")
    ranks = values.rank(method="min", ascending=higher_is_better)
    return (1 + np.floor(5 * (ranks - 1) / len(values))).astype(int)


def thresholds(values: pd.Series, scores: pd.Series) -> pd.DataFrame:
    """The value range each score actually covers (score, customers, min, max)."""
    frame = pd.DataFrame({"score": scores, "value": values})
    return frame.groupby("score")["value"].agg(customers="count", min="min", max="max").reset_index()


@dataclass
class RFM:
    """Scored customers (``table``) and the notes on ties: ``collapsed`` maps a dimension
    ('r', 'f', 'm') to the scores it actually uses when ties leave fewer than five."""

    table: pd.DataFrame
    as_of: object
    collapsed: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)


def rfm(values: pd.DataFrame, as_of=None) -> RFM:
    """R, F, M scores (1–5), rfm_score (e.g. '545'), segment (``segment_of``)."""
    out = values.copy()
    out["r_score"] = quintile_scores(out["recency_days"], higher_is_better=False)
    out["f_score"] = quintile_scores(out["frequency"])
    out["m_score"] = quintile_scores(out["monetary"])
    out["rfm_score"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    out["segment"] = [segment_of(r, f) for r, f in zip(out["r_score"], out["f_score"])]
    result = RFM(out, as_of)
    for dim, column in (("r", "recency_days"), ("f", "frequency"), ("m", "monetary")):
        used = sorted(out[f"{dim}_score"].unique().tolist())
        result.thresholds[dim] = thresholds(out[column], out[f"{dim}_score"])
        if len(used) < 5 and len(out) >= 5:
            result.collapsed[dim] = used
    return result


def segment_summary(result: RFM) -> pd.DataFrame:
    """Per segment in display order: customers, revenue, revenue_share (of the net total),
    median recency, frequency and monetary. Segments without customers show 0."""
    t = result.table
    total = t["monetary"].sum()
    agg = t.groupby("segment").agg(customers=("customer_id", "count"), revenue=("monetary", "sum"),
                                   recency=("recency_days", "median"), frequency=("frequency", "median"),
                                   monetary=("monetary", "median"))
    agg = agg.reindex(SEGMENT_ORDER)
    agg[["customers", "revenue"]] = agg[["customers", "revenue"]].fillna(0)
    agg["customers"] = agg["customers"].astype(int)
    agg["revenue_share"] = agg["revenue"] / total if total else np.nan
    return agg.reset_index().rename(columns={"index": "segment"})


def rf_grid(result: RFM) -> pd.DataFrame:
    """Customers per (R, F) cell: rows R 5→1, columns F 1→5."""
    t = result.table
    grid = pd.crosstab(t["r_score"], t["f_score"]).reindex(index=[5, 4, 3, 2, 1], columns=[1, 2, 3, 4, 5], fill_value=0)
    return grid


def migration(before: RFM, after: RFM) -> pd.DataFrame:
    """Customers by segment at the first date (rows) and the second (columns); 'none' = no
    transactions yet at that date."""
    ids = pd.Index(before.table["customer_id"]).union(after.table["customer_id"])
    a = before.table.set_index("customer_id")["segment"].reindex(ids).fillna("none")
    b = after.table.set_index("customer_id")["segment"].reindex(ids).fillna("none")
    order = SEGMENT_ORDER + ["none"]
    return pd.crosstab(a, b).reindex(index=order, columns=order, fill_value=0)


CLUSTER_FEATURES = ["recency_days", "frequency", "monetary", "tenure_days", "avg_order_value"]


def cluster_customers(result: RFM, n_clusters="auto", random_state: int = 0):
    """Fit ``RFMClusterer`` on the customers' RFM features; adds ``cluster`` (0-based, renumbered
    so cluster 0 has the most revenue) and ``cluster_name`` to ``result.table``. Returns the
    fitted estimator."""
    from kam_analytics.models.segmentation import RFMClusterer

    t = result.table
    if len(t) < 3:
        t["cluster"], t["cluster_name"] = 0, "all"
        return None
    model = RFMClusterer(n_clusters=n_clusters, random_state=random_state).fit(t[CLUSTER_FEATURES].to_numpy())
    labels = pd.Series(model.labels_, index=t.index)
    revenue = t["monetary"].groupby(labels).sum().sort_values(ascending=False, kind="mergesort")
    renumber = {old: new for new, old in enumerate(revenue.index)}
    t["cluster"] = labels.map(renumber).astype(int)
    names = cluster_names(t)
    t["cluster_name"] = t["cluster"].map(names)
    return model


def _level(value: float, series: pd.Series, words: tuple[str, str, str], higher_first: bool = True) -> str:
    low, high = series.quantile([1 / 3, 2 / 3])
    if higher_first:
        return words[0] if value >= high else (words[2] if value <= low else words[1])
    return words[0] if value <= low else (words[2] if value >= high else words[1])


def cluster_names(t: pd.DataFrame) -> dict[int, str]:
    """A plain-language name per cluster from its medians against all customers' terciles
    (at or beyond a tercile boundary counts as beyond it): recency recent/lapsing/dormant,
    frequency frequent/occasional/rare, value high/mid/low, tenure long_standing/established/new
    — joined as 'recent-frequent-high-long_standing' (the page translates each word). Tenure is
    named because the clusters are fitted on it too: a group of newer customers otherwise
    looks like a random subset on the R/F/M words."""
    names = {}
    for cluster, group in t.groupby("cluster"):
        names[int(cluster)] = "-".join([
            _level(group["recency_days"].median(), t["recency_days"], ("recent", "lapsing", "dormant"), False),
            _level(group["frequency"].median(), t["frequency"], ("frequent", "occasional", "rare")),
            _level(group["monetary"].median(), t["monetary"], ("high", "mid", "low")),
            _level(group["tenure_days"].median(), t["tenure_days"], ("long_standing", "established", "new")),
        ])
    return names


def cluster_profiles(result: RFM) -> pd.DataFrame:
    """Per cluster: name, customers, revenue share, median recency, frequency, monetary, tenure."""
    t = result.table
    total = t["monetary"].sum()
    out = t.groupby("cluster").agg(cluster_name=("cluster_name", "first"), customers=("customer_id", "count"),
                                   revenue=("monetary", "sum"), recency=("recency_days", "median"),
                                   frequency=("frequency", "median"), monetary=("monetary", "median"),
                                   tenure=("tenure_days", "median")).reset_index()
    out["revenue_share"] = out["revenue"] / total if total else np.nan
    return out


def rfm_export(result: RFM) -> pd.DataFrame:
    """The ``rfm --out`` rows: customer_id, recency_days, frequency, monetary, r_score, f_score,
    m_score, rfm_score, segment, cluster, cluster_name."""
    columns = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
               "rfm_score", "segment", "cluster", "cluster_name"]
    out = result.table[[c for c in columns if c in result.table]].copy()
    out["monetary"] = out["monetary"].round(2)
    return out
