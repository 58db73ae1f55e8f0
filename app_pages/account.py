"""Account: find any customer by id or name; its revenue over time, orders, share and rank, why
it is or is not a key account, its churn risk, reasons and list, and its follow-ups with the
form to record one — where a lead acts on an account."""
import pandas as pd
import streamlit as st

from kam_analytics import charts, echarts, service
from kam_analytics.analytics import accounts, churn
from kam_analytics.analytics.window import window_start
from kam_analytics.i18n import customer_label, format_count, format_share, join_list
from ui import queries, tables
from ui.followups import followup_form, followup_history
from ui.markdown import escape_markdown
from ui.state import account_to_open, by_key, exact_money, frame, money, open_group, tr
from ui.widgets import job_progress, no_dataset

view = frame("account_title")


def group_box() -> None:
    """By group: the group's members (revenue, share within the group, last order, standing),
    with a warning for each branch that stopped; by customer: the group it belongs to, a link."""
    if not view.by_group:
        group = queries.group_of(view.key, chosen)
        if group is not None:
            cols = st.columns([4, 1])
            cols[0].caption(escape_markdown(tr("account_in_group", group=group["group_name"],
                                               members=format_count(group["members"]))))
            if cols[1].button(tr("account_open_group"), key="account_open_group"):
                open_group(group["group_id"])
        return
    rows = queries.group_member_rows(view.key, chosen, view.end)
    if len(rows) <= 1 and (rows.empty or rows["customer_id"].iloc[0] == chosen):
        st.caption(tr("account_group_single"))
        return
    st.subheader(tr("account_members", count=format_count(len(rows))), anchor=False)
    still = rows[rows["standing"] == "active"]
    for member in rows[rows["standing"] != "active"].itertuples():
        if len(still):
            st.warning(escape_markdown(tr(f"account_member_{member.standing}", member=customer_label(
                member.customer_id, member.name), last=str(member.last_order)[:10], active=format_count(len(still)))))
    st.dataframe(tables.member_table(rows, view.lang), hide_index=True)

if view.dataset is None:
    no_dataset()
    st.stop()

wanted = account_to_open() or st.query_params.get("account") \
    or st.session_state.get("account_id")
query = st.text_input(tr(by_key("account_search")), key="account_query", placeholder=tr("account_search_placeholder"))
found = queries.find_customers(view.key, query)
options = [str(c) for c in found["customer_id"]]
names = dict(zip(options, found["name"])) if "name" in found else {}
if wanted and str(wanted) not in options and not query:
    options.insert(0, str(wanted))
if not options:
    st.warning(tr("account_none_found", query=escape_markdown(query)))
    st.stop()
index = options.index(str(wanted)) if wanted and str(wanted) in options else 0
chosen = st.selectbox(tr("account_choose"), options, index=index, key="account_choice",
                      format_func=lambda c: customer_label(c, names.get(c)))
st.session_state["account_id"] = chosen
if st.query_params.get("account") != chosen:
    st.query_params["account"] = chosen  # the account is part of a shareable link

profile = queries.account_profile(view.key, chosen)
if profile is None:
    st.info(tr("account_no_transactions", customer=escape_markdown(chosen)))
    st.stop()

st.subheader(escape_markdown(customer_label(profile.customer_id, profile.name)), anchor=False)
risk_box = st.container()  # filled last (the churn scores may still be computing); first under the name: a
# phone's first screen (a link in a DingTalk or WeCom message opens here) shows name, risk and reasons
cols = st.columns(5)
cols[0].metric(tr("kpi_revenue"), money(profile.revenue), help=tr("exact_value", value=exact_money(profile.revenue)))
cols[1].metric(tr("account_share"), format_share(profile.revenue_share), help=tr("account_share_help"))
cols[2].metric(tr("account_rank"), tr("account_rank_value", rank=format_count(profile.rank)),
               help=tr("account_rank_help") + " " + tr(by_key("account_rank_of"), customers=format_count(profile.customers)))
cols[3].metric(tr("col_orders"), format_count(profile.orders), help=tr("orders_help"))
cols[4].metric(tr("col_profit"), money(profile.profit) if profile.profit is not None else "–")
st.caption(tr("account_dates", first=str(profile.first_order)[:10], last=str(profile.last_order)[:10]) + " · "
           + tr(by_key("account_rank_of"), customers=format_count(profile.customers)))

group_box()
attributes = queries.account_attributes(view.key, chosen)
if attributes:
    st.markdown(" · ".join(f"**{tr('field_' + k)}**: {escape_markdown(v)}" for k, v in attributes.items()))
    if view.by_group:
        st.caption(tr("account_group_attributes"))

