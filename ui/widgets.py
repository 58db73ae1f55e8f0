"""Small display pieces several pages share."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from kam_analytics.analytics.overview import ranked
from ui.state import open_account, tr


def no_dataset() -> None:
    st.info(tr("no_dataset"))
    st.page_link("app_pages/data.py", label=tr("go_to_data"), icon="📂")


def customer_table(summary: pd.DataFrame, key: str, limit: int | None = None) -> None:
    """Customers by revenue with their share; clicking a row opens that account."""
    table = ranked(summary)
    total = float(summary["revenue"].sum())
    table = table.assign(share=table["revenue"] / total if total > 0 else None)
    if limit:
        table = table.head(limit)
    columns = ["customer_id"] + (["name"] if "name" in table else []) + \
        ["revenue", "share", "orders", "first_order", "last_order"] + (["profit"] if "profit" in table else [])
    config = {
        "customer_id": st.column_config.TextColumn(tr("col_customer_id")),
        "name": st.column_config.TextColumn(tr("col_name")),
        "revenue": st.column_config.NumberColumn(tr("col_revenue"), format="localized"),
        "share": st.column_config.NumberColumn(tr("col_share"), format="percent"),
        "orders": st.column_config.NumberColumn(tr("col_orders"), format="localized"),
        "first_order": st.column_config.DateColumn(tr("col_first_order")),
        "last_order": st.column_config.DateColumn(tr("col_last_order")),
        "profit": st.column_config.NumberColumn(tr("col_profit"), format="localized"),
    }
    event = st.dataframe(table[columns], hide_index=True, width="stretch", column_config=config,
                         on_select="rerun", selection_mode="single-row", key=key)
    rows = event.selection.rows if event is not None else []
    if rows:
        open_account(str(table.iloc[rows[0]]["customer_id"]))
