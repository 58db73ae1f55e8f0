"""What customers owe as of a date: aging, days sales outstanding, exposure and its
concentration, and whose payment behaviour is getting worse.

Everything is aggregated in the database from the receivable lines — transactions with a
``due_date`` (lines without one are cash sales and owe nothing) — dated on or before the as-of
date A; nothing after A is seen. One definition each:

* paid by a day D: ``paid_amount`` (or the line's amount when the paid date is known but the
  paid amount is not) when ``paid_date`` ≤ D, else 0 — a payment after A counts as unpaid;
* outstanding at D = amount − paid by D, over the lines dated on or before D. A partial payment
  leaves the rest outstanding; an overpayment or an unrefunded credit note (a negative line)
  counts against the customer's balance, in the bucket of its own due date;
* days overdue at A = A − due date (whole days); the buckets: not_due (due on or after A),
  overdue_1_30, overdue_31_60, overdue_61_90, overdue_90_plus; overdue = the four summed;
* DSO (days sales outstanding) = outstanding at A / credit sales × 90, credit sales being the
  receivable lines dated in the 90 days up to A; None when those sales are not positive. The
  portfolio's DSO is the same ratio of the totals;
* share_of_receivables = max(outstanding, 0) / Σ max(outstanding, 0) and the portfolio's
  concentration (CR5, HHI …): ``concentration.concentration`` on the outstanding balances, the
  same definitions as revenue concentration, so a customer owing us nothing counts as 0;
* days late of a payment = max(0, paid date − due date); avg_days_late_recent /
  avg_days_late_prior: the amount-weighted mean over the lines paid in the 90 days up to A /
  in the 180 days before them (None without any); avg_days_late: the same over both windows
  (the 270 days up to A);
* flags: ``slow_payer`` (avg_days_late above ``SLOW_PAYER_DAYS``, the churn page's paying-late
  reason), ``major_exposure`` (share ≥ 10%, the major-customer rule), ``over_credit_limit``
  (outstanding above the ``credit_limit`` attribute, when given), ``paying_later`` (recent days
  late ≥ prior + ``LATER_MARGIN_DAYS``), ``overdue_growing`` (overdue at A above overdue one
  month earlier, above two months earlier, above three months earlier: three rises running).
"""
from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from kam_analytics.analytics.concentration import MAJOR_CUSTOMER_SHARE, concentration
from kam_analytics.analytics.filters import apply_filters, as_day

BUCKETS = ("not_due", "overdue_1_30", "overdue_31_60", "overdue_61_90", "overdue_90_plus")
OVERDUE_BUCKETS = BUCKETS[1:]
DSO_DAYS = 90
RECENT_DAYS = 90
PRIOR_DAYS = 180
LATER_MARGIN_DAYS = 15
GROWTH_MONTHS = 3
SLOW_PAYER_DAYS = 30
FLAGS = ("slow_payer", "major_exposure", "over_credit_limit", "paying_later", "overdue_growing")
# the flags that put an account on the list of payments getting worse (the receivables page's
# tab and the overview's count of it)
WORSENING = ("paying_later", "overdue_growing", "slow_payer", "over_credit_limit")
COLUMNS = ["customer_id", "name", "outstanding", *BUCKETS, "overdue", "credit_sales", "dso_days", "share_of_receivables",
           "avg_days_late", "avg_days_late_recent", "avg_days_late_prior", "overdue_1m_ago", "overdue_2m_ago", "overdue_3m_ago",
           "credit_limit", "flags"]


def available(columns) -> bool:
    """Whether a dataset with these columns can show receivables: it needs due dates and paid
    dates."""
    return {"due_date", "paid_date"} <= set(columns)


def _paid_by(t: ibis.Table, day: dt.date):
    amount = t.amount.cast("float64")
    paid = t.paid_amount.cast("float64") if "paid_amount" in t.columns else amount
    settled = t.paid_date.notnull() & (t.paid_date.date() <= day)
    return ibis.ifelse(settled, ibis.coalesce(paid, amount), 0.0)


def _outstanding_at(t: ibis.Table, day: dt.date):
    """(outstanding at ``day`` of the lines dated by then, else 0) as an expression per line."""
    dated = t.order_date.date() <= day
    return ibis.ifelse(dated, t.amount.cast("float64") - _paid_by(t, day), 0.0)


