"""Receivables: what the key accounts (or all customers) owe as of the period's end, how late,
how concentrated that exposure is, and whose payment behaviour is getting worse."""
import pandas as pd
import streamlit as st

from kam_analytics import echarts, service
from kam_analytics.analytics import concentration as conc
from kam_analytics.analytics import receivables as owed
from kam_analytics.i18n import format_count, format_share
from ui import queries, tables
from ui.markdown import escape_markdown
from ui.state import file_stem, frame, labeller, money, open_account, tr
from ui.widgets import clickable_table, download_buttons, no_dataset, tabbed

AGING_BARS = 25  # accounts in the stacked bars (the largest balances)

view = frame("receivables_title")
if view.dataset is None:
    no_dataset()
    st.stop()
if not service.has_receivables(view.store, view.key):
    st.info(tr("receivables_none", dataset=escape_markdown(view.dataset.name)))
    st.stop()

as_of = view.end
scope = st.radio(tr("churn_scope"), ["key", "all"], format_func=labeller("recv_scope_"), key="recv_scope",
                 horizontal=True)
with st.spinner(tr("computing")):
    everyone = queries.receivables(view.key, as_of)
if everyone.empty:
    st.info(tr("recv_empty", date=str(as_of)))
    st.stop()
total = owed.portfolio(everyone)
rows = everyone
if scope == "key":
    card = queries.default_scorecard(view.key, as_of)
    rows = everyone[everyone["customer_id"].isin(set(card.table.loc[card.table["key_account"], "customer_id"]))]

c = total["concentration"]
cols = st.columns(3) + st.columns(3)  # two rows: 万 amounts need the width
cols[0].metric(tr("recv_outstanding"), money(total["outstanding"]), help=tr("recv_outstanding_help", date=str(as_of)))
cols[1].metric(tr("recv_overdue"), money(total["overdue"]), help=tr("recv_overdue_help"))
cols[2].metric(tr("recv_overdue_share"), format_share(total["overdue_share"]))
cols[3].metric(tr("recv_dso"), "–" if total["dso_days"] is None else f"{total['dso_days']:,.0f}",
               help=tr("recv_dso_help", days=owed.DSO_DAYS))
cols[4].metric(tr("kpi_top5"), format_share(c.top5_share), help=tr("recv_top5_help"))
cols[5].metric("HHI", "–" if c.hhi is None else f"{c.hhi:,.0f}", help=tr("recv_hhi_help"))
st.caption(tr("recv_caption", date=str(as_of), owing=format_count(total["owing"]),
              customers=format_count(total["customers"])))
if scope == "key":
    st.caption(tr("recv_key_caption", accounts=format_count(len(rows)), outstanding=money(rows["outstanding"].sum()),
                  share=format_share(rows["outstanding"].clip(lower=0).sum() / c.positive_total
                                     if c.positive_total else None)))


def aging_section():
    if rows.empty:
        st.info(tr("recv_none_in_scope"))
        return
    data = tables.receivables_list(rows, view.lang, standing=queries.standing(view.key, as_of))
    st.caption(tr("click_row_to_open"))
    clickable_table(data, "recv_list")
    download_buttons(tables.receivables_list(rows, view.lang, for_file=True), file_stem(view, tr("file_receivables"), as_of),
                     "receivables", tr("recv_download_csv"), tr("recv_download_xlsx"), dataset=view.dataset.name,
                     percent=(tr("recv_share"),), data_slice=view.key)
    owing = rows[rows["outstanding"] > 0].head(AGING_BARS)
    if not owing.empty:
        st.echarts_chart(echarts.aging_bars(owing, view.lang), height=echarts.aging_height(len(owing)))
    dims = queries.account_dimensions(view.key)
    for by in ("owner", "region"):
        if by in dims:
            st.caption(tr("recv_totals_by", field=tr(f"field_{by}")))
            groups = pd.Series(dims[by].to_numpy(), index=dims["customer_id"])
            st.dataframe(tables.receivables_totals(rows, groups, by, view.lang), hide_index=True)


def exposure_section():
    ranked = conc.pareto_table(owed.ranked(everyone))  # shares of all receivables, whatever the list shows
    if not c.positive_total:
        st.info(tr("recv_nothing_owed"))
        return
    st.caption(tr("recv_exposure_help"))
    shown = min(2000, int((ranked["x"] > 0).sum()))  # the customers who owe something
    option = echarts.pareto(ranked, view.lang, "receivables", limit=shown)
    event = st.echarts_chart(option, height=echarts.HEIGHT + 60, on_select="rerun", key="recv_pareto")
    chosen = echarts.picked_customer(option, event)
    if chosen:
        open_account(chosen)
    major = everyone[everyone["flags"].apply(lambda f: "major_exposure" in f)]
    for _, row in major.iterrows():
        label = row["name"] if pd.notna(row["name"]) and row["name"] else row["customer_id"]
        st.warning(tr("recv_major_exposure", customer=escape_markdown(str(label)),
                      share=format_share(row["share_of_receivables"])))
    over = rows[rows["flags"].apply(lambda f: "over_credit_limit" in f)]
    if len(over):
        st.warning(tr("recv_over_limit_count", count=format_count(len(over))))


def deterioration_section():
    st.caption(tr("recv_deterioration_help", recent=owed.RECENT_DAYS, prior=owed.PRIOR_DAYS,
                  margin=owed.LATER_MARGIN_DAYS, slow=owed.SLOW_PAYER_DAYS))
    worse = owed.getting_worse(rows)
    if worse.empty:
        st.success(tr("recv_no_deterioration"))
        return
    names = worse["name"] if "name" in worse else pd.Series([None] * len(worse), index=worse.index)
    data = pd.DataFrame({tr("col_customer_id"): worse["customer_id"], tr("col_name"): names.fillna("").astype(str),
                         tr("recv_outstanding"): [money(v) for v in worse["outstanding"]],
                         tr("recv_overdue"): [money(v) for v in worse["overdue"]],
                         tr("recv_why"): [tables.deterioration_text(r, view.lang) for _, r in worse.iterrows()]})
    st.caption(tr("click_row_to_open"))
    clickable_table(data, "recv_worse")


sections = [("recv_tab_aging", aging_section), ("recv_tab_exposure", exposure_section),
            ("recv_tab_deterioration", deterioration_section)]
tabbed(sections, "recv_tab")
