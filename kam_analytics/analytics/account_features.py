"""Per-customer features for the key-account scorecard, aggregated in the database (Ibis) as of
a date: money, orders, rhythm, growth, margin, discount, payment and the uploaded attributes.
"""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from kam_analytics.analytics.customers import summary_metrics
from kam_analytics.analytics.filters import apply_filters, end_of_day, order_key

RECENT_DAYS = 365
CREDIT_SCALE = {"AAA": 100, "AA": 90, "A": 80, "BBB": 70, "BB": 55, "B": 40, "CCC": 25, "CC": 15, "C": 5, "D": 0}


def customer_features(table: ibis.Table, as_of, attributes: ibis.Table | None = None,
                      recent_days: int = RECENT_DAYS, single_line_orders: bool = False,
                      since=None) -> pd.DataFrame:
    """One row per customer with transactions up to ``as_of`` (nothing after it is used).

    ``since`` (a day; None = all history): the window the standard is evaluated on
    (``window_start``). Only customers with a line in [since, as_of] get a row; revenue,
    orders, average order value, largest order share, profit, margin, discount, collection and
    overdue figures count the window's lines only (``window_first``: its first order in the
    window, for a rhythm over the window's orders), while first and last order, tenure,
    regularity and the recent/prior revenue of growth read the whole history up to ``as_of``
    (a customer's rhythm and age are not cut by the window).

    revenue: Σ amount (net); orders: distinct orders (or order days); first_order, last_order;
    tenure_days: as_of − first_order; days_since_last: as_of − last_order;
    avg_order_value: revenue / orders; active_months: months with any order;
    regularity: active_months / calendar months from the first order's month to as_of's
      month (inclusive), 0–1;
    largest_order_share: the largest order's revenue / revenue (None when revenue ≤ 0);
    recent_revenue, prior_revenue: revenue in (as_of − recent_days, as_of] and in the
      recent_days before that; growth_ratio: recent / (recent + prior), 0.5 = flat, None
      without revenue in both windows;
    profit, margin (= profit / revenue, None when revenue ≤ 0) when profit is known;
    discount: revenue-weighted average discount rate when discount is known;
    collection_rate: Σ paid_amount paid by as_of / Σ amount, over lines due by as_of (回款率);
    overdue_days: revenue-weighted mean of max(0, (paid_date, or as_of if not paid by then)
      − due_date) over lines due by as_of;
    name, and from the attributes upload: credit_rating, credit_score (CREDIT_SCALE), industry_influence.

    ``single_line_orders`` (``filters.single_line_orders``): no two lines share an order, so
    orders and the largest order come from the lines in the same pass — the same values,
    without grouping by order.
    """
    end = pd.Timestamp(end_of_day(as_of))
    t = apply_filters(table, as_of=as_of)
    end_lit = ibis.literal(end.to_pydatetime())
    recent_start = ibis.literal((end.normalize() - pd.Timedelta(days=recent_days - 1)).to_pydatetime())
    prior_start = ibis.literal((end.normalize() - pd.Timedelta(days=2 * recent_days - 1)).to_pydatetime())
    amount = t.amount.cast("float64")

    def exact(where):  # Σ amount summed exactly (DECIMAL), cast once: the same on every engine and thread count
        return t.amount.sum(where=where).cast("float64")

    inside = t.order_date >= ibis.literal(pd.Timestamp(since).normalize().to_pydatetime()) if since is not None \
        else None
    base = summary_metrics(t, orders=False)  # the per-customer summary; orders come below
    metrics = {
        "revenue": base["revenue"] if inside is None else exact(inside),
        "first_order": base["first_order"],
        "last_order": base["last_order"],
        "recent_revenue": exact(t.order_date >= recent_start),
        "prior_revenue": exact((t.order_date >= prior_start) & (t.order_date < recent_start)),
    }
    metrics.update(month_words(t, end))
    if "name" in base:
        metrics["name"] = base["name"]
    if "profit" in base:
        metrics["profit"] = base["profit"] if inside is None else t.profit.cast("float64").sum(where=inside)
    window = inside if inside is not None else ibis.literal(True)
    if inside is not None:
        metrics["window_lines"] = t.count(where=inside)
        metrics["window_first"] = t.order_date.min(where=inside)
    if "discount" in t.columns:
        metrics["discount_weighted"] = (t.discount * amount).sum(where=window)
        metrics["discount_base"] = exact(t.discount.notnull() & window)
    if "due_date" in t.columns:
        due = t.due_date.notnull() & (t.due_date <= end_lit) & window
        # as_of is a cut: a payment dated after it has not happened yet
        paid_by_then = (t.paid_date.notnull() & (t.paid_date <= end_lit)) if "paid_date" in t.columns \
            else ibis.literal(True)
        paid_on = ibis.ifelse(paid_by_then, t.paid_date, end_lit) if "paid_date" in t.columns else end_lit
        late = ibis.greatest(paid_on.delta(t.due_date, unit="day"), 0).cast("float64")
        metrics["due_amount"] = exact(due)
        metrics["late_weighted"] = (late * amount).sum(where=due)
        if "paid_amount" in t.columns:
            metrics["paid"] = t.paid_amount.cast("float64").sum(where=due & paid_by_then)
    if single_line_orders:
        lines = order_key(t).count() if inside is None else order_key(t).count(where=inside)
        metrics.update(orders=lines, largest=amount.max() if inside is None else amount.max(where=inside))
        per = t.group_by("customer_id").aggregate(**metrics)
    else:
        per = t.group_by("customer_id").aggregate(**metrics)
        w = t if inside is None else t.filter(inside)
        orders = w.group_by([w.customer_id, order_key(w).name("order_key")]).aggregate(value=w.amount.sum().cast("float64"))
        orders = orders.group_by("customer_id").aggregate(orders=orders.order_key.count(), largest=orders.value.max())
        per = per.join(orders, "customer_id")  # (inner: the customers with an order in the window)
    if inside is not None:
        per = per.filter(per.window_lines > 0).drop("window_lines")
    frame = per.to_pandas().sort_values("customer_id", kind="mergesort")
    frame = frame.reset_index(drop=True)
    return _derive(frame, end, attributes)


