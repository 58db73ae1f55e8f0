"""What two archived reviews say about each other, computed from their archived rows only: the
revenue bridge of the earlier review's key accounts, the tier-migration matrix and the accounts
that entered or left the key-account list; and the figures a review archives about the
twelve months ending on its date.

An archived review's rows (``kam_analytics.reviews``) hold, per account, customer_id, tier,
key_account, score, revenue_12m and contrib_<criterion> (each criterion's part of the score);
nothing here reads the lines again, so a comparison reads the same after the dataset is
replaced or the weights are changed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kam_analytics.analytics.accounts import TIERS

BRIDGE_KEYS = ("start_revenue", "expansion", "contraction", "churned", "end_revenue", "new", "nrr", "grr")
PARETO_POINTS = 200  # points a review keeps of its Pareto curve (the curve drawn in the report)


def revenue_12m(ranked: pd.DataFrame) -> pd.DataFrame:
    """customer_id, revenue_12m, profit_12m (when the lines have profit) from
    ``concentration.ranked_customers`` of the twelve months ending on the review date
    (``window.window_start(as_of, 12)`` to as_of, both included): revenue_12m = max(net revenue,
    0) — an account whose returns exceed its sales brought nothing, not less than nothing;
    profit_12m is the net profit as it is (negative when the account lost money)."""
    out = pd.DataFrame({"customer_id": ranked["customer_id"].astype(str),
                        "revenue_12m": ranked["revenue"].astype("float64").clip(lower=0)})
    if "profit" in ranked:
        out["profit_12m"] = ranked["profit"].astype("float64")
    return out


def pareto_points(ranked: pd.DataFrame, max_points: int = PARETO_POINTS) -> list[list[float]]:
    """The Pareto curve of ``ranked`` (``concentration.ranked_customers``: by revenue, largest
    first, ties by customer_id; x = max(revenue, 0)): [customer share, cumulative revenue share]
    pairs from [0, 0] to [1, 1], at most ``max_points`` + 1 of them (evenly spaced customers,
    the last always kept). Empty when no account has a positive revenue."""
    x = ranked["x"].to_numpy(dtype="float64") if len(ranked) else np.array([])
    total = float(x.sum())
    if len(x) == 0 or total <= 0:
        return []
    n = len(x)
    cumulative = np.cumsum(x) / total
    keep = np.unique(np.linspace(1, n, min(n, max_points)).round().astype(int))
    return [[0.0, 0.0]] + [[float(i / n), float(cumulative[i - 1])] for i in keep]


def _revenue(rows: pd.DataFrame) -> pd.Series:
    return pd.Series(rows["revenue_12m"].astype("float64").fillna(0).to_numpy(), index=rows["customer_id"].astype(str))


def bridge(earlier: pd.DataFrame, later: pd.DataFrame) -> dict:
    """The revenue bridge of the earlier review's key accounts C, from the archived revenue_12m
    R0 (earlier) and R1 (later), 0 where an account is absent from a review:

    start_revenue = Σ_C R0; end_revenue = Σ_C R1;
    expansion = Σ max(R1 − R0, 0) and contraction = Σ max(R0 − R1, 0) over the accounts of C
    with R1 > 0; churned = Σ R0 over the accounts of C with R1 = 0;
    new = Σ R1 over the later review's key accounts not in C;
    nrr = end_revenue / start_revenue; grr = Σ_C min(R0, R1) / start_revenue (None when
    start_revenue is 0).

    So start + expansion − contraction − churned = end. An account of C that is no longer a key
    account but still buys stays in C's figures (it is the earlier list being followed)."""
    r0_all, r1_all = _revenue(earlier), _revenue(later)
    key0 = earlier.loc[earlier["key_account"].astype(bool), "customer_id"].astype(str)
    key1 = later.loc[later["key_account"].astype(bool), "customer_id"].astype(str)
    r0 = r0_all.reindex(key0).fillna(0.0).to_numpy()
    r1 = r1_all.reindex(key0).fillna(0.0).to_numpy()
    buying = r1 > 0
    start, end = float(r0.sum()), float(r1.sum())
    newcomers = key1[~key1.isin(set(key0))]
    return {
        "start_revenue": start,
        "expansion": float(np.maximum(r1 - r0, 0)[buying].sum()),
        "contraction": float(np.maximum(r0 - r1, 0)[buying].sum()),
        "churned": float(r0[~buying].sum()),
        "end_revenue": end,
        "new": float(r1_all.reindex(newcomers).fillna(0.0).sum()),
        "nrr": end / start if start > 0 else None,
        "grr": float(np.minimum(r0, r1).sum()) / start if start > 0 else None,
        "key_accounts_start": int(len(key0)),
        "key_accounts_new": int(len(newcomers)),
        "key_accounts_churned": int((~buying).sum()),
    }


