"""How concentrated the business is on a few customers: Pareto/ABC, Lorenz–Gini, HHI, CRk,
their trend, a what-if of losing customers, disclosure flags and the whale curve of profit.

The per-customer totals, ranks and cumulative shares are Ibis expressions run in the database
(``ranked_customers``); so are the per-period and per-dimension indicators (``grouped_indicators``).
What comes back is one row per customer (or per period / dimension value); the scalar figures
are then computed from those rows by the functions below, one definition each.

Conventions shared by every figure here
---------------------------------------
* ``value`` is the customer's net total of the measure (revenue = sum of amount; profit = sum of
  profit) in the filtered transactions; returns reduce it.
* Concentration indicators (shares, CRk, HHI, Gini, ABC, Pareto) use ``x = max(value, 0)``:
  a customer whose net revenue is negative counts as zero (``negatives_clipped`` says how many).
  The whale curve (profit) keeps negatives: they are its point.
* Ranking: by value descending, ties by customer_id ascending — every list and figure is
  deterministic.
* A total of zero (no positive customer) makes every share undefined: they are None.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import ibis
import numpy as np
import pandas as pd

from kam_analytics.analytics.customers import summary_metrics

MAJOR_CUSTOMER_SHARE = 0.10  # US GAAP ASC 280-10-50-42: disclose any customer with >= 10% of revenue
TOP5_FLAG_SHARE = 0.30       # editable level for 前五名客户销售额占比
HHI_BANDS = (1500, 2500)     # 2010 US DOJ/FTC Horizontal Merger Guidelines, borrowed for customers
ABC_CUTS = (0.80, 0.95)      # cumulative share limits of classes A and B (80/15/5)
BREAK_EVEN_MARGIN = 0.01     # |profit| <= 1% of revenue counts as break-even
# Offering reviews in China (IPO 审核): customers under common control (同一控制下) counted
# together, one bringing more than half of revenue or of gross profit is a major dependency.
MAJOR_DEPENDENCY_SHARE = 0.50
FLAGS = ("major_customer", "major_dependency", "top5_above")  # disclosure flags (``concentration_flags``)


def _measure_sum(table: ibis.Table, measure: str):
    """Σ of the measure per group, summed exactly (DECIMAL) and cast once afterwards."""
    if measure not in ("revenue", "profit"):
        raise ValueError(f"unknown measure {measure!r}")
    return (table.amount if measure == "revenue" else table.profit).sum().cast("float64")


def ranked_customers(table: ibis.Table, measure: str = "revenue") -> pd.DataFrame:
    """One row per customer, ranked: customer_id, name (if known), value, revenue, profit (if
    known), rank (1 = largest value; ties by customer_id), x (= max(value, 0)), cum_x
    (running sum of x in rank order). Computed in the database."""
    if measure not in ("revenue", "profit"):
        raise ValueError(f"unknown measure {measure!r}")
    base = summary_metrics(table, orders=False)  # the per-customer summary
    metrics = {"value": base[measure], "revenue": base["revenue"]}
    if "profit" in base:
        metrics["profit"] = base["profit"]
    if "discount" in table.columns:
        # revenue-weighted average discount rate (discount depth)
        metrics["discount"] = (table.discount * table.amount.cast("float64")).sum() / table.amount.cast("float64").sum()
    if "name" in base:
        metrics["name"] = base["name"]
    per = table.group_by("customer_id").aggregate(**metrics)
    per = per.mutate(x=ibis.greatest(per.value, 0.0))
    order = [ibis.desc(per.value), per.customer_id]
    per = per.mutate(rank=ibis.row_number().over(order_by=order) + 1,
                     cum_x=per.x.sum().over(ibis.window(order_by=order, rows=(None, 0))))
    return per.order_by("rank").to_pandas()


def ranked_frame(per: pd.DataFrame, value: str) -> pd.DataFrame:
    """``ranked_customers``' rows from values already computed per customer (``per``:
    customer_id, revenue, the ``value`` column, name when known — the account P&L's net
    profit): the same rank (largest value first, ties by customer_id), x and cum_x."""
    columns = [c for c in ("customer_id", "name", "revenue", "gross_profit") if c in per]
    out = per[columns].copy()
    out["value"] = per[value].astype("float64").to_numpy()
    out["customer_id"] = out["customer_id"].astype(str)
    out = out.sort_values(["value", "customer_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    out["x"] = out["value"].clip(lower=0.0)
    out["rank"] = np.arange(1, len(out) + 1)
    out["cum_x"] = out["x"].cumsum()
    return out.rename(columns={"gross_profit": "profit"})


@dataclass
class Concentration:
    """Concentration of one measure over customers (see the module docstring for conventions).

    customers: n, customers with any transaction; total: Σ value (net); positive_total: Σ x;
    negatives_clipped: customers with value < 0;
    top1_share, top5_share, top10_share (CR1, CR5, CR10): Σ of the k largest x / Σ x
      (k > n: all customers);
    top20pct_share: Σ of the ⌈0.2·n⌉ largest x / Σ x;
    customers_for_80pct: the fewest customers, in rank order, whose cumulative share reaches 80%;
    hhi: 10,000 · Σ (x_i / Σ x)², from 10,000/n (all equal) to 10,000 (one customer);
    hhi_level: 'low' below 1,500, 'moderate' 1,500–2,500, 'high' above 2,500;
    number_equivalent: 10,000 / hhi — the number of equal customers giving the same HHI;
    gini: population Gini of x, Σ_i Σ_j |x_i − x_j| / (2 n² μ) = 2 Σ i·x_(i) / (n Σ x) − (n + 1) / n
      with x ascending; 0 = all equal, (n − 1)/n = one customer has everything;
    abc: customers per class: A while the cumulative share before the customer is below the
      first cut (so the customer crossing 80% is A), B below the second, C the rest
      (customers with x = 0 are always C);
    flags: see ``concentration_flags``.
    """

    measure: str
    customers: int
    total: float
    positive_total: float
    negatives_clipped: int
    top1_share: float | None
    top5_share: float | None
    top10_share: float | None
    top20pct_share: float | None
    customers_for_80pct: int | None
    hhi: float | None
    hhi_level: str | None
    number_equivalent: float | None
    gini: float | None
    abc: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def top_n_share(values, n: int) -> float | None:
    """CRn: the share of the measure brought by the ``n`` customers with the most, customers
    with a negative net value counting as 0,

    share = (Σ of the n largest max(value, 0)) / (Σ of all max(value, 0)).

    Ties at the n-th place do not change the sum. None when there are no customers or no
    positive value; with fewer than n customers the share is 1. Nulls are ignored."""
    x = pd.Series(values, dtype="float64").dropna().clip(lower=0).to_numpy()
    positive = float(x.sum())
    if len(x) == 0 or positive <= 0:
        return None
    ranked = -np.sort(-x)  # largest first
    return float(np.cumsum(ranked)[min(n, len(ranked)) - 1] / positive)


def hhi_level(hhi: float | None) -> str | None:
    if hhi is None:
        return None
    low, high = HHI_BANDS
    return "low" if hhi < low else ("moderate" if hhi <= high else "high")


def gini(x: np.ndarray) -> float | None:
    """Population Gini of non-negative values (None when they sum to 0)."""
    x = np.sort(np.asarray(x, dtype="float64"))
    n, total = len(x), float(x.sum())
    if n == 0 or total <= 0:
        return None
    i = np.arange(1, n + 1)
    return float(2.0 * np.dot(i, x) / (n * total) - (n + 1.0) / n)


def abc_classes(cum_x: np.ndarray, x: np.ndarray, cuts: tuple[float, float] = ABC_CUTS) -> np.ndarray:
    """'A'/'B'/'C' per customer in rank order (see ``Concentration.abc``)."""
    total = float(x.sum())
    if total <= 0:
        return np.array(["C"] * len(x), dtype=object)
    before = (cum_x - x) / total
    classes = np.where(before < cuts[0] - 1e-12, "A", np.where(before < cuts[1] - 1e-12, "B", "C"))
    return np.where(x > 0, classes, "C").astype(object)


def concentration(ranked: pd.DataFrame, measure: str = "revenue", cuts: tuple[float, float] = ABC_CUTS,
                  top5_flag: float = TOP5_FLAG_SHARE) -> Concentration:
    """The indicators of ``ranked_customers`` output (already in rank order)."""
    n = len(ranked)
    x = ranked["x"].to_numpy(dtype="float64") if n else np.zeros(0)
    positive = float(x.sum())
    total = float(ranked["value"].sum()) if n else 0.0
    clipped = int((ranked["value"] < 0).sum()) if n else 0
    if positive <= 0:
        return Concentration(measure, n, total, positive, clipped, None, None, None, None, None, None, None,
                             None, None, {"A": 0, "B": 0, "C": n}, [])
    shares = x / positive
    cum = np.cumsum(x) / positive  # divide once: the last value is exactly 1
    top = lambda k: top_n_share(x, k)  # noqa: E731
    hhi = float(10_000 * np.sum(shares ** 2))
    reached = np.nonzero(cum >= 0.8 - 1e-12)[0]
    classes = abc_classes(np.cumsum(x), x, cuts)
    result = Concentration(
        measure=measure, customers=n, total=total, positive_total=positive, negatives_clipped=clipped,
        top1_share=top(1), top5_share=top(5), top10_share=top(10), top20pct_share=top(math.ceil(0.2 * n)),
        customers_for_80pct=int(reached[0]) + 1, hhi=hhi, hhi_level=hhi_level(hhi),
        number_equivalent=10_000 / hhi, gini=gini(x),
        abc={c: int((classes == c).sum()) for c in "ABC"},
    )
    result.flags = concentration_flags(ranked, result, top5_flag)
    return result


def concentration_flags(ranked: pd.DataFrame, c: Concentration, top5_flag: float = TOP5_FLAG_SHARE) -> list[dict]:
    """Warnings with the rule that raised each:

    - ``major_customer`` (one per customer): x / Σ x ≥ 10% — the major-customer disclosure
      threshold of US GAAP (ASC 280);
    - ``major_dependency`` (one per customer and measure): more than half (> 50%) of the
      positive total of the measure, or — on a revenue report where profit is known — of
      gross profit (``"measure": "profit"``): the major dependency (重大依赖) of Chinese
      offering reviews, which count customers under common control together (by group);
    - ``top5_above``: CR5 above ``top5_flag`` (前五名客户销售额占比, disclosed by Chinese listed companies);
    - ``hhi_moderate`` / ``hhi_high``: HHI in the 1,500–2,500 / above 2,500 band (bands borrowed
      from the 2010 US merger guidelines for market concentration).
    """
    flags = []
    if not c.positive_total:
        return flags
    for _, row in ranked[ranked["x"] / c.positive_total >= MAJOR_CUSTOMER_SHARE - 1e-12].iterrows():
        flags.append({"flag": "major_customer", "customer_id": str(row["customer_id"]),
                      "share": float(row["x"] / c.positive_total), "threshold": MAJOR_CUSTOMER_SHARE})
    for measure, column in ((c.measure, "x"), ("profit", "profit")):
        if column not in ranked or (column == "profit" and c.measure == "profit"):
            continue
        values = ranked[column].astype("float64").clip(lower=0)
        total = float(values.sum())
        if total <= 0:
            continue
        for customer_id, value in zip(ranked["customer_id"], values):
            if value / total > MAJOR_DEPENDENCY_SHARE + 1e-12:
                flags.append({"flag": "major_dependency", "customer_id": str(customer_id), "measure": measure,
                              "share": float(value / total), "threshold": MAJOR_DEPENDENCY_SHARE})
    if c.top5_share is not None and c.top5_share > top5_flag:
        flags.append({"flag": "top5_above", "share": c.top5_share, "threshold": top5_flag})
    if c.hhi_level in ("moderate", "high"):
        flags.append({"flag": f"hhi_{c.hhi_level}", "hhi": c.hhi,
                      "threshold": HHI_BANDS[0] if c.hhi_level == "moderate" else HHI_BANDS[1]})
    return flags


def pareto_table(ranked: pd.DataFrame, cuts: tuple[float, float] = ABC_CUTS) -> pd.DataFrame:
    """Per customer in rank order: share (x / Σ x), cum_share, abc class, in_80pct (among the
    customers_for_80pct). Shares are NaN when Σ x = 0."""
    out = ranked.copy()
    positive = float(out["x"].sum()) if len(out) else 0.0
    if positive > 0:
        out["share"] = out["x"] / positive
        out["cum_share"] = out["cum_x"] / positive
    else:
        out["share"] = out["cum_share"] = np.nan
    out["abc"] = abc_classes(out["cum_x"].to_numpy(dtype="float64"), out["x"].to_numpy(dtype="float64"), cuts)
    reached = np.nonzero(out["cum_share"].to_numpy() >= 0.8 - 1e-12)[0]
    limit = int(reached[0]) + 1 if len(reached) else 0
    out["in_80pct"] = np.arange(1, len(out) + 1) <= limit
    return out


def lorenz_points(ranked: pd.DataFrame) -> pd.DataFrame:
    """The Lorenz curve: customers ascending by x; customer_share = i/n, value_share = cumulative
    x / Σ x, starting at (0, 0)."""
    x = np.sort(ranked["x"].to_numpy(dtype="float64"))
    n, total = len(x), float(x.sum())
    if n == 0 or total <= 0:
        return pd.DataFrame({"customer_share": [0.0], "value_share": [0.0]})
    return pd.DataFrame({"customer_share": np.concatenate([[0.0], np.arange(1, n + 1) / n]),
                         "value_share": np.concatenate([[0.0], np.cumsum(x) / total])})


def what_if(ranked: pd.DataFrame, lost: list[str], measure: str = "revenue") -> dict:
    """Losing the customers ``lost``: revenue_lost (their net revenue), profit_lost (their net
    profit, None without profit), and the concentration of those who remain (hhi, gini,
    top5_share, customers) next to the current figures."""
    lost = {str(c) for c in lost}
    gone = ranked["customer_id"].astype(str).isin(lost)
    remaining = ranked[~gone].copy()
    remaining["rank"] = np.arange(1, len(remaining) + 1)
    remaining["cum_x"] = remaining["x"].cumsum()
    before, after = concentration(ranked, measure), concentration(remaining, measure)
    return {
        "lost_customers": int(gone.sum()),
        "revenue_lost": float(ranked.loc[gone, "revenue"].sum()),
        "revenue_lost_share": float(ranked.loc[gone, "revenue"].sum() / ranked["revenue"].sum())
        if ranked["revenue"].sum() > 0 else None,
        "profit_lost": float(ranked.loc[gone, "profit"].sum()) if "profit" in ranked else None,
        "before": {k: getattr(before, k) for k in ("customers", "hhi", "gini", "top5_share")},
        "after": {k: getattr(after, k) for k in ("customers", "hhi", "gini", "top5_share")},
    }


@dataclass
class WhaleCurve:
    """The whale curve of profit: customers ranked by profit (ties by customer_id), cumulative
    profit as a share of total net profit — above 100% while profitable customers are added,
    coming down to 100% as loss-makers are added.

    peak_share: the curve's maximum; peak_customers: customers up to the peak (the first when
    tied); profitable / break_even / unprofitable customers: profit above, within, below
    ± 1% of the customer's revenue (break-even is profit = 0 when revenue is 0);
    top20pct_share: profit of the ⌈0.2·n⌉ most profitable customers / total profit.
    All shares are None when total profit is not positive.
    """

    customers: int
    total_profit: float
    peak_share: float | None
    peak_customers: int | None
    profitable_customers: int
    break_even_customers: int
    unprofitable_customers: int
    top20pct_share: float | None
    curve: pd.DataFrame
    loss_makers: pd.DataFrame


def profit_class(profit: pd.Series, revenue: pd.Series) -> pd.Series:
    band = BREAK_EVEN_MARGIN * revenue.abs()
    return pd.Series(np.where(profit > band, "profitable", np.where(profit < -band, "unprofitable", "break_even")),
                     index=profit.index)


def whale_curve(ranked_by_profit: pd.DataFrame) -> WhaleCurve:
    """From ``ranked_customers(table, 'profit')``."""
    n = len(ranked_by_profit)
    profit = ranked_by_profit["value"].astype("float64")
    total = float(profit.sum())
    classes = profit_class(profit, ranked_by_profit["revenue"].astype("float64"))
    cum = profit.cumsum()
    curve = pd.DataFrame({"rank": np.arange(1, n + 1), "customer_id": ranked_by_profit["customer_id"],
                          "profit": profit, "cum_share": cum / total if total > 0 else np.nan})
    if "name" in ranked_by_profit:
        curve["name"] = ranked_by_profit["name"].to_numpy()
    peak_share = peak_customers = top20 = None
    if total > 0 and n:
        peak_index = int(np.argmax(cum.to_numpy()))
        peak_share, peak_customers = float(cum.iloc[peak_index] / total), peak_index + 1
        top20 = float(cum.iloc[math.ceil(0.2 * n) - 1] / total)
    columns = [c for c in ("customer_id", "name", "revenue", "value", "discount") if c in ranked_by_profit]
    losers = ranked_by_profit.loc[classes == "unprofitable", columns].rename(columns={"value": "profit"})
    losers = losers.sort_values(["profit", "customer_id"], ascending=[True, True], kind="mergesort")
    return WhaleCurve(n, total, peak_share, peak_customers, int((classes == "profitable").sum()),
                      int((classes == "break_even").sum()), int((classes == "unprofitable").sum()), top20,
                      curve, losers.reset_index(drop=True))


def grouped_indicators(table: ibis.Table, by, measure: str = "revenue") -> pd.DataFrame:
    """The indicators within each group (a period column or a dimension), in the database.

    ``by`` is a column name or an Ibis expression named by ``.name(...)``. Returns one row per
    group: group, customers, total (Σ value), top1_share, top5_share, hhi, gini — the same
    definitions as ``Concentration`` applied within the group (a customer present in two
    groups counts in each with its value there). Groups whose Σ x is 0 have None shares.
    """
    key = table[by] if isinstance(by, str) else by
    t = table.mutate(group=key)
    per = t.group_by(["group", "customer_id"]).aggregate(value=_measure_sum(t, measure))
    per = per.mutate(x=ibis.greatest(per.value, 0.0))
    order = ibis.window(group_by=per.group, order_by=[ibis.desc(per.value), per.customer_id])
    per = per.mutate(rank=ibis.row_number().over(order) + 1)
    # Gini needs Σ i·x_(i) with i the ascending position n + 1 - rank, i.e.
    # (n + 1)·Σx - Σ rank·x: no second window for n (ties do not change the sum)
    agg = per.group_by("group").aggregate(
        customers=per.customer_id.count(),
        total=per.value.sum(),
        positive=per.x.sum(),
        sum_sq=(per.x * per.x).sum(),
        top1=per.x.sum(where=per.rank <= 1),
        top5=per.x.sum(where=per.rank <= 5),
        rank_weighted=(per.rank * per.x).sum(),
    ).order_by("group")
    out = agg.to_pandas()
    positive = out["positive"].where(out["positive"] > 0)
    out["top1_share"] = out["top1"] / positive
    out["top5_share"] = out["top5"] / positive
    out["hhi"] = 10_000 * out["sum_sq"] / positive ** 2
    n = out["customers"]
    weighted = (n + 1) * out["positive"] - out["rank_weighted"]
    out["gini"] = 2 * weighted / (n * positive) - (n + 1) / n
    return out[["group", "customers", "total", "top1_share", "top5_share", "hhi", "gini"]]


def indicators_by_period(table: ibis.Table, freq: str = "month", measure: str = "revenue") -> pd.DataFrame:
    """``grouped_indicators`` per calendar month or quarter (group = first day of the period)."""
    unit = {"month": "M", "quarter": "Q"}[freq]
    return grouped_indicators(table, table.order_date.truncate(unit).name("period"), measure)
