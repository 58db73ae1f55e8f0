"""The shared real datasets ingest with zero hand mapping and reconcile to the cent with an
independent pandas computation."""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from kam_analytics.analytics.customers import customer_summary
from kam_analytics.ingest import ingest_file


def test_superstore_reconciles(store, shared_dataset):
    path = shared_dataset("superstore.csv")
    report = ingest_file(store, path)
    raw = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert report.encoding == "UTF-8 (BOM)"
    assert report.mapping["order_date"] == "Order Date"  # not the ship date
    assert report.date_formats["order_date"] == "%d/%m/%y"
    assert report.rows == len(raw) and report.rejected == 0
    assert report.customers == raw["Customer ID"].nunique()
    expected_revenue = sum(Decimal(v) for v in raw["Sales"])
    assert Decimal(str(round(report.revenue, 4))) == pytest.approx(expected_revenue, abs=Decimal("0.005"))
    dates = pd.to_datetime(raw["Order Date"], format="%d/%m/%y")
    assert report.date_min == str(dates.min()) and report.date_max == str(dates.max())
    # per-customer revenue and profit, independently
    ours = customer_summary(store.table(report.dataset)).set_index("customer_id")
    raw["Sales"] = raw["Sales"].astype(float)
    raw["Profit"] = raw["Profit"].astype(float)
    theirs = raw.groupby("Customer ID").agg(revenue=("Sales", "sum"), profit=("Profit", "sum"),
                                           orders=("Order ID", "nunique"))
    assert (ours["revenue"] - theirs["revenue"]).abs().max() < 0.005
    assert (ours["profit"] - theirs["profit"]).abs().max() < 0.005
    assert (ours["orders"] == theirs["orders"]).all()


def test_online_retail_reconciles(store, shared_dataset):
    path = shared_dataset("online_retail_sample.csv")
    report = ingest_file(store, path)
    raw = pd.read_csv(path, dtype=str)
    has_customer = raw["CustomerID"].notna() & (raw["CustomerID"].str.strip() != "")
    kept = raw[has_customer]
    assert report.amount_source == "quantity_x_unit_price"
    assert report.rows == len(kept) and report.rejected == (~has_customer).sum()
    assert report.rejected_reasons == {"customer_missing": int((~has_customer).sum())}
    ids = kept["CustomerID"].str.replace(r"\.0$", "", regex=True)
    assert report.customers == ids.nunique()
    expected = sum(Decimal(q) * Decimal(p) for q, p in zip(kept["Quantity"], kept["UnitPrice"]))
    assert Decimal(str(round(report.revenue, 4))) == pytest.approx(expected, abs=Decimal("0.005"))
    # returns (negative quantities, invoices starting with C) are kept: revenue is net
    returns = kept[kept["Quantity"].astype(int) < 0]
    assert len(returns) > 0
    table = store.table(report.dataset)
    assert table.filter(table.amount < 0).count().execute() == len(returns)
    # ids are '12923', never '12923.0'
    assert table.filter(table.customer_id.endswith(".0")).count().execute() == 0