MONTH_BITS = 62  # months per bit word: bits 0–61 of a 64-bit integer, clear of the sign bit


def month_words(t: ibis.Table, end: pd.Timestamp) -> dict:
    """The months a customer ordered in, as bit words for ``count_months``: bit i of word k
    (``months_k``) is set when the customer has a line dated in the month that is
    MONTH_BITS·k + i months before ``end``'s month. A bitwise OR per customer is a plain
    aggregate, where counting distinct months is a distinct count (twice the time on ten
    million lines). Words cover the months back to the earliest line of ``t``."""
    first = t.order_date.min().execute()
    first = end if first is None or pd.isna(first) else pd.Timestamp(first)  # no lines: one word
    back = (end.year - t.order_date.year()) * 12 + (end.month - t.order_date.month())
    words = ((end.year - first.year) * 12 + end.month - first.month) // MONTH_BITS + 1
    # a cast, not a typed literal: Spark SQL reads the literal 1 as a 32-bit INT, and shifting
    # that by 32 or more wraps around (1 << 40 gave 256 there)
    one = ibis.literal(1).cast("int64")
    if words == 1:
        return {"months_0": (one << back.cast("int64")).bit_or()}
    out = {}
    for k in range(words):
        inside = (back >= MONTH_BITS * k) & (back < MONTH_BITS * (k + 1))
        # the shift stays in range on every line (the database may evaluate it before the filter)
        shift = ibis.ifelse(inside, back - MONTH_BITS * k, 0).cast("int64")
        out[f"months_{k}"] = (one << shift).bit_or(where=inside)
    return out


def count_months(frame: pd.DataFrame) -> pd.Series:
    """Active months from the ``month_words`` columns (set bits counted); drops the words."""
    columns = [c for c in frame.columns if c.startswith("months_")]
    bits = sum(np.bitwise_count(frame[c].fillna(0).astype("int64").to_numpy()) for c in columns)
    frame.drop(columns=columns, inplace=True)
    return pd.Series(np.asarray(bits, dtype="int64"), index=frame.index)


def _derive(frame: pd.DataFrame, end: pd.Timestamp, attributes) -> pd.DataFrame:
    day = end.normalize()
    frame["active_months"] = count_months(frame)
    first = pd.to_datetime(frame["first_order"])
    last = pd.to_datetime(frame["last_order"])
    frame["tenure_days"] = (day - first.dt.normalize()).dt.days
    frame["days_since_last"] = (day - last.dt.normalize()).dt.days
    frame["avg_order_value"] = frame["revenue"] / frame["orders"]
    months = (day.year - first.dt.year) * 12 + (day.month - first.dt.month) + 1
    frame["regularity"] = frame["active_months"] / months
    positive = frame["revenue"].where(frame["revenue"] > 0)
    frame["largest_order_share"] = frame["largest"] / positive
    both = frame["recent_revenue"].fillna(0).clip(lower=0) + frame["prior_revenue"].fillna(0).clip(lower=0)
    frame["growth_ratio"] = (frame["recent_revenue"].fillna(0).clip(lower=0) / both.where(both > 0))
    if "profit" in frame:
        frame["margin"] = frame["profit"] / positive
    if "discount_weighted" in frame:
        frame["discount"] = frame["discount_weighted"] / frame["discount_base"].where(frame["discount_base"] > 0)
        frame = frame.drop(columns=["discount_weighted", "discount_base"])
    if "due_amount" in frame:
        base = frame["due_amount"].where(frame["due_amount"] > 0)
        frame["overdue_days"] = frame["late_weighted"] / base
        if "paid" in frame:
            frame["collection_rate"] = (frame["paid"].fillna(0) / base).clip(upper=1.0)
        frame = frame.drop(columns=[c for c in ("due_amount", "late_weighted", "paid") if c in frame])
    if attributes is not None:
        attrs = attributes.to_pandas()
        keep = [c for c in ("customer_id", "credit_rating", "industry_influence") if c in attrs]
        if len(keep) > 1:
            frame = frame.merge(attrs[keep], on="customer_id", how="left")
        if "credit_rating" in frame:
            frame["credit_score"] = frame["credit_rating"].map(
                lambda r: CREDIT_SCALE.get(str(r).strip().upper()) if pd.notna(r) else None).astype("float64")
    return frame.drop(columns=["largest"])