def month_ago(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day when shorter)."""
    return (pd.Timestamp(day) - pd.DateOffset(months=months)).date()


def per_customer(table: ibis.Table, as_of, attributes: ibis.Table | None = None) -> pd.DataFrame:
    """One row per customer with a receivable line dated on or before ``as_of`` (columns
    ``COLUMNS``; see the module docstring), largest outstanding first (ties by customer_id).
    ``attributes``: the dataset's per-customer attributes (for ``credit_limit``)."""
    day = as_day(as_of)
    t = apply_filters(table, as_of=day)
    t = t.filter(t.due_date.notnull())
    due = t.due_date.date()
    owed = t.amount.cast("float64") - _paid_by(t, day)
    overdue_days = ibis.literal(day).delta(due, unit="day")
    bands = {"not_due": overdue_days <= 0, "overdue_1_30": (overdue_days >= 1) & (overdue_days <= 30),
             "overdue_31_60": (overdue_days >= 31) & (overdue_days <= 60),
             "overdue_61_90": (overdue_days >= 61) & (overdue_days <= 90), "overdue_90_plus": overdue_days > 90}
    metrics = {name: owed.sum(where=where) for name, where in bands.items()}
    metrics["outstanding"] = owed.sum()
    recent_start = day - dt.timedelta(days=RECENT_DAYS - 1)
    prior_start = recent_start - dt.timedelta(days=PRIOR_DAYS)
    metrics["credit_sales"] = t.amount.cast("float64").sum(where=t.order_date.date() >= day - dt.timedelta(days=DSO_DAYS - 1))
    for k in range(1, GROWTH_MONTHS + 1):
        earlier = month_ago(day, k)
        metrics[f"overdue_{k}m_ago"] = _outstanding_at(t, earlier).sum(where=due < earlier)
    paid_day = t.paid_date.date()
    paid = t.paid_date.notnull() & (paid_day <= day) & (t.amount > 0)
    late = ibis.greatest(paid_day.delta(due, unit="day"), 0).cast("float64")
    amount = t.amount.cast("float64")
    for name, start, end in (("recent", recent_start, day), ("prior", prior_start, recent_start - dt.timedelta(days=1))):
        inside = paid & (paid_day >= start) & (paid_day <= end)
        metrics[f"late_weighted_{name}"] = (late * amount).sum(where=inside)
        metrics[f"paid_weight_{name}"] = amount.sum(where=inside)
    if "customer_name" in t.columns:
        metrics["name"] = t.customer_name.max()
    out = t.group_by("customer_id").aggregate(**metrics).to_pandas()
    out["overdue"] = out[list(OVERDUE_BUCKETS)].sum(axis=1)
    for name in BUCKETS + ("outstanding", "overdue", "credit_sales") + tuple(f"overdue_{k}m_ago" for k in range(1, 4)):
        out[name] = out[name].fillna(0.0).astype(float)
    for name in ("recent", "prior"):
        weight = out[f"paid_weight_{name}"].astype(float)
        out[f"avg_days_late_{name}"] = out[f"late_weighted_{name}"].astype(float) / weight.where(weight > 0)
    weight = out["paid_weight_recent"].fillna(0).astype(float) + out["paid_weight_prior"].fillna(0).astype(float)
    late_sum = out["late_weighted_recent"].fillna(0).astype(float) + out["late_weighted_prior"].fillna(0).astype(float)
    out["avg_days_late"] = late_sum / weight.where(weight > 0)
    out["dso_days"] = out["outstanding"] / out["credit_sales"].where(out["credit_sales"] > 0) * DSO_DAYS
    positive = out["outstanding"].clip(lower=0)
    total = float(positive.sum())
    out["share_of_receivables"] = positive / total if total > 0 else np.nan
    if "name" not in out:
        out["name"] = None
    out["credit_limit"] = np.nan
    if attributes is not None and "credit_limit" in attributes.columns:
        limits = attributes.select("customer_id", "credit_limit").to_pandas()
        out["credit_limit"] = out["customer_id"].map(dict(zip(limits["customer_id"], limits["credit_limit"]))).astype(float)
    out["flags"] = [flags(row) for _, row in out.iterrows()]
    out = out.sort_values(["outstanding", "customer_id"], ascending=[False, True], kind="mergesort")
    return out[COLUMNS].reset_index(drop=True)


def flags(row: pd.Series) -> list[str]:
    """The module docstring's flags that hold for one row of ``per_customer``."""
    found = []
    if pd.notna(row["avg_days_late"]) and row["avg_days_late"] > SLOW_PAYER_DAYS:
        found.append("slow_payer")
    share = row["share_of_receivables"]
    if pd.notna(share) and share >= MAJOR_CUSTOMER_SHARE - 1e-12:
        found.append("major_exposure")
    if pd.notna(row["credit_limit"]) and row["outstanding"] > row["credit_limit"]:
        found.append("over_credit_limit")
    recent, prior = row["avg_days_late_recent"], row["avg_days_late_prior"]
    if pd.notna(recent) and pd.notna(prior) and recent >= prior + LATER_MARGIN_DAYS:
        found.append("paying_later")
    if row["overdue"] > row["overdue_1m_ago"] > row["overdue_2m_ago"] > row["overdue_3m_ago"]:
        found.append("overdue_growing")
    return found


