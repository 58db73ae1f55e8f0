"""One account: its place in the portfolio and its history."""
from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from kam_analytics.analytics.customers import customer_summary
from kam_analytics.analytics.trend import revenue_by_period, with_empty_months


def find_customers(table: ibis.Table, query: str, limit: int = 50) -> pd.DataFrame:
    """Customers whose id or name contains ``query`` (case-insensitive), biggest revenue first.

    Returns customer_id, name (when the dataset has names) and revenue; at most ``limit`` rows.
    An empty query returns the top customers by revenue. Ties on revenue: by customer_id.
    """
    q = (query or "").strip().lower()
    if q:
        cond = table.customer_id.lower().contains(q)
        if "customer_name" in table.columns:
            cond = cond | table.customer_name.lower().contains(q)
        table = table.filter(cond)
    metrics = {"revenue": table.amount.sum().cast("float64")}
    if "customer_name" in table.columns:
        metrics = {"name": table.customer_name.max(), **metrics}
    result = table.group_by("customer_id").aggregate(**metrics)
    return result.order_by([ibis.desc("revenue"), "customer_id"]).limit(limit).to_pandas()


@dataclass
class AccountProfile:
    """An account within the filtered transactions.

    revenue_share = the account's revenue / total revenue of all customers (None when the
    total is not positive); rank = 1 + number of customers with strictly more revenue
    (ties share a rank), of ``customers`` customers in all.
    """

    customer_id: str
    name: str | None
    first_order: object
    last_order: object
    orders: int
    revenue: float
    profit: float | None
    revenue_share: float | None
    rank: int
    customers: int
    monthly: pd.DataFrame


def account_profile(table: ibis.Table, customer_id: str, summary: pd.DataFrame | None = None,
                    end=None) -> AccountProfile | None:
    """The profile of ``customer_id``, or None when it has no transactions in ``table``.
    ``summary``: ``customer_summary(table)`` when at hand (the pages cache it). ``monthly``
    holds every month from its first order's to ``end``'s (else its last order's), months
    without sales as zero (``trend.with_empty_months``)."""
    if summary is None:
        summary = customer_summary(table)
    row = summary.loc[summary["customer_id"] == str(customer_id)]
    if row.empty:
        return None
    row = row.iloc[0]
    total = float(summary["revenue"].sum())
    rank = int((summary["revenue"] > row["revenue"]).sum()) + 1
    monthly = with_empty_months(revenue_by_period(table.filter(table.customer_id == str(customer_id)), "month"),
                                row["first_order"], end if end is not None else row["last_order"])
    return AccountProfile(
        customer_id=str(customer_id), name=row.get("name") if "name" in row else None,
        first_order=row["first_order"], last_order=row["last_order"], orders=int(row["orders"]),
        revenue=float(row["revenue"]), profit=float(row["profit"]) if "profit" in row and pd.notna(row["profit"]) else None,
        revenue_share=float(row["revenue"]) / total if total > 0 else None, rank=rank,
        customers=len(summary), monthly=monthly,
    )


def account_attributes(attributes: ibis.Table | None, customer_id: str) -> dict:
    """The uploaded per-customer attributes of ``customer_id`` (empty when none were uploaded
    or the customer is not in them). Null attributes are left out."""
    if attributes is None:
        return {}
    rows = attributes.filter(attributes.customer_id == str(customer_id)).limit(1).to_pandas()
    if rows.empty:
        return {}
    return {k: v for k, v in rows.iloc[0].items() if k != "customer_id" and pd.notna(v)}
