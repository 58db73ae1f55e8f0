"""The slice of transactions a figure is computed on: period, as-of date and dimension filters."""
from __future__ import annotations

import datetime as dt

import ibis

from kam_analytics.schema import DIMENSIONS


def as_day(value) -> dt.date:
    """The calendar day of a date, datetime, pandas Timestamp or 'YYYY-MM-DD…' text."""
    if isinstance(value, dt.datetime):  # pandas Timestamps are datetimes too
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def end_of_day(value) -> dt.datetime:
    """The as-of cut: the last instant of the day (23:59:59.999999). Every analysis that
    works "as of" a date keeps the lines dated on or before it, and nothing after."""
    return dt.datetime.combine(as_day(value), dt.time.max)


def _start_of_day(value) -> dt.datetime:
    return dt.datetime.combine(as_day(value), dt.time.min)


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
            table = table.filter(table.order_date <= end_of_day(bound))
    for column, values in (dimensions or {}).items():
        if column in DIMENSIONS and values and column in table.columns:
            table = table.filter(table[column].isin(list(values)))
    return table


def order_key(table: ibis.Table):
    """What identifies an order: the order id when the dataset has one, else the order day —
    within a group's lines (``groups.roll_up``: a ``member_id`` column), prefixed by the
    member it was sold to, so two branches' orders stay two orders."""
    key = table.order_id if "order_id" in table.columns else table.order_date.date().cast("string")
    if "member_id" in table.columns:
        return table.member_id.concat("\x1f", key)
    return key


def orders_expr(table: ibis.Table, single_line_orders: bool = False, across_customers: bool = False):
    """Orders of a group: its distinct (customer, order key) pairs (``order_key``), so an order
    id used by two customers is two orders. In a group of one customer's lines that is the
    distinct order keys; for a group spanning customers (a month, a region) pass
    ``across_customers``. With ``single_line_orders`` (``every_order_is_one_line`` holds: no two
    lines share a pair, and none lacks a key) it is the number of lines — a plain count
    instead of a distinct count, the same number."""
    key = order_key(table)
    if single_line_orders:
        return key.count()
    if across_customers:
        return ibis.struct({"customer": table.customer_id, "order": key}).nunique(where=key.notnull())
    return key.nunique()


def every_order_is_one_line(table: ibis.Table) -> bool:
    """True when no two lines share an order: every (customer, order key) pair (``order_key``)
    occurs once and no line lacks a key. Then ``orders_expr`` may count lines
    (``single_line_orders=True``); any filter of the lines keeps it true. The service checks
    it once per loaded table and remembers it (``service.single_line_orders``)."""
    counts = table.aggregate(lines=table.count(), keyed=order_key(table).count(),
                             pairs=orders_expr(table, across_customers=True)).to_pandas().iloc[0]
    return bool(counts["lines"] == counts["keyed"] == counts["pairs"])
