"""Revenue an account is expected to bring over the next horizon if it stays, with a plain
range, and how well that expectation held in a replay.

expected_revenue = revenue_year × horizon_days / observed_days, where revenue_year is the
account's net revenue in the 365 days up to as_of (a negative year counts as 0) and
observed_days = min(tenure_days + 1, 365): the pace of its last year — or of its whole life
when it is younger than a year — held for the horizon.

Range: the orders it places in the horizon taken as Poisson with mean
orders_year × horizon_days / observed_days (orders_year: orders started in those 365 days, at
least 1); low and high are that count's 10th and 90th percentiles × the year's average order
value (revenue_year / orders_year). A steady account gets a narrow range, an occasional buyer
a wide one that starts at 0.

revenue_at_risk = P(lapse) × expected_revenue.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from kam_analytics.analytics.customers import among

YEAR_DAYS = 365
RANGE = (0.10, 0.90)


def expected_revenue(features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """expected_revenue, expected_low, expected_high for each row of ``features`` (columns
    revenue_year, orders_year, tenure_days, from ``churn.snapshot_features``), same index."""
    observed = np.minimum(features["tenure_days"].to_numpy(dtype=float) + 1, YEAR_DAYS)
    revenue = features["revenue_year"].fillna(0).clip(lower=0).to_numpy(dtype=float)
    orders = np.maximum(features["orders_year"].fillna(0).to_numpy(dtype=float), 1)
    scale = horizon_days / observed
    mean_orders = orders * scale
    order_value = revenue / orders
    low, high = (poisson_quantile(q, mean_orders) * order_value for q in RANGE)
    return pd.DataFrame({"expected_revenue": revenue * scale, "expected_low": low, "expected_high": high},
                        index=features.index)


def poisson_quantile(q: float, mean: np.ndarray) -> np.ndarray:
    """The smallest count k with P(N ≤ k) ≥ q for N ~ Poisson(mean) (mean > 0, 0 < q < 1), as
    scipy.stats.poisson.ppf computes it, from scipy.special alone (scipy.stats takes half a
    second to import, on every page's first visit)."""
    upper = np.ceil(special.pdtrik(q, mean))
    lower = np.maximum(upper - 1, 0)
    return np.where(special.pdtr(lower, mean) >= q, lower, upper)


def revenue_check(expected: pd.DataFrame, actual: pd.Series) -> dict:
    """How the expectation held for accounts that stayed: ``expected`` (rows of
    ``expected_revenue``) against ``actual`` revenue in the horizon (same index).

    wape = Σ|expected − actual| / Σ|actual| (weighted absolute percentage error: how far off,
    in share of the revenue that came); bias = Σexpected / Σactual − 1 (above 0: expected too
    much); in_range = share of accounts whose actual revenue fell within [low, high]. None
    when no account stayed or none brought revenue."""
    actual = actual.reindex(expected.index).fillna(0).astype(float)
    if expected.empty:
        return {"accounts": 0, "wape": None, "bias": None, "in_range": None}
    total = float(actual.abs().sum())
    inside = (actual >= expected["expected_low"] - 1e-9) & (actual <= expected["expected_high"] + 1e-9)
    return {"accounts": int(len(expected)),
            "wape": float((expected["expected_revenue"] - actual).abs().sum() / total) if total > 0 else None,
            "bias": float(expected["expected_revenue"].sum() / actual.sum() - 1) if actual.sum() > 0 else None,
            "in_range": float(inside.mean())}


def revenue_a_year_earlier(table, as_of, horizon_days: int) -> pd.DataFrame:
    """Per customer (customer_id, revenue): net revenue of the lines dated in the horizon's
    days one year (365 days) earlier — after as_of − 365 days, up to as_of − 365 + horizon_days
    (whole days) — aggregated in the database."""
    from kam_analytics.analytics.filters import end_of_day

    day = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=YEAR_DAYS)
    after, until = end_of_day(day), end_of_day(day + pd.Timedelta(days=horizon_days))
    window = table.filter((table.order_date > after) & (table.order_date <= until))
    return window.group_by("customer_id").aggregate(revenue=window.amount.cast("float64").sum()).to_pandas()


def outlook(features: pd.DataFrame, earlier: pd.DataFrame, as_of, horizon_days: int) -> dict | None:
    """A group of accounts' expected revenue over the next horizon against what the same
    accounts brought in the same days a year earlier.

    ``features``: the accounts (customer_id, recent_revenue = net revenue of the 365 days up to
    as_of, tenure_days), e.g. the key accounts of the scorecard; ``earlier``:
    ``revenue_a_year_earlier``. expected = Σ expected_revenue (the pace of each account's last
    year, as above; a negative year counts as 0); last_year = Σ their revenue in those days a
    year earlier (accounts without any count 0); change = expected / last_year − 1, None when
    last_year ≤ 0; the days as dates: next_from..next_to (the horizon after as_of) and
    earlier_from..earlier_to (the same days 365 days before). None for no accounts."""
    if features.empty:
        return None
    pace = expected_revenue(pd.DataFrame({"revenue_year": features["recent_revenue"].to_numpy(dtype=float),
                                          "orders_year": 1.0,
                                          "tenure_days": features["tenure_days"].to_numpy(dtype=float)}),
                            horizon_days)
    expected = float(pace["expected_revenue"].sum())
    # (earlier has a row per customer: the accounts' revenue is the sum over their rows of it)
    last_year = float(earlier.loc[among(earlier["customer_id"], features["customer_id"]), "revenue"].fillna(0.0).sum())
    first = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    last = first + pd.Timedelta(days=horizon_days - 1)
    year = pd.Timedelta(days=YEAR_DAYS)
    return {"accounts": int(len(features)), "expected": expected, "last_year": last_year,
            "change": expected / last_year - 1 if last_year > 0 else None, "horizon_days": int(horizon_days),
            "next_from": first.date().isoformat(), "next_to": last.date().isoformat(),
            "earlier_from": (first - year).date().isoformat(), "earlier_to": (last - year).date().isoformat()}
