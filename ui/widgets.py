"""Small display pieces several pages share."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from kam_analytics.analytics.churn import standing
from kam_analytics.analytics.overview import ranked
from kam_analytics.export import csv_bytes, excel_bytes
from ui.state import open_account, tr


def no_dataset() -> None:
    st.info(tr("no_dataset"))
    st.page_link("app_pages/data.py", label=tr("go_to_data"), icon=":material/folder_open:")


def customer_table(summary: pd.DataFrame, key: str, limit: int | None = None, as_of=None) -> None:
    """Customers by revenue with their share; clicking a row opens that account. With a
    ``limit``, only the customers tying with the limit-th largest revenue or above are sorted
    (the same rows in the same order, without sorting 100,000 on every rerun). With ``as_of``,
    a customer that has lapsed or has not ordered for a year is marked so (``churn.standing``)."""
    total = float(summary["revenue"].sum())
    table = summary
    if limit and len(summary) > limit:
        largest = summary["revenue"].nlargest(limit)
        if len(largest) == limit:
            table = summary[summary["revenue"] >= largest.min()]
    table = ranked(table)
    table = table.assign(share=table["revenue"] / total if total > 0 else None)
    if limit:
        table = table.head(limit)
    columns = ["customer_id"] + (["name"] if "name" in table else []) + \
        ["revenue", "share", "orders", "first_order", "last_order"] + (["profit"] if "profit" in table else [])
    if as_of is not None and {"first_order", "orders"} <= set(table.columns):
        marks = standing(table, as_of).map({"active": "", "lapsed": tr("standing_lapsed"), "gone": tr("standing_gone")})
        table = table.assign(standing=marks)
        columns.insert(2 if "name" in table else 1, "standing")
    config = {
        "customer_id": st.column_config.TextColumn(tr("col_customer_id")),
        "name": st.column_config.TextColumn(tr("col_name")),
        "revenue": st.column_config.NumberColumn(tr("col_revenue"), format="localized"),
        "share": st.column_config.NumberColumn(tr("col_share"), format="percent"),
        "orders": st.column_config.NumberColumn(tr("col_orders"), format="localized"),
        "first_order": st.column_config.DateColumn(tr("col_first_order")),
        "last_order": st.column_config.DateColumn(tr("col_last_order")),
        "profit": st.column_config.NumberColumn(tr("col_profit"), format="localized"),
        "standing": st.column_config.TextColumn(tr("col_standing"), help=tr("col_standing_help")),
    }
    clickable_table(table[columns], key, config, id_column="customer_id")


def clickable_table(frame: pd.DataFrame, key: str, config: dict | None = None, id_column: str | None = None) -> None:
    """A table of customers; clicking a row opens that account (its id in ``id_column``, by
    default the translated customer-id column)."""
    event = st.dataframe(frame, hide_index=True, width="stretch", column_config=config or {},
                         on_select="rerun", selection_mode="single-row", key=key)
    rows = event.selection.rows if event is not None else []
    if rows:
        open_account(str(frame.iloc[rows[0]][id_column or tr("col_customer_id")]))


def download_buttons(frame: pd.DataFrame, file_stem: str, sheet: str, csv_label: str, xlsx_label: str,
                     dataset: str | None = None, percent: tuple[str, ...] = (), data_slice=None) -> None:
    """CSV and Excel downloads of ``frame``, side by side. The files are made when clicked (an
    Excel file of 100,000 rows takes seconds), and a click does not rerun the page: a rerun
    raced the file being made and the download was sometimes lost. Each file made is written
    to the audit trail (who exported which list of ``dataset``, how many rows). ``percent``:
    columns of fractions the workbook shows as percentages. ``data_slice``: the slice a list of
    accounts (its first column the account id) was drawn on; by group the files start with the
    group's id, name and members (``tables.with_group_columns``)."""
    from ui.auth import identity
    from ui.session import get_store

    audit = partial(_recorded, get_store(), identity(), dataset)
    if data_slice is not None and data_slice.by == "group":
        from ui import queries, tables
        from ui.session import lang

        frame = tables.with_group_columns(frame, queries.group_table(data_slice), lang())
    left, right = st.columns(2)
    left.download_button(csv_label, partial(audit, f"{file_stem}.csv", lambda: csv_bytes(frame), len(frame)),
                         file_name=f"{file_stem}.csv", mime="text/csv", on_click="ignore")
    right.download_button(xlsx_label, partial(audit, f"{file_stem}.xlsx", lambda: excel_bytes(frame, sheet, percent), len(frame)),
                          file_name=f"{file_stem}.xlsx", on_click="ignore")


def _recorded(store, who, dataset: str | None, file_name: str, make, rows: int) -> bytes:
    """The bytes of a download, made now (the click), and its audit entry."""
    from kam_analytics import service

    data = make()
    service.record_download(store, who, dataset, file_name, rows)
    return data


def tabbed(sections: list, key: str) -> None:
    """Tabs titled by catalog keys (``sections``: (key, function) pairs); only the open tab's
    function runs (a tab change reruns the page)."""
    containers = st.tabs([tr(name) for name, _ in sections], key=key, on_change="rerun")
    for (_, section), container in zip(sections, containers):
        with container:
            if container.open:
                section()


def job_progress(job, note: str | None = None, meanwhile=None) -> None:
    """While a background job (``ui.background``) runs: a progress bar naming its step, and
    ``note`` beneath; both go once it is done. ``meanwhile`` (a function) runs once the bar is
    drawn: what the page will need besides the job, computed beside it. Leaving the page stops
    the watching, not the job."""
    if job.done:
        if meanwhile is not None:
            meanwhile()
        return

    def text() -> str:
        return tr(job.step, **job.params) if job.step else tr("computing")

    bar = st.progress(job.fraction, text=text())
    below = st.caption(note) if note else None
    if meanwhile is not None:
        meanwhile()
    while not job.wait(0.3):
        bar.progress(min(max(job.fraction, 0.0), 1.0), text=text())
    bar.empty()
    if below is not None:
        below.empty()


PHONE_ROWS = 5  # accounts a phone's summary of a churn list shows (the table below has them all)


def phone_list(table: pd.DataFrame, listing: str, lang: str) -> None:
    """The first ``PHONE_ROWS`` accounts of a churn list (``service.churn_list`` rows) in a few
    lines each — name, risk (or days silent), reasons — shown only on a phone's narrow screen
    (``chrome.PHONE_ONLY``), where the wide table starts far down; a tap opens the account."""
    from kam_analytics.analytics.churn import reason_text
    from kam_analytics.i18n import customer_label, format_share, join_list
    from ui.chrome import PHONE_ONLY
    from ui.markdown import escape_markdown

    with st.container(key=f"{PHONE_ONLY}_churn_{listing}"):
        for row in table.head(PHONE_ROWS).to_dict("records"):
            label = customer_label(row["customer_id"], row.get("name"))
            if listing == "lapsed":
                figure = tr("churn_phone_lapsed", days=int(row["recency_days"]), last=str(row["last"])[:10])
            else:
                figure = tr("churn_phone_risk", risk=format_share(row["risk"]))
            reasons = join_list([reason_text(r, lang) for r in row["reasons"]], lang, sentences=True)
            if st.button(escape_markdown(label), key=f"phone_open_{listing}_{row['customer_id']}", type="tertiary"):
                open_account(str(row["customer_id"]))
            st.caption(escape_markdown(figure + (tr("churn_phone_reasons", reasons=reasons) if reasons else "")))
