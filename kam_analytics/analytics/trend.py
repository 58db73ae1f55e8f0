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
