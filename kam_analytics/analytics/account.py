"""One account: its place in the portfolio and its history."""
from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from kam_analytics.analytics.customers import customer_summary
from kam_analytics.analytics.trend import revenue_by_period


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


def account_profile(table: ibis.Table, customer_id: str, summary: pd.DataFrame | None = None) -> AccountProfile | None:
    """The profile of ``customer_id``, or None when it has no transactions in ``table``.
    ``summary``: ``customer_summary(table)`` when at hand (the pages cache it)."""
    if summary is None:
        summary = customer_summary(table)
    row = summary.loc[summary["customer_id"] == str(customer_id)]
    if row.empty:
        return None
    row = row.iloc[0]
    total = float(summary["revenue"].sum())
    rank = int((summary["revenue"] > row["revenue"]).sum()) + 1
    monthly = revenue_by_period(table.filter(table.customer_id == str(customer_id)), "month")
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
