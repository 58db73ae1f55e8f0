"""Overview: headline KPIs, the revenue trend, the top customers and what to look at today."""
import streamlit as st

from kam_analytics.analytics import accounts, overview
from kam_analytics import echarts
from kam_analytics.i18n import format_count, format_share
from ui import queries
from ui import tables
from ui.state import exact_help, file_stem, frame, labeller, money, open_account, open_churn_list, open_receivables, tr
from ui.markdown import escape_markdown
from ui.widgets import customer_table, download_buttons, no_dataset

view = frame("overview_title")
if view.dataset is None:
    no_dataset()
    st.stop()

headline = queries.headline(view.key, view.end)
if headline.customers == 0:
    st.info(tr("empty_slice"))
    st.stop()

cols = st.columns(6)
cols[0].metric(tr("kpi_revenue"), money(headline.revenue),
               help=exact_help("kpi_revenue_help", headline.revenue))
cols[1].metric(tr("kpi_customers"), format_count(headline.customers), help=tr("kpi_customers_help"))
cols[2].metric(tr("kpi_active"), format_count(headline.active_customers),
               help=tr("kpi_active_help", days=headline.active_days))
cols[3].metric(tr("kpi_top1"), format_share(headline.top1_share), help=tr("kpi_top1_help"))
cols[4].metric(tr("kpi_top5"), format_share(headline.top5_share), help=tr("kpi_top5_help"))
card = queries.default_scorecard(view.key, view.end)
cols[5].metric(tr("ka_key_accounts"), format_count(int(card.table["key_account"].sum())),
               help=tr("kpi_key_help", min=int(accounts.KEY_SCORE)))

outlook = queries.key_account_outlook(view.key, view.end)
if outlook is not None:
    with st.container(border=True):
        change = outlook["change"]
        delta = None if change is None else ("+" if change >= 0 else "-") + format_share(abs(change))
        st.metric(tr("outlook_title", days=outlook["horizon_days"]), money(outlook["expected"]), delta=delta,
                  help=exact_help("outlook_help", outlook["expected"]))
        st.caption(escape_markdown(tr("outlook_caption", count=format_count(outlook["accounts"]), expected=money(outlook["expected"]),
                      start=outlook["next_from"], end=outlook["next_to"], prior=money(outlook["last_year"]),
                      prior_start=outlook["earlier_from"], prior_end=outlook["earlier_to"])))

download_buttons(tables.headline_file(headline, int(card.table["key_account"].sum()), outlook, view.lang),
                 file_stem(view, tr("file_overview"), view.end), "overview", tr("overview_download_csv"),
                 tr("overview_download_xlsx"), dataset=view.dataset.name)

st.subheader(tr("overview_attention"))
items = queries.attention(view.key, view.end)
if not items:
    st.success(tr("attention_none"))
for i, item in enumerate(items):
    label = item.get("name") or item.get("customer_id") or ""
    if item["kind"] == "dependency":
        text = tr("attention_dependency", customer=label, share=format_share(item["share"]))
    elif item["kind"] == "lapsed":
        text = tr("attention_lapsed", count=item["count"], customer=label, revenue=money(item["revenue"]),
                  days=item["days"])
    elif item["kind"] == "receivables":
        text = tr("attention_receivables", count=item["count"], customer=label, overdue=money(item["overdue"]))
    else:
        key = "attention_trend_up" if item["change"] >= 0 else "attention_trend_down"
        text = tr(key, change=format_share(abs(item["change"])), recent=money(item["recent"]),
                  prior=money(item["prior"]), start=item["from_month"], end=item["to_month"])
    with st.container(border=True):
        st.markdown(f"**{i + 1}.** {escape_markdown(text)}")
        buttons = st.columns([1, 1, 3])
        if item.get("customer_id"):
            if buttons[0].button(tr("open_account"), key=f"attention_{i}"):
                open_account(item["customer_id"])
        if item["kind"] == "lapsed" and buttons[1].button(tr("open_churn_lapsed"), key=f"attention_lapsed_{i}"):
            open_churn_list("lapsed", "key", overview.LAPSE_HORIZON_DAYS)
        if item["kind"] == "receivables" and buttons[1].button(tr("open_receivables"), key=f"attention_recv_{i}"):
            open_receivables()
links = st.columns([1, 1, 3])
for column, listing in zip(links, ("at_risk", "lapsed")):
    if column.button(tr(f"open_churn_{listing}"), key=f"overview_churn_{listing}"):
        open_churn_list(listing, "key", overview.LAPSE_HORIZON_DAYS)


@st.fragment
def trend_chart():
    freq = st.segmented_control(tr("trend_granularity"), ["month", "quarter"], default="month",
                                format_func=labeller("axis_"), key="overview_freq") or "month"
    chart = echarts.revenue_trend(queries.periods(view.key, freq), view.lang, freq=freq)
    st.echarts_chart(chart, height=echarts.HEIGHT)


trend_chart()

st.subheader(tr("overview_top_customers"))
st.caption(tr("click_row_to_open"))
summary = queries.customer_summary(view.key)
customer_table(summary, key="overview_top", limit=10, as_of=view.end)
