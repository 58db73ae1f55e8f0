"""Identify key accounts the way the KAM method says: a multi-criteria customer value
scorecard (客户价值计分卡), the customer pyramid (Platinum / Gold / Iron / Lead after
Zeithaml, Rust & Lemon 2001), pseudo key accounts (伪大客户), margin and discount checks,
rising accounts, and the key-account list with its rule.

Per-customer features are aggregated in the database (``account_features.customer_features``,
Ibis); the scorecard, tiers and flags are computed from that one row per customer.

References
----------
Zeithaml, V. A., Rust, R. T., & Lemon, K. N. (2001). The customer pyramid: creating and
serving profitable customers. California Management Review, 43(4), 118–142.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kam_analytics.analytics.account_features import RECENT_DAYS
from kam_analytics.analytics.window import STANDARD_MONTHS, STANDARD_WINDOWS, window_start  # noqa: F401 (re-exported)

TIERS = ("platinum", "gold", "iron", "lead")
TIER_CUTS = (0.20, 0.50, 0.80)  # cumulative share of customers: top 20% / next 30% / next 30% / rest
KEY_SCORE = 75.0
PSEUDO_TOP_SHARE = 0.20      # "large": among the top 20% by revenue
PSEUDO_ORDER_SHARE = 0.60    # one order is at least 60% of the customer's revenue …
PSEUDO_MAX_ORDERS = 2        # … or the customer placed at most 2 orders
PSEUDO_SILENCE = 3.0         # and has been silent for more than 3 × the portfolio's ordering rhythm
RISING_GROWTH = 1.5          # recent-year revenue at least 1.5 × the year before
OVERDUE_DAYS = 30.0
# the flags a scored customer may carry (``scorecard`` says when each is raised)
FLAGS = ("pseudo_key_account", "negative_margin", "discount_exceeds_margin", "overdue", "rising")

# criterion -> (feature column, higher is better)
CRITERIA: dict[str, tuple[str, bool]] = {
    "revenue": ("revenue", True),
    "orders": ("orders", True),
    "regularity": ("regularity", True),
    "avg_order_value": ("avg_order_value", True),
    "margin": ("margin", True),
    "collection_rate": ("collection_rate", True),
    "overdue_days": ("overdue_days", False),
    "tenure": ("tenure_days", True),
    "growth": ("growth_ratio", True),
    "credit": ("credit_score", True),
    "influence": ("industry_influence", True),
    # net profit after the cost to serve ÷ revenue over the standard's window (``analytics.costs``;
    # only with a costs file); weight 0 in every preset, so attaching costs moves no score
    "net_margin": ("net_margin", True),
}
PRESETS: dict[str, dict[str, float]] = {
    "balanced": {c: 0.0 if c == "net_margin" else 1.0 for c in CRITERIA},
    "value": {"revenue": 3, "margin": 3, "avg_order_value": 1, "orders": 1, "growth": 1, "collection_rate": 1,
              "overdue_days": 1, "regularity": 1, "tenure": 0.5, "credit": 0.5, "influence": 0.5},
    "relationship": {"regularity": 3, "tenure": 2, "orders": 2, "collection_rate": 2, "overdue_days": 1,
                     "revenue": 1, "margin": 1, "growth": 1, "avg_order_value": 0.5, "credit": 1, "influence": 1},
}


def available_criteria(features: pd.DataFrame) -> list[str]:
    """Criteria the data supports: the feature column exists and has a value for someone."""
    return [c for c, (col, _) in CRITERIA.items() if col in features and features[col].notna().any()]


TIE_DIGITS = 12  # significant digits two criterion values are compared at (``comparable``)


def comparable(values: pd.Series, digits: int = TIE_DIGITS) -> pd.Series:
    """``values`` rounded to ``digits`` significant digits (0 and non-finite values as they are):
    what ranks and ties are computed on, the same on DuckDB and Spark."""
    x = values.to_numpy(dtype="float64")
    finite = np.isfinite(x) & (np.abs(x) > 1e-280) & (np.abs(x) < 1e280)  # (10 ** scale stays finite)
    scale = np.zeros_like(x)
    scale[finite] = digits - 1 - np.floor(np.log10(np.abs(x[finite])))
    out = x.copy()
    out[finite] = np.round(x[finite] * 10.0 ** scale[finite]) / 10.0 ** scale[finite]
    return pd.Series(out, index=values.index)


def percentile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """0–100 by percentile rank: the share of the other customers whose value is the same or
    worse, (max rank − 1) / (n − 1) × 100. Ties get the same value; the best get 100; all equal
    → all 100. Missing values get 50 (no evidence either way); a single customer gets 100.

    Values are compared at ``TIE_DIGITS`` significant digits (``comparable``): sums of the same
    lines added up in another order (another engine, another number of threads) differ in the
    last bits, and 0.1 + 0.2 must tie with 0.3 on every engine."""
    known = comparable(values.dropna().astype("float64"))
    out = pd.Series(50.0, index=values.index)
    if known.empty:
        return out
    if len(known) == 1:
        out[known.index] = 100.0
        return out
    ranks = known.rank(method="max", ascending=higher_is_better)
    out[known.index] = (ranks - 1) / (len(known) - 1) * 100
    return out


@dataclass(frozen=True)
class KeyRule:
    """Which scored customers are key accounts: a score of at least ``min_score`` (the
    default rule: ``KEY_SCORE``), or — with ``tiers`` — a tier among them. Pseudo key accounts
    never are (``scorecard``)."""

    min_score: float = 0.0
    tiers: tuple[str, ...] = ()

    @classmethod
    def by_score(cls, min_score: float | None = None) -> "KeyRule":
        return cls(min_score=float(KEY_SCORE if min_score is None else min_score))

    @classmethod
    def by_tiers(cls, tiers) -> "KeyRule":
        return cls(tiers=tuple(tiers))

    @property
    def kind(self) -> str:
        return "tiers" if self.tiers else "score"


@dataclass
class Scorecard:
    """The scored customers (``table``: features, each criterion's normalised value
    ``norm_<c>`` and contribution ``contrib_<c>``, score, score_rank, revenue_rank, tier, flags,
    key_account) and how it was made."""

    table: pd.DataFrame
    criteria: list[str]
    weights: dict[str, float]
    tier_basis: str
    tier_cuts: tuple
    key_rule: KeyRule
    rhythm_days: float | None
    as_of: object = None
    notes: list[str] = field(default_factory=list)


def score(features: pd.DataFrame, weights: dict[str, float] | None = None) -> tuple[pd.DataFrame, list[str], dict]:
    """score = Σ w_c · norm_c / Σ w_c over the available criteria with a positive weight
    (0–100); contrib_c = w_c · norm_c / Σ w_c, so the contributions add up to the score."""
    criteria = [c for c in available_criteria(features) if (weights or PRESETS["balanced"]).get(c, 0) > 0]
    used = {c: float((weights or PRESETS["balanced"])[c]) for c in criteria}
    total = sum(used.values())
    out = features.copy()
    out["score"] = 0.0
    for c in criteria:
        column, higher = CRITERIA[c]
        out[f"norm_{c}"] = percentile_scores(out[column], higher)
        out[f"contrib_{c}"] = used[c] * out[f"norm_{c}"] / total if total else 0.0
        out["score"] += out[f"contrib_{c}"]
    return out, criteria, used


def assign_tiers(values: pd.Series, ids: pd.Series, cuts: tuple = TIER_CUTS) -> pd.Series:
    """Tier by position when ranked by ``values`` (descending, ties by customer_id): positions
    1..⌈c1·n⌉ platinum, ..⌈c2·n⌉ gold, ..⌈c3·n⌉ iron, the rest lead."""
    n = len(values)
    order = pd.DataFrame({"v": values.fillna(-np.inf), "id": ids.astype(str)}).sort_values(
        ["v", "id"], ascending=[False, True], kind="mergesort")
    position = pd.Series(np.arange(1, n + 1), index=order.index)
    limits = [math.ceil(c * n - 1e-9) for c in cuts]
    tiers = np.select([position <= limits[0], position <= limits[1], position <= limits[2]],
                      list(TIERS[:3]), default=TIERS[3])
    return pd.Series(tiers, index=order.index).reindex(values.index)


def ordering_rhythm(features: pd.DataFrame) -> float | None:
    """The portfolio's ordering rhythm: the median, over customers with at least two orders,
    of their mean gap between orders ((last − first) / (orders − 1), in days; over the
    standard's window, first is the first order in it, ``window_first``)."""
    repeat = features[features["orders"] >= 2]
    if repeat.empty:
        return None
    # (orders counted in the standard's window span its first order there, not the history's)
    first = "window_first" if "window_first" in repeat else "first_order"
    span = (pd.to_datetime(repeat["last_order"]) - pd.to_datetime(repeat[first])).dt.days
    gaps = span / (repeat["orders"] - 1)
    return float(gaps.median())


def scorecard(features: pd.DataFrame, weights: dict[str, float] | None = None, tier_cuts: tuple = TIER_CUTS,
              key_rule: KeyRule | None = None, as_of=None) -> Scorecard:
    """Score, tiers, flags and the key-account list.

    Tiers: by profit when the data has profit, else by score (``assign_tiers``).
    Flags (each customer may carry several):
      pseudo_key_account — among the top 20% by revenue, yet one order is ≥ 60% of its revenue
        or it placed ≤ 2 orders, and it has been silent for more than 3 × the portfolio's
        ordering rhythm (``ordering_rhythm``); over the standard's window, only an account with
        no order before the window (its whole history is in it: a one-time buyer, not a
        long-standing account whose last year was thin);
      negative_margin — margin < 0; discount_exceeds_margin — discount rate > margin (both known);
      overdue — overdue_days > 30 (payments are late by more than a month on average);
      rising — not a key account, a customer for at least two years, prior-year revenue > 0,
        recent-year revenue ≥ 1.5 × prior and at least the median recent-year revenue of the
        customers who bought in it, and regularity at least the portfolio median.
    Key accounts: ``key_rule`` (``KeyRule``; the default: score ≥ ``KEY_SCORE``); pseudo key
    accounts are never key accounts.
    """
    rule = key_rule or KeyRule.by_score()
    table, criteria, used = score(features, weights)
    basis = "profit" if "profit" in table and table["profit"].notna().any() else "score"
    table["tier"] = assign_tiers(table[basis], table["customer_id"], tier_cuts)
    table["revenue_rank"] = table["revenue"].rank(method="min", ascending=False).astype(int)
    table["score_rank"] = table["score"].rank(method="min", ascending=False).astype(int)
    rhythm = ordering_rhythm(table)
    flags: dict = defaultdict(list)  # index -> flags, only for the customers that carry one
    top_revenue = table["revenue"] >= table["revenue"].quantile(1 - PSEUDO_TOP_SHARE) if len(table) else table["revenue"]
    if rhythm is not None:
        concentrated = (table["largest_order_share"] >= PSEUDO_ORDER_SHARE) | (table["orders"] <= PSEUDO_MAX_ORDERS)
        if "window_first" in table:  # over a window: its orders are the account's whole history
            concentrated &= pd.to_datetime(table["first_order"]) >= pd.to_datetime(table["window_first"])
        silent = table["days_since_last"] > PSEUDO_SILENCE * rhythm
        for i in table.index[top_revenue & concentrated & silent & (table["revenue"] > 0)]:
            flags[i].append("pseudo_key_account")
    if "margin" in table:
        for i in table.index[table["margin"] < 0]:
            flags[i].append("negative_margin")
        if "discount" in table:
            for i in table.index[(table["discount"] > table["margin"]) & table["discount"].gt(0)]:
                flags[i].append("discount_exceeds_margin")
    if "overdue_days" in table:
        for i in table.index[(table["overdue_days"] > OVERDUE_DAYS).fillna(False)]:
            flags[i].append("overdue")
    pseudo = pd.Series(table.index.isin([i for i, f in flags.items() if "pseudo_key_account" in f]), index=table.index)
    if rule.kind == "score":
        key = table["score"] >= rule.min_score
    else:
        key = table["tier"].isin(list(rule.tiers))
    table["key_account"] = key & ~pseudo
    median_regularity = table["regularity"].median() if len(table) else 0
    recent = table["recent_revenue"].fillna(0)
    median_recent = recent[recent > 0].median() if (recent > 0).any() else 0
    # growth means something only for customers present through the whole prior window
    watched = table["tenure_days"] >= 2 * RECENT_DAYS - 1
    growing = watched & (table["prior_revenue"].fillna(0) > 0) & \
        (recent >= RISING_GROWTH * table["prior_revenue"].fillna(0)) & (recent >= median_recent)
    for i in table.index[growing & (table["regularity"] >= median_regularity) & ~table["key_account"]]:
        flags[i].append("rising")
    table["flags"] = pd.Series({i: ";".join(f) for i, f in flags.items()}, dtype="str").reindex(table.index).fillna("")
    table = table.sort_values(["score", "customer_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    return Scorecard(table, criteria, used, basis, tuple(tier_cuts), rule, rhythm, as_of)


def key_status(card: Scorecard, customer_id: str) -> dict:
    """Why ``customer_id`` is or is not a key account, in the figures a sentence needs:
    ``key`` (bool) and ``reason``, one of
      'not_scored' — no line in the standard's window, so nothing to score;
      'pseudo' — the rule would take it, but it is a pseudo key account (largest_order_share,
        orders, days_since_last, silence_limit = PSEUDO_SILENCE × the portfolio's rhythm);
      'score_above' / 'score_below' — its score against the rule's line (score, line);
      'tier_in' / 'tier_out' — its tier against the rule's tiers (tier, tiers);
    plus ``tier`` and ``tier_basis`` ('profit' or 'score'), so a tier that seems to contradict
    the status (platinum by profit, not key by score) is explained by the two bases."""
    rows = card.table[card.table["customer_id"].astype(str) == str(customer_id)]
    if rows.empty:
        return {"key": False, "reason": "not_scored"}
    row = rows.iloc[0]
    out = {"key": bool(row["key_account"]), "tier": row["tier"], "tier_basis": card.tier_basis,
           "score": float(row["score"])}
    rule = card.key_rule
    taken = row["score"] >= rule.min_score if rule.kind == "score" else row["tier"] in rule.tiers
    if taken and not row["key_account"]:
        return {**out, "reason": "pseudo", "largest_order_share": row.get("largest_order_share"),
                "orders": int(row["orders"]), "days_since_last": int(row["days_since_last"]),
                "silence_limit": PSEUDO_SILENCE * card.rhythm_days if card.rhythm_days else None}
    if rule.kind == "score":
        return {**out, "reason": "score_above" if taken else "score_below", "line": float(rule.min_score)}
    return {**out, "reason": "tier_in" if taken else "tier_out", "tiers": list(rule.tiers)}


def watched_ids(card: Scorecard) -> tuple[set[str], bool]:
    """The accounts the churn warning watches by default: the key-account list, or — when the
    rule selects nobody — the ⌈20%⌉ of customers with the most revenue (ties by customer_id).
    The flag says whether that fallback was used."""
    t = card.table
    key = set(t.loc[t["key_account"], "customer_id"])
    if key or t.empty:
        return key, False
    top = t.sort_values(["revenue", "customer_id"], ascending=[False, True], kind="mergesort")
    return set(top.head(math.ceil(0.2 * len(t)))["customer_id"]), True


def has_flag(table: pd.DataFrame, flag: str) -> pd.Series:
    """Whether each row's ``flags`` (names joined by ';') holds ``flag`` itself (not a longer
    name containing it); missing flags hold none."""
    return (";" + table["flags"].fillna("").astype(str) + ";").str.contains(f";{flag};", regex=False)


def tier_summary(card: Scorecard) -> pd.DataFrame:
    """Per tier: customers, revenue, profit (when known), their shares of the totals, margin
    (Σ profit / Σ revenue) and revenue-weighted discount — volume vs profit by tier."""
    t = card.table
    agg = {"customers": ("customer_id", "count"), "revenue": ("revenue", "sum")}
    if "profit" in t:
        agg["profit"] = ("profit", "sum")
    out = t.groupby("tier").agg(**agg).reindex(list(TIERS)).fillna(0)
    out["customers"] = out["customers"].astype(int)
    out["revenue_share"] = out["revenue"] / t["revenue"].sum() if t["revenue"].sum() else np.nan
    if "profit" in out:
        out["profit_share"] = out["profit"] / t["profit"].sum() if t["profit"].sum() else np.nan
        out["margin"] = out["profit"] / out["revenue"].where(out["revenue"] > 0)
    if "discount" in t:
        weighted = (t["discount"].fillna(0) * t["revenue"]).groupby(t["tier"]).sum().reindex(list(TIERS))
        out["discount"] = weighted / out["revenue"].where(out["revenue"] > 0)
    return out.reset_index()


def rank_disagreement(card: Scorecard, top: int = 10) -> pd.DataFrame:
    """Customers whose rank by revenue alone and by the scorecard differ most (|difference|,
    ties by customer_id), among the customers in the top 100 by either rank."""
    t = card.table
    near_top = t[(t["revenue_rank"] <= 100) | (t["score_rank"] <= 100)].copy()
    near_top["rank_gap"] = (near_top["revenue_rank"] - near_top["score_rank"]).abs()
    return near_top.sort_values(["rank_gap", "customer_id"], ascending=[False, True], kind="mergesort").head(top)


def period_ends(first: dt.date, last: dt.date, freq: str = "quarter") -> list[dt.date]:
    """Ends of the calendar quarters / halves / years from ``first`` to ``last`` (the last one
    is ``last`` itself when the period is not complete)."""
    months = {"quarter": 3, "half": 6, "year": 12}[freq]
    ends, year, month = [], first.year, ((first.month - 1) // months + 1) * months
    while True:
        end = (pd.Timestamp(year=year, month=month, day=1) + pd.offsets.MonthEnd(0)).date()
        if end >= last:
            ends.append(last)
            return ends
        ends.append(end)
        month += months
        if month > 12:
            year, month = year + 1, month - 12


def tier_migration(before: Scorecard, after: Scorecard) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tier-migration matrix between two evaluations (rows: tier before, columns: tier
    after; customers absent from one side are 'none'), and the customers that entered or
    left the key-account list with the criterion whose contribution moved most."""
    a = before.table.set_index("customer_id")
    b = after.table.set_index("customer_id")
    ids = a.index.union(b.index)
    tier_a = a["tier"].reindex(ids).fillna("none")
    tier_b = b["tier"].reindex(ids).fillna("none")
    order = list(TIERS) + ["none"]
    matrix = pd.crosstab(tier_a, tier_b).reindex(index=order, columns=order, fill_value=0)
    key_a = a["key_account"].reindex(ids).fillna(False).astype(bool)
    key_b = b["key_account"].reindex(ids).fillna(False).astype(bool)
    changed = ids[key_a != key_b]
    rows = []
    common = [c for c in before.criteria if c in after.criteria]
    for cid in changed:
        deltas = {c: float(b.get(f"contrib_{c}", pd.Series(dtype=float)).get(cid, 0) or 0)
                  - float(a.get(f"contrib_{c}", pd.Series(dtype=float)).get(cid, 0) or 0) for c in common}
        mover = max(deltas, key=lambda c: abs(deltas[c])) if deltas else None
        rows.append({"customer_id": cid, "change": "entered" if key_b[cid] else "left",
                     "score_before": a["score"].get(cid), "score_after": b["score"].get(cid),
                     "criterion": mover, "criterion_change": deltas.get(mover) if mover else None})
    moves = pd.DataFrame(rows, columns=["customer_id", "change", "score_before", "score_after", "criterion",
                                        "criterion_change"])
    return matrix, moves


def scorecard_export(card: Scorecard) -> pd.DataFrame:
    """The ``accounts --out`` rows (best score first): customer_id, name, score, tier,
    key_account (true/false), flags (semicolon-separated), each criterion's normalised value
    (criterion_<name>), revenue, profit."""
    t = card.table
    out = t[["customer_id"] + (["name"] if "name" in t else []) + ["score", "tier", "key_account", "flags"]].copy()
    out["score"] = out["score"].round(2)
    out["key_account"] = out["key_account"].map({True: "true", False: "false"})
    for criterion in card.criteria:
        out[f"criterion_{criterion}"] = t[f"norm_{criterion}"].round(2)
    out["revenue"] = t["revenue"].round(2)
    if "profit" in t:
        out["profit"] = t["profit"].round(2)
    return out