def migration(earlier: pd.DataFrame, later: pd.DataFrame, criteria: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tier-migration matrix (rows: tier in the earlier review, columns: in the later one;
    an account absent from one side is 'none') and the accounts that entered or left the
    key-account list: customer_id, name, change ('entered'/'left'), score_before, score_after,
    revenue_before, revenue_after (revenue_12m), criterion — the one of ``criteria`` (those both
    reviews scored) whose part of the score (contrib_<c>) moved most in absolute value (ties:
    the first in ``criteria``), criterion_change (that move, in score points). Entered first,
    then left, each by customer_id."""
    a = earlier.set_index(earlier["customer_id"].astype(str))
    b = later.set_index(later["customer_id"].astype(str))
    ids = a.index.union(b.index)
    order = list(TIERS) + ["none"]
    tier_a = a["tier"].reindex(ids).fillna("none")
    tier_b = b["tier"].reindex(ids).fillna("none")
    matrix = pd.crosstab(tier_a.rename("before"), tier_b.rename("after")).reindex(
        index=order, columns=order, fill_value=0)
    key_a = a["key_account"].reindex(ids).astype("boolean").fillna(False).astype(bool)
    key_b = b["key_account"].reindex(ids).astype("boolean").fillna(False).astype(bool)
    changed = pd.Index(sorted(ids[(key_a != key_b).to_numpy()]))
    before, after = a.reindex(changed), b.reindex(changed)
    moves = pd.DataFrame({"customer_id": changed.astype(str)}, index=changed)
    names = after["name"] if "name" in after else pd.Series(None, index=changed, dtype=object)
    moves["name"] = names.where(names.notna(), before["name"] if "name" in before else None)
    moves["change"] = np.where(key_b.reindex(changed), "entered", "left")
    moves["score_before"], moves["score_after"] = before["score"].astype("float64"), after["score"].astype("float64")
    moves["revenue_before"] = before["revenue_12m"].astype("float64").fillna(0.0)
    moves["revenue_after"] = after["revenue_12m"].astype("float64").fillna(0.0)
    if criteria and len(changed):
        deltas = pd.DataFrame({c: _part(after, c) - _part(before, c) for c in criteria}, index=changed)
        moves["criterion"] = deltas.abs().idxmax(axis=1)  # (ties: the first of ``criteria``)
        moves["criterion_change"] = deltas.to_numpy()[np.arange(len(changed)), deltas.columns.get_indexer(moves["criterion"])]
    else:
        moves["criterion"], moves["criterion_change"] = None, None
    moves = moves.sort_values(["change", "customer_id"], kind="mergesort")  # entered before left
    return matrix, moves.reset_index(drop=True)


def _part(rows: pd.DataFrame, criterion: str) -> pd.Series:
    """The accounts' archived contribution of ``criterion`` to their score (0 when absent)."""
    column = f"contrib_{criterion}"
    if column not in rows:
        return pd.Series(0.0, index=rows.index)
    return rows[column].astype("float64").fillna(0.0)


def migration_json(matrix: pd.DataFrame) -> dict:
    """{tier before: {tier after: accounts}} of a migration matrix, every tier and 'none'."""
    return {str(before): {str(after): int(n) for after, n in row.items()} for before, row in matrix.iterrows()}
