"""The overview's headline figures and the things a manager should look at today.

Everything here is computed from per-customer results (``customer_summary``) and the monthly
trend (``revenue_by_period``), both already aggregated in the database.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kam_analytics.analytics.concentration import top_n_share
from kam_analytics.analytics.receivables import getting_worse
from kam_analytics.analytics.filters import end_of_day

ACTIVE_DAYS = 90
DEPENDENCY_SHARE = 0.10
LAPSE_HORIZON_DAYS = 90  # the churn page's default horizon: the same accounts count as lapsed on both


@dataclass
class Headline:
    """Headline figures of the filtered period.

    revenue: net revenue; customers: customers with any line in the period; active_customers:
    customers whose last order falls in the last ``active_days`` days up to ``period_end``
    (inclusive); top1_share / top5_share: see ``top_n_share``; top1_customer: the customer
    with the most revenue (ties: the smaller customer_id).
    """

    revenue: float
    customers: int
    active_customers: int
    active_days: int
    top1_share: float | None
    top5_share: float | None
    top1_customer: str | None
    top1_name: str | None


def _end_timestamp(period_end) -> pd.Timestamp:
    return pd.Timestamp(end_of_day(period_end))


def ranked(summary: pd.DataFrame) -> pd.DataFrame:
    """Customers by revenue, largest first; ties by customer_id (the one ordering every list uses)."""
    return summary.sort_values(["revenue", "customer_id"], ascending=[False, True], kind="mergesort")


def headline(summary: pd.DataFrame, period_end, active_days: int = ACTIVE_DAYS) -> Headline:
    if summary.empty:
        return Headline(0.0, 0, 0, active_days, None, None, None, None)
    end = _end_timestamp(period_end)
    since = end.normalize() - pd.Timedelta(days=active_days - 1)
    last = pd.to_datetime(summary["last_order"])
    top = ranked(summary).iloc[0]
    return Headline(
        revenue=float(summary["revenue"].sum()), customers=len(summary),
        active_customers=int(((last >= since) & (last <= end)).sum()), active_days=active_days,
        top1_share=top_n_share(summary["revenue"], 1), top5_share=top_n_share(summary["revenue"], 5),
        top1_customer=str(top["customer_id"]), top1_name=top.get("name") if "name" in summary else None,
    )


def attention_items(summary: pd.DataFrame, monthly: pd.DataFrame, period_end,
                    receivables: pd.DataFrame | None = None, lapsed: pd.DataFrame | None = None) -> list[dict]:
    """Up to four findings worth a manager's look, most important first. Each is a dict with
    ``kind`` and the figures its sentence needs, and each count is exactly the list its link
    opens:

    - ``dependency``: the largest customer brings at least 10% of revenue (customer_id, name, share);
    - ``lapsed`` (with ``lapsed``: the key accounts that have already lapsed by their own
      rhythm, as the churn page's win-back list holds them — ``service.lapsed_key_accounts``,
      most revenue in their last active year first): count, and the first of them:
      customer_id, name, revenue (its revenue in its last active year), days (days without an
      order at the period end);
    - ``receivables`` (with ``receivables``, rows of ``receivables.per_customer`` as of the
      period end): the accounts whose payments are getting worse (``receivables.WORSENING``:
      the receivables page's list) — count, and the one owing most of them (ties by
      customer_id): customer_id, name, overdue;
    - ``trend``: revenue of the last three calendar months of the period against the same three
      months a year earlier (recent, prior, change = recent / prior − 1), when both exist and
      prior > 0. Months absent from ``monthly`` count as zero.
    """
    items: list[dict] = []
    if summary.empty:
        return items
    by_revenue = ranked(summary)
    share = top_n_share(summary["revenue"], 1)
    top = by_revenue.iloc[0]
    name = lambda row: row.get("name") if "name" in row.index else None  # noqa: E731
    if share is not None and share >= DEPENDENCY_SHARE:
        items.append({"kind": "dependency", "customer_id": str(top["customer_id"]), "name": name(top), "share": share})
    if lapsed is not None and len(lapsed):
        first = lapsed.iloc[0]
        items.append({"kind": "lapsed", "count": len(lapsed), "customer_id": str(first["customer_id"]),
                      "name": name(first) if pd.notna(name(first)) else None,
                      "revenue": float(first["revenue_last_year"]), "days": int(first["recency_days"])})
    if receivables is not None and len(receivables):
        worse = getting_worse(receivables)
        if len(worse):
            first = worse.sort_values(["outstanding", "customer_id"], ascending=[False, True], kind="mergesort").iloc[0]
            items.append({"kind": "receivables", "count": len(worse), "customer_id": str(first["customer_id"]),
                          "name": name(first) if pd.notna(name(first)) else None, "overdue": float(first["overdue"])})
    change = recent_vs_last_year(monthly, period_end)
    if change is not None:
        items.append({"kind": "trend", **change})
    return items


def recent_vs_last_year(monthly: pd.DataFrame, period_end, months: int = 3) -> dict | None:
    """Revenue of the last ``months`` calendar months up to ``period_end`` (the month holding
    it included) against the same months a year earlier. None without data for both windows
    or when the earlier revenue is not positive."""
    if monthly.empty:
        return None
    end_month = pd.Timestamp(period_end).to_period("M")
    periods = pd.to_datetime(monthly["period"]).dt.to_period("M")
    recent_months = {end_month - i for i in range(months)}
    prior_months = {m - 12 for m in recent_months}
    if periods.min() > min(prior_months):
        return None
    recent = float(monthly.loc[periods.isin(recent_months), "revenue"].sum())
    prior = float(monthly.loc[periods.isin(prior_months), "revenue"].sum())
    if prior <= 0:
        return None
    return {"recent": recent, "prior": prior, "change": recent / prior - 1,
            "from_month": str(min(recent_months)), "to_month": str(end_month)}