# the scorecard's view of this account (saved weights and window, default tiers and rule)
card = queries.default_scorecard(view.key, view.end)
row = card.table[card.table["customer_id"] == chosen]
if not row.empty:
    row = row.iloc[0]
    flags = [tr(f"flag_name_{f}") for f in row["flags"].split(";") if f]
    st.markdown(tr("account_scorecard", score=f"{row['score']:.1f}", rank=format_count(row["score_rank"]),
                   tier=tr(f"tier_{row['tier']}"),
                   status=tr("account_is_key") if row["key_account"] else tr("account_not_key"),
                   flags=join_list(flags, view.lang)) if flags else
                tr("account_scorecard_no_flags", score=f"{row['score']:.1f}", rank=format_count(row["score_rank"]),
                   tier=tr(f"tier_{row['tier']}"),
                   status=tr("account_is_key") if row["key_account"] else tr("account_not_key")))
st.caption(escape_markdown(tables.key_status_text(accounts.key_status(card, chosen), view.lang,
                                                  window_start(view.end, queries.standard_months(view.key)), view.end)))

st.subheader(tr("account_followups"), anchor=False)
followup_form(view, [chosen], names, "account_followup", choose=False)
followup_history(service.followups(view.store, view.identity, view.dataset, chosen), with_customer=False)

if service.has_receivables(view.store, view.key):
    st.subheader(tr("account_receivables"), anchor=False)
    owed_rows = queries.receivables(view.key, view.end)
    mine = owed_rows[owed_rows["customer_id"] == chosen]
    if mine.empty:
        st.caption(tr("account_receivables_none", date=str(view.end)))
    else:
        st.dataframe(tables.receivables_list(mine, view.lang).drop(columns=[tr("col_customer_id"), tr("col_name")]),
                     hide_index=True)
        worse = tables.deterioration_text(mine.iloc[0], view.lang)
        if worse:
            st.warning(escape_markdown(worse))
        st.caption(tr("account_payment_history", date=str(view.end)))
        st.dataframe(tables.receivables_history(queries.receivables_history(view.key, chosen, view.end), view.lang),
                     hide_index=True, width="stretch")

if view.dataset.costs_file and view.dataset.has("profit"):
    st.subheader(tr("account_pnl"), anchor=False)
    result = queries.account_pnl(view.key)
    mine = result.rows[result.rows["customer_id"] == chosen]
    if mine.empty:
        st.caption(tr("account_pnl_none", start=result.start.isoformat(), end=result.end.isoformat()))
    else:
        mine = mine.iloc[0].to_dict()
        pnl_cols = st.columns(4)
        pnl_cols[0].metric(tr("col_gross_profit"), money(mine["gross_profit"]))
        pnl_cols[1].metric(tr("col_cost_to_serve"), money(mine["cost_to_serve"] + mine["financing_cost"]))
        pnl_cols[2].metric(tr("col_net_profit"), money(mine["net_profit"]))
        pnl_cols[3].metric(tr("col_net_margin"), format_share(mine["net_margin"]) if mine["net_margin"] is not None
                           and mine["net_margin"] == mine["net_margin"] else "–")
        st.plotly_chart(charts.pnl_waterfall(mine, result.cost_types, view.lang), config={"displayModeBar": False},
                        key="account_pnl_chart")
        st.caption(tr("account_pnl_help", start=result.start.isoformat(), end=result.end.isoformat(),
                      rate=format_share(result.rate, 2)))

st.echarts_chart(echarts.revenue_trend(profile.monthly, view.lang, title_key="chart_account_trend"),
                 height=echarts.HEIGHT)

with risk_box:
    st.subheader(tr("account_risk"), anchor=False)
    horizon = churn.HORIZON_DAYS
    job_progress(queries.churn_job(view.key, view.end, horizon), tr("churn_computing_shared"))
    review = queries.churn_list(view.key, view.end, horizon, "all", "all")
    mine = review.table[review.table["customer_id"] == chosen]
    if mine.empty:
        st.caption(tr("account_risk_none", days=churn.ACTIVE_DAYS, date=str(view.end)))
    else:
        mine = mine.iloc[0]
        listing = tr(f"churn_list_{mine['status']}")
        left, right = st.columns([1, 3])
        left.metric(tr("churn_risk"), format_share(mine["risk"]) if mine["status"] != "lapsed" else "–",
                    help=tr("account_risk_help", horizon=horizon))
        right.markdown(escape_markdown(tr("account_risk_list", listing=listing)))
        reasons = [churn.reason_text(r, view.lang) for r in mine["reasons"]]
        if reasons:
            right.markdown("\n".join(f"- {escape_markdown(r)}" for r in reasons))