def ranked(receivables: pd.DataFrame) -> pd.DataFrame:
    """``per_customer`` rows in the shape ``concentration.concentration`` reads: value =
    outstanding, x = max(outstanding, 0), ranked by value (ties by customer_id)."""
    frame = receivables.sort_values(["outstanding", "customer_id"], ascending=[False, True], kind="mergesort")
    frame = frame.assign(value=frame["outstanding"], x=frame["outstanding"].clip(lower=0))
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["cum_x"] = frame["x"].cumsum()
    return frame.reset_index(drop=True)


def portfolio(receivables: pd.DataFrame) -> dict:
    """Totals of ``per_customer`` rows: outstanding, each bucket and overdue summed;
    overdue_share = overdue / outstanding (None when outstanding ≤ 0); dso_days = Σ outstanding
    / Σ credit sales × 90 (None when those sales ≤ 0); customers (with a receivable line) and
    owing (outstanding > 0); the concentration of the balances (``concentration.concentration``)."""
    sums = {name: float(receivables[name].sum()) for name in ("outstanding", *BUCKETS, "overdue", "credit_sales")}
    outstanding, sales = sums["outstanding"], sums.pop("credit_sales")
    return {**sums, "overdue_share": sums["overdue"] / outstanding if outstanding > 0 else None,
            "dso_days": outstanding / sales * DSO_DAYS if sales > 0 else None,
            "customers": int(len(receivables)), "owing": int((receivables["outstanding"] > 0).sum()),
            "concentration": concentration(ranked(receivables), measure="receivables")}


def by_group(receivables: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Outstanding and buckets summed per value of ``groups`` (customer_id → owner or region;
    customers without one under None), largest outstanding first."""
    frame = receivables.assign(group=receivables["customer_id"].map(groups))
    out = frame.groupby("group", dropna=False)[["outstanding", *BUCKETS, "overdue"]].sum().reset_index()
    return out.sort_values(["outstanding", "group"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def history(table: ibis.Table, customer_id: str, as_of) -> pd.DataFrame:
    """One account's receivable lines up to ``as_of``: order_id (when known), invoice date,
    due date, amount, paid by A, paid date (None when paid after A), outstanding, days overdue
    (A − due, at least 0, while anything is outstanding) and days late (paid − due, at least
    0, once paid); newest first."""
    day = as_day(as_of)
    t = apply_filters(table, as_of=day)
    t = t.filter(t.due_date.notnull() & (t.customer_id == customer_id))
    paid = _paid_by(t, day)
    settled = t.paid_date.notnull() & (t.paid_date.date() <= day)
    columns = {"order_id": t.order_id} if "order_id" in t.columns else {}
    rows = t.select(**columns, invoice_date=t.order_date.date(), due_date=t.due_date.date(),
                    amount=t.amount.cast("float64"), paid=paid,
                    paid_date=ibis.ifelse(settled, t.paid_date.date(), ibis.null("date"))).to_pandas()
    rows["outstanding"] = rows["amount"] - rows["paid"]
    overdue = (pd.Timestamp(day) - pd.to_datetime(rows["due_date"])).dt.days.clip(lower=0)
    rows["days_overdue"] = overdue.where(rows["outstanding"].abs() > 1e-9)
    late = (pd.to_datetime(rows["paid_date"]) - pd.to_datetime(rows["due_date"])).dt.days.clip(lower=0)
    rows["days_late"] = late
    return rows.sort_values(["invoice_date", "due_date"], ascending=False, kind="mergesort").reset_index(drop=True)


def churn_reasons(row: dict) -> list[dict]:
    """The churn page's reasons (``churn.reason_text``) for one ``per_customer`` row whose
    payments are getting worse: paying_later (recent and prior average days late) and
    overdue_rising (the overdue amount now)."""
    found = []
    if "paying_later" in row["flags"]:
        found.append({"reason": "paying_later", "recent": int(round(row["avg_days_late_recent"])),
                      "prior": int(round(row["avg_days_late_prior"]))})
    if "overdue_growing" in row["flags"]:
        found.append({"reason": "overdue_rising", "amount": float(row["overdue"])})
    return found


def getting_worse(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``per_customer`` whose flags hold one of ``WORSENING``, in their order."""
    if rows.empty:
        return rows
    return rows[rows["flags"].apply(lambda f: bool(set(WORSENING) & set(f)))]
