"""Per-customer summary of a transaction log — the one place it is defined."""
from __future__ import annotations

import ibis
import pandas as pd

from kam_analytics.analytics.filters import orders_expr


def customer_summary(table: ibis.Table, single_line_orders: bool = False) -> pd.DataFrame:
    """One row per customer of the (already filtered) transactions, ordered by customer_id.

    Columns:
      customer_id;
      name — the customer_name (alphabetically last when a customer has several; absent when
        the dataset has no names);
      first_order, last_order — earliest and latest order date;
      orders — distinct order ids, or distinct order days when there is no order id;
      revenue — sum of amount (net: returns and credits, being negative, reduce it);
      profit — sum of profit, when the dataset has profit (or cost).
    Null amounts cannot occur (ingest rejects them). ``single_line_orders``: see
    ``filters.orders_expr`` (same values, a cheaper count).
    """
    metrics = {
        "first_order": table.order_date.min(),
        "last_order": table.order_date.max(),
        "orders": orders_expr(table, single_line_orders),
        "revenue": table.amount.sum().cast("float64"),
    }
    if "customer_name" in table.columns:
        metrics = {"name": table.customer_name.max(), **metrics}
    if "profit" in table.columns:
        metrics["profit"] = table.profit.sum().cast("float64")
    result = table.group_by("customer_id").aggregate(**metrics).order_by("customer_id")
    return result.to_pandas()


def dataset_totals(table: ibis.Table) -> dict:
    """Headline totals of the (filtered) transactions: rows, customers, revenue, first and last date."""
    row = table.aggregate(
        rows=table.count(),
        customers=table.customer_id.nunique(),
        revenue=table.amount.sum().cast("float64"),
        date_min=table.order_date.min(),
        date_max=table.order_date.max(),
    ).to_pandas().iloc[0]
    return {
        "rows": int(row["rows"]), "customers": int(row["customers"]),
        "revenue": float(row["revenue"]) if pd.notna(row["revenue"]) else 0.0,
        "date_min": row["date_min"] if pd.notna(row["date_min"]) else None,
        "date_max": row["date_max"] if pd.notna(row["date_max"]) else None,
    }


def dimension_values(table: ibis.Table, column: str, limit: int = 500) -> list[str]:
    """The distinct non-null values of a dimension column, sorted; at most ``limit``."""
    values = table.select(table[column]).filter(table[column].notnull()).distinct().order_by(column).limit(limit)
    return [str(v) for v in values.to_pandas()[column]]
