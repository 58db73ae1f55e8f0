"""The account P&L: what an account really earns once the cost of serving it is counted.

Over a window of days [start, end] (both included), per customer:

* revenue = Σ net amount of its lines dated in the window;
* gross_profit = Σ profit of those lines (the dataset's profit, or revenue − cost of goods);
* cost_to_serve = Σ of the costs file's rows dated in the window that are for it: its
  **direct** costs (rows naming it) plus its part of every **shared** cost (rows naming
  dimension values instead, e.g. region 华东, or region 华东 and channel 直销): a shared cost
  is spread over the customers whose lines in the window carry all the values it names, in
  proportion to each customer's net revenue on those lines, a negative net revenue counted as
  0. A shared cost whose customers have no positive revenue in the window cannot be spread:
  it is reported as unallocated and charged to nobody. Costs dated outside the window are
  left out (and their total reported);
* financing_cost = the cost of the money the customer owes: average outstanding receivables
  over the window's days × annual ``rate`` × days ÷ 365, i.e. rate ÷ 365 × Σ over the window's
  days of the outstanding balance at the end of that day (``receivables``' definition: every
  receivable line dated by then less what was paid by then; a credit balance averaged over the
  window counts as 0). 0 when the rate is 0 or there are no receivables;
* net_profit = gross_profit − cost_to_serve − financing_cost;
* net_margin = net_profit ÷ revenue when revenue > 0, else None.

Customers listed: those with lines in the window, and those with a direct cost in it but no
line (all cost, no revenue). One column per cost type (``cost_<type>``; rows without a type
count as ``cost_other``) holds each customer's direct and shared costs of that type.

Everything per line is aggregated in the database; what comes back is per customer, per
dimension value, or per cost row.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from kam_analytics.schema import COST_DIMENSIONS

PNL_COLUMNS = ["customer_id", "name", "revenue", "gross_profit", "cost_to_serve", "financing_cost", "net_profit",
               "net_margin"]
OTHER_TYPE = "other"  # the cost type of rows that name none
COST_PREFIX = "cost_"


def cost_column(kind) -> str:
    """The P&L column of a cost type."""
    return COST_PREFIX + (str(kind) if kind is not None and str(kind) != "" else OTHER_TYPE)


@dataclass
class Pnl:
    """The P&L of a window: ``rows`` (one per customer, PNL_COLUMNS then one column per cost
    type, most costly type first), ``cost_types`` (those columns' types, in that order),
    ``start``/``end``, ``rate``, ``outside_window`` (Σ of cost rows dated outside the window),
    ``unallocated`` (shared costs nobody's revenue could carry: [{values, cost_type, amount}])."""

    rows: pd.DataFrame
    cost_types: list[str]
    start: dt.date
    end: dt.date
    rate: float
    outside_window: float = 0.0
    unallocated: list[dict] = field(default_factory=list)

    @property
    def unallocated_total(self) -> float:
        return float(sum(u["amount"] for u in self.unallocated))


def _within(column, start: dt.date, end: dt.date):
    day = column.date()
    return (day >= start) & (day <= end)


def cost_rows(costs: ibis.Table | None, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, float]:
    """The cost rows dated in the window (order_date, amount, cost_type, customer_id and the
    dimension values, as stored) and the total of those outside it."""
    if costs is None:
        return pd.DataFrame(columns=["amount", "cost_type", "customer_id"]), 0.0
    inside = _within(costs.order_date, start, end)
    outside = costs.aggregate(total=costs.amount.cast("float64").sum(where=~inside)).to_pandas()["total"].iloc[0]
    rows = costs.filter(inside).to_pandas()
    rows["amount"] = rows["amount"].astype("float64")
    for column in ("cost_type", "customer_id", *COST_DIMENSIONS):
        if column not in rows:
            rows[column] = None
    rows["cost_type"] = [cost_column(k) for k in rows["cost_type"]]
    return rows, float(outside if pd.notna(outside) else 0.0)


def _shares(lines: ibis.Table, dims: list[str], keys: pd.DataFrame) -> pd.DataFrame:
    """For each combination of values in ``keys`` (columns ``dims``), each customer's weight:
    max(0, net revenue of its lines carrying those values), with ``total`` the weights' sum."""
    wanted = ibis.memtable(keys[dims].drop_duplicates().astype("string"))
    mine = lines.filter(*[lines[d].notnull() for d in dims])
    per = mine.join(wanted, [mine[d].cast("string") == wanted[d] for d in dims]).group_by(
        ["customer_id", *[mine[d].cast("string").name(d) for d in dims]]).aggregate(
        w=mine.amount.cast("float64").sum()).to_pandas()
    per["w"] = per["w"].clip(lower=0.0)
    per["total"] = per.groupby(dims)["w"].transform("sum")
    return per


def allocate(lines: ibis.Table, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Each customer's costs by type (long: customer_id, cost_type, amount) — its direct rows
    and its parts of the shared rows — and the shared costs that could not be spread."""
    direct = rows[rows["customer_id"].notna()][["customer_id", "cost_type", "amount"]]
    parts, unallocated = [direct], []
    shared = rows[rows["customer_id"].isna()]
    if shared.empty:
        return direct, unallocated
    named = shared[list(COST_DIMENSIONS)].notna()
    shape = named.apply(lambda r: tuple(d for d in COST_DIMENSIONS if r[d]), axis=1)
    for dims, group in shared.groupby(shape, sort=True):
        dims = list(dims)
        keys = group[dims].astype("string").assign(cost_type=group["cost_type"].to_numpy(),
                                                   amount=group["amount"].to_numpy())
        keys = keys.groupby([*dims, "cost_type"], as_index=False, sort=True)["amount"].sum()
        weights = _shares(lines, dims, keys) if set(dims) <= set(lines.columns) else pd.DataFrame(
            columns=["customer_id", *dims, "w", "total"])
        carried = weights[weights["total"] > 0]
        spread = keys.merge(carried, on=dims, how="inner")
        spread["amount"] = spread["amount"] * spread["w"] / spread["total"]
        parts.append(spread[["customer_id", "cost_type", "amount"]])
        left = keys.merge(carried[dims].drop_duplicates(), on=dims, how="left", indicator=True)
        for _, r in left[left["_merge"] == "left_only"].iterrows():
            unallocated.append({"values": {d: r[d] for d in dims}, "cost_type": r["cost_type"],
                                "amount": float(r["amount"])})
    return pd.concat(parts, ignore_index=True), unallocated


def financing(receivable_lines: ibis.Table | None, start: dt.date, end: dt.date, rate: float) -> pd.Series:
    """financing_cost per customer (module docstring): rate ÷ 365 × max(0, Σ over the lines of
    amount × days(invoice date) − paid × days(paid date)), days(x) being the window's days on
    or after x. Empty without receivables or at a rate of 0."""
    if receivable_lines is None or not rate:
        return pd.Series(dtype="float64")
    t = receivable_lines
    if "due_date" in t.columns:
        t = t.filter(t.due_date.notnull())  # (transactions: a line without a due date is a cash sale)
    first, last = ibis.literal(start), ibis.literal(end)

    def days(column):
        return ibis.greatest(last.delta(ibis.greatest(first, column.date()), unit="day") + 1, 0)

    amount = t.amount.cast("float64")
    paid = ibis.coalesce(t.paid_amount.cast("float64"), amount) if "paid_amount" in t.columns else amount
    paid_days = ibis.ifelse(t.paid_date.notnull(), paid * days(t.paid_date), 0.0) if "paid_date" in t.columns else 0.0
    per = t.group_by("customer_id").aggregate(owed=(amount * days(t.order_date) - paid_days).sum()).to_pandas()
    return pd.Series(np.maximum(per["owed"].astype("float64").to_numpy(), 0.0) * rate / 365.0,
                     index=per["customer_id"].astype(str).to_numpy())


def pnl(lines: ibis.Table, costs: ibis.Table | None, receivable_lines: ibis.Table | None, start: dt.date,
        end: dt.date, rate: float = 0.0) -> Pnl:
    """The account P&L of every customer over [start, end] (module docstring). ``lines``: the
    dataset's lines (with profit); ``costs``: the costs file's rows; ``receivable_lines``: what
    receivables are computed from (None: no financing cost)."""
    window = lines.filter(_within(lines.order_date, start, end))
    metrics = {"revenue": window.amount.cast("float64").sum(), "gross_profit": window.profit.cast("float64").sum()}
    if "customer_name" in window.columns:
        metrics["name"] = window.customer_name.max()
    per = window.group_by("customer_id").aggregate(**metrics).to_pandas()
    if "name" not in per:
        per["name"] = None
    per["customer_id"] = per["customer_id"].astype(str)
    rows, outside = cost_rows(costs, start, end)
    charged, unallocated = allocate(window, rows)
    charged = charged.assign(customer_id=charged["customer_id"].astype(str))
    types = charged.groupby("cost_type")["amount"].sum().reset_index().sort_values(
        ["amount", "cost_type"], ascending=[False, True], kind="mergesort")["cost_type"].tolist()
    wide = charged.pivot_table(index="customer_id", columns="cost_type", values="amount", aggfunc="sum",
                               fill_value=0.0) if not charged.empty else pd.DataFrame()
    extra = sorted(set(wide.index) - set(per["customer_id"]))
    if extra:  # a direct cost in the window but no line in it: all cost, no revenue
        names = _names(lines, extra)
        per = pd.concat([per, pd.DataFrame({"customer_id": extra, "revenue": 0.0, "gross_profit": 0.0,
                                            "name": [names.get(c) for c in extra]})], ignore_index=True)
    per = per.set_index("customer_id")
    for kind in types:
        per[kind] = wide[kind].reindex(per.index).fillna(0.0) if kind in wide else 0.0
    per["cost_to_serve"] = per[types].sum(axis=1) if types else 0.0
    fin = financing(receivable_lines, start, end, rate)
    per["financing_cost"] = fin.reindex(per.index).fillna(0.0) if len(fin) else 0.0
    per["net_profit"] = per["gross_profit"] - per["cost_to_serve"] - per["financing_cost"]
    per["net_margin"] = [n / r if r > 0 else None for n, r in zip(per["net_profit"], per["revenue"])]
    per = per.reset_index()
    per = per.sort_values(["net_profit", "customer_id"], ascending=[True, True], kind="mergesort")
    return Pnl(per[[*PNL_COLUMNS, *types]].reset_index(drop=True), types, start, end, rate, outside, unallocated)


def _names(lines: ibis.Table, ids: list[str]) -> dict:
    if "customer_name" not in lines.columns:
        return {}
    found = lines.filter(lines.customer_id.cast("string").isin(ids)).group_by("customer_id").aggregate(
        name=lines.customer_name.max()).to_pandas()
    return dict(zip(found["customer_id"].astype(str), found["name"]))


def by_group(result: Pnl, groups: pd.DataFrame) -> Pnl:
    """The P&L summed over each group's members (``groups``: customer_id, group_id,
    group_name): customer_id = the group id, name = the group's name; net_margin recomputed
    on the sums."""
    rows = result.rows.merge(groups[["customer_id", "group_id", "group_name"]].astype({"customer_id": str}),
                             on="customer_id", how="left")
    rows["group_id"] = rows["group_id"].fillna(rows["customer_id"])
    rows["group_name"] = rows["group_name"].fillna(rows["name"])
    money = ["revenue", "gross_profit", "cost_to_serve", "financing_cost", "net_profit", *result.cost_types]
    out = rows.groupby("group_id", sort=True).agg(
        name=("group_name", "first"), **{m: (m, "sum") for m in money}).reset_index()
    out = out.rename(columns={"group_id": "customer_id"})
    out["net_margin"] = [n / r if r > 0 else None for n, r in zip(out["net_profit"], out["revenue"])]
    out = out.sort_values(["net_profit", "customer_id"], kind="mergesort")
    columns = [*PNL_COLUMNS, *result.cost_types]
    return Pnl(out[columns].reset_index(drop=True), result.cost_types, result.start, result.end, result.rate,
               result.outside_window, result.unallocated)


def losses(rows: pd.DataFrame) -> pd.DataFrame:
    """The accounts that serve at a loss: gross profit positive, net profit negative (the
    volume-versus-profit fallacy made visible), most negative net profit first, ties by id."""
    lost = rows[(rows["gross_profit"] > 0) & (rows["net_profit"] < 0)]
    return lost.sort_values(["net_profit", "customer_id"], kind="mergesort").reset_index(drop=True)


def pnl_notes(result: Pnl) -> list[tuple[str, dict]]:
    """What a P&L should be read with, as catalog keys and their parameters: its window and
    rate, the costs dated outside the window, the shared costs nobody could carry."""
    notes = [("pnl_window", {"start": result.start.isoformat(), "end": result.end.isoformat(),
                             "rate": f"{result.rate:.2%}"})]
    if result.outside_window:
        notes.append(("pnl_outside_window", {"amount": f"{result.outside_window:,.2f}"}))
    if result.unallocated:
        notes.append(("pnl_unallocated", {"amount": f"{result.unallocated_total:,.2f}",
                                          "values": "; ".join(", ".join(str(v) for v in u["values"].values())
                                                              for u in result.unallocated)}))
    return notes
