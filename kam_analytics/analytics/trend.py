"""Revenue over time."""
from __future__ import annotations

import ibis
import pandas as pd

from kam_analytics.analytics.filters import orders_expr


def revenue_by_period(table: ibis.Table, freq: str = "month", single_line_orders: bool = False) -> pd.DataFrame:
    """Revenue, orders and active customers per calendar month (``freq='month'``), quarter or year.

    Columns: period (first day of the period), revenue (sum of amount, net of returns),
    orders (distinct (customer, order) pairs with a line in the period — an order id used by
    two customers is two orders; order days without order ids; ``filters.orders_expr``),
    customers (distinct customers with any line in the period). Periods with no transactions
    are absent, not zero.
    """
    unit = {"month": "M", "quarter": "Q", "year": "Y"}[freq]
    t = table.mutate(period=table.order_date.truncate(unit))
    result = t.group_by("period").aggregate(
        revenue=t.amount.sum().cast("float64"),
        orders=orders_expr(t, single_line_orders, across_customers=True),
        customers=t.customer_id.nunique(),
    ).order_by("period")
    return result.to_pandas()


def with_empty_months(monthly: pd.DataFrame, start, end) -> pd.DataFrame:
    """``revenue_by_period`` rows (freq='month') with every calendar month from ``start``'s
    month to ``end``'s month, a month without lines given revenue, orders and customers 0 (a
    silent month is a fact on an account's chart, not a gap). Months outside the span are kept."""
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return monthly
    months = pd.period_range(pd.Timestamp(start).to_period("M"), pd.Timestamp(end).to_period("M"), freq="M")
    periods = pd.to_datetime(monthly["period"]) if len(monthly) else pd.Series(dtype="datetime64[ns]")
    have = set(periods.dt.to_period("M"))
    missing = [m.to_timestamp() for m in months if m not in have]
    if not missing:
        return monthly
    zeros = pd.DataFrame({"period": missing, "revenue": 0.0, "orders": 0, "customers": 0})
    out = pd.concat([monthly.assign(period=periods), zeros], ignore_index=True)
    out = out.sort_values("period", kind="mergesort").reset_index(drop=True)
    return out.astype({"orders": "int64", "customers": "int64"})
