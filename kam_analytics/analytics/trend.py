"""Revenue over time."""
from __future__ import annotations

import ibis
import pandas as pd

from kam_analytics.analytics.filters import orders_expr


def revenue_by_period(table: ibis.Table, freq: str = "month") -> pd.DataFrame:
    """Revenue, orders and active customers per calendar month (``freq='month'``) or quarter.

    Columns: period (first day of the period), revenue (sum of amount, net of returns),
    orders (distinct orders, or order days without order ids), customers (distinct customers
    with any line in the period). Periods with no transactions are absent, not zero.
    """
    unit = {"month": "M", "quarter": "Q", "year": "Y"}[freq]
    t = table.mutate(period=table.order_date.truncate(unit))
    result = t.group_by("period").aggregate(
        revenue=t.amount.sum().cast("float64"),
        orders=orders_expr(t),
        customers=t.customer_id.nunique(),
    ).order_by("period")
    return result.to_pandas()
