"""The slice of transactions a figure is computed on: period, as-of date and dimension filters."""
from __future__ import annotations

import datetime as dt

import ibis

from kam_analytics.schema import DIMENSIONS


def _end_of_day(value) -> dt.datetime:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    if isinstance(day, dt.datetime):
        day = day.date()
    return dt.datetime.combine(day, dt.time.max)


def _start_of_day(value) -> dt.datetime:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    if isinstance(day, dt.datetime):
        day = day.date()
    return dt.datetime.combine(day, dt.time.min)


def apply_filters(table: ibis.Table, start=None, end=None, as_of=None,
                  dimensions: dict[str, list[str]] | None = None) -> ibis.Table:
    """Transactions dated in [start, end] (whole days, inclusive), on or before ``as_of``, and
    whose dimension values are in the chosen lists (an empty or missing list means all).

    ``as_of`` is the no-leakage cut: nothing dated after it is kept, whatever ``end`` says.
    """
    if start is not None:
        table = table.filter(table.order_date >= _start_of_day(start))
    for bound in (end, as_of):
        if bound is not None:
            table = table.filter(table.order_date <= _end_of_day(bound))
    for column, values in (dimensions or {}).items():
        if column in DIMENSIONS and values and column in table.columns:
            table = table.filter(table[column].isin(list(values)))
    return table


def order_key(table: ibis.Table):
    """What identifies an order: the order id when the dataset has one, else the order day."""
    if "order_id" in table.columns:
        return table.order_id
    return table.order_date.date().cast("string")


def orders_expr(table: ibis.Table, single_line_orders: bool = False, across_customers: bool = False):
    """Orders of a group: its distinct (customer, order key) pairs (``order_key``), so an order
    id used by two customers is two orders. In a group of one customer's lines that is the
    distinct order keys; for a group spanning customers (a month, a region) pass
    ``across_customers``. With ``single_line_orders`` (the answer of the function of that
    name below: no two lines share a pair, and none lacks a key) it is the number of lines —
    a plain count instead of a distinct count, the same number."""
    key = order_key(table)
    if single_line_orders:
        return key.count()
    if across_customers:
        return ibis.struct({"customer": table.customer_id, "order": key}).nunique(where=key.notnull())
    return key.nunique()


def single_line_orders(store, dataset) -> bool:
    """True when no two lines of the dataset share an order: every (customer, order key) pair
    (``order_key``) occurs once and no line lacks a key. Then orders can be counted as lines
    and an order's value is its line's amount (``orders_expr``), which skips a grouping by
    order — the costly part on ten million lines; any filter of the lines keeps it true.
    Checked once per loaded table and remembered (``Store.table_setting``)."""
    known = store.table_setting(dataset, "single_line_orders")
    if known is not None:
        return bool(known)
    t = store.table(dataset)
    counts = t.aggregate(lines=t.count(), keyed=order_key(t).count(),
                         pairs=orders_expr(t, across_customers=True)).to_pandas().iloc[0]
    answer = bool(counts["lines"] == counts["keyed"] == counts["pairs"])
    store.set_table_setting(dataset, "single_line_orders", answer)
    return answer
