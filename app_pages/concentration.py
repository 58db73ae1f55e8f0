"""Concentration: Pareto/ABC, indicators with flags, Lorenz–Gini, trend, what-if, whale curve,
breakdowns by dimension."""
import pandas as pd
import streamlit as st

from kam_analytics import charts, echarts
from kam_analytics.analytics import concentration as conc
from kam_analytics.analytics.customers import names_by_id
from kam_analytics.i18n import customer_label, format_count, format_share, join_list
from kam_analytics.schema import DIMENSIONS
from ui import figures as figures_shared
from ui import queries
from ui.markdown import escape_markdown
from ui.state import by_key, exact_money, frame, labeller, money, open_account, tr
from ui.widgets import no_dataset, tabbed

PARETO_BARS = 2000  # bars drawn; beyond that the browser slows and the tail is flat anyway

view = frame("concentration_title")
if view.dataset is None:
    no_dataset()
    st.stop()

has_profit = view.dataset.has("profit")
measures = ["revenue", "profit"] if has_profit else ["revenue"]
top = st.columns([2, 1, 1, 1])
measure = top[0].radio(tr("conc_measure"), measures, horizontal=True, format_func=labeller("measure_"),
                       key="conc_measure")
cut_a = top[1].number_input(tr("conc_cut_a"), 50, 99, 80, step=1, key="conc_cut_a", help=tr("conc_cut_help"))
cut_b = top[2].number_input(tr("conc_cut_b"), int(cut_a) + 1, 100, max(95, int(cut_a) + 1), step=1, key="conc_cut_b")
top5_level = top[3].number_input(tr("conc_top5_level"), 1, 100, int(conc.TOP5_FLAG_SHARE * 100), step=1,
                                 key="conc_top5_level", help=tr("conc_top5_level_help"))
cuts = (cut_a / 100, cut_b / 100)

ranked = queries.ranked_customers(view.key, measure)
if ranked.empty:
    st.info(tr("empty_slice"))
    st.stop()
figures = conc.concentration(ranked, measure, cuts, top5_level / 100)
if figures.hhi is None:
    st.warning(tr("conc_no_positive"))
    st.stop()

row1 = st.columns(5)
row1[0].metric(tr("conc_groups" if view.by_group else "conc_customers"), format_count(figures.customers))
row1[1].metric("HHI", f"{figures.hhi:,.0f}", help=tr("help_hhi"))
row1[2].metric(tr("conc_hhi_level"), tr(f"hhi_level_{figures.hhi_level}"), help=tr("help_hhi_level"))
row1[3].metric(tr("conc_number_equivalent"), f"{figures.number_equivalent:,.1f}", help=tr("help_number_equivalent"))
row1[4].metric(tr("gini"), f"{figures.gini:.3f}", help=tr("help_gini"))
row2 = st.columns(5)
row2[0].metric("CR1", format_share(figures.top1_share), help=tr("help_crk"))
row2[1].metric("CR5", format_share(figures.top5_share), help=tr("help_crk"))
row2[2].metric("CR10", format_share(figures.top10_share), help=tr("help_crk"))
row2[3].metric(tr("conc_top20pct"), format_share(figures.top20pct_share), help=tr("help_top20pct"))
row2[4].metric(tr("conc_for_80pct"), format_count(figures.customers_for_80pct), help=tr("help_for_80pct"))
st.caption(tr("conc_abc_counts", a=format_count(figures.abc["A"]), b=format_count(figures.abc["B"]),
              c=format_count(figures.abc["C"]), cut_a=int(cut_a), cut_b=int(cut_b)))
if figures.negatives_clipped:
    st.caption(tr("conc_negatives_note", count=format_count(figures.negatives_clipped)))

names = names_by_id(ranked)
st.subheader(tr("conc_flags"))
if not figures.flags:
    st.success(tr("conc_no_flags"))
members = queries.group_map(view.key) if view.by_group else None


def members_line(group_id: str) -> str:
    """By group: the sentence naming a flagged group's members (none for a group of one)."""
    if members is None:
        return ""
    mine = members[members["group_id"] == group_id]
    if len(mine) <= 1:
        return ""
    labels = [customer_label(c, n) for c, n in zip(mine["customer_id"], mine["name"])]
    return "  \n" + escape_markdown(tr("flag_group_members", group=mine["group_name"].iloc[0],
                                        count=format_count(len(mine)), members=join_list(labels, view.lang)))


for flag in figures.flags:
    who = escape_markdown(names.get(flag.get("customer_id")) or flag.get("customer_id") or "")
    if flag["flag"] == "major_customer":
        text = tr("flag_major_customer", customer=who, share=format_share(flag["share"])) + members_line(flag["customer_id"])
    elif flag["flag"] == "major_dependency":
        text = tr("flag_major_dependency", customer=who, share=format_share(flag["share"]),
                  measure=tr(f"flag_measure_{flag['measure']}")) + members_line(flag["customer_id"])
    elif flag["flag"] == "top5_above":
        text = tr("flag_top5_above", share=format_share(flag["share"]), level=format_share(flag["threshold"], 0))
    else:
        text = tr(f"flag_{flag['flag']}", hhi=f"{flag['hhi']:,.0f}")
    st.warning(text)


def clicked_customer(event) -> str | None:
    """The customer of the first point clicked in a Plotly chart whose customdata is the customer_id."""
    points = getattr(getattr(event, "selection", None), "points", []) or []
    for point in points:
        if point.get("customdata") is not None:
            value = point["customdata"]
            return str(value[0] if isinstance(value, (list, tuple)) else value)
    return None


def pareto_section():
    shown = min(PARETO_BARS, len(ranked))
    st.caption(tr(by_key("conc_pareto_help"), shown=format_count(shown), customers=format_count(len(ranked))))
    option = figures_shared.pareto(view.key, measure, cuts, view.lang, shown)
    event = st.echarts_chart(option, height=echarts.HEIGHT + 60, on_select="rerun", key="pareto_chart")
    chosen = echarts.picked_customer(option, event)
    if chosen:
        open_account(chosen)


def lorenz_section():
    st.plotly_chart(charts.lorenz(conc.lorenz_points(ranked), figures.gini, view.lang), config={"displayModeBar": False})
    st.caption(tr("help_gini"))


@st.fragment
def trend_section():
    freq = st.segmented_control(tr("trend_granularity"), ["month", "quarter"], default="quarter",
                                format_func=labeller("axis_"), key="conc_freq") or "quarter"
    periods = queries.indicators_by_period(view.key, freq, measure)
    st.plotly_chart(charts.indicator_trend(periods, view.lang, freq), config={"displayModeBar": False})


@st.fragment
def what_if_section():
    mode = st.radio(tr("whatif_mode"), ["top", "pick"], horizontal=True, format_func=labeller("whatif_mode_"),
                    key="whatif_mode")
    ids = ranked["customer_id"].astype(str).tolist()
    if mode == "top":
        count = st.slider(tr("whatif_top_n"), 1, max(2, min(50, len(ids))), 1, key="whatif_top_n")
        lost = ids[:count]
    else:
        label = lambda c: customer_label(c, names.get(c))  # noqa: E731
        lost = st.multiselect(tr("whatif_pick"), ids[:500], format_func=label, key="whatif_pick",
                              placeholder=tr("whatif_pick_placeholder"))
    if not lost:
        return
    result = conc.what_if(ranked, lost, measure)
    cols = st.columns(4)
    # a loss is red and down whatever the sign of the figures after it: revenue and profit lost
    # carry a minus; concentration after the loss is grey, its direction said in words below
    cols[0].metric(tr("whatif_revenue_lost"), money(result["revenue_lost"]),
                   delta="-" + format_share(result["revenue_lost_share"]), delta_color="normal",
                   help=tr("exact_value", value=exact_money(result["revenue_lost"])))
    cols[1].metric(tr("whatif_profit_lost"), money(result["profit_lost"]) if result["profit_lost"] is not None else "–")
    before, after = result["before"], result["after"]
    cols[2].metric("HHI", f"{after['hhi']:,.0f}" if after["hhi"] is not None else "–",
                   delta=f"{after['hhi'] - before['hhi']:+,.0f}" if after["hhi"] is not None else None,
                   delta_color="off")
    cr5_delta = f"{(after['top5_share'] - before['top5_share']) * 100:+.1f}pp" if after["top5_share"] is not None else None
    cols[3].metric("CR5", format_share(after["top5_share"]), delta=cr5_delta, delta_color="off")
    if after["hhi"] is not None:
        way = "up" if after["hhi"] > before["hhi"] else "down" if after["hhi"] < before["hhi"] else "same"
        st.markdown(escape_markdown(tr(f"whatif_direction_{way}", lost=money(result["revenue_lost"]),
                                       share=format_share(result["revenue_lost_share"]),
                                       before=f"{before['hhi']:,.0f}", after=f"{after['hhi']:,.0f}")))
    st.caption(tr("whatif_gini", before=f"{before['gini']:.3f}",
                  after="–" if after["gini"] is None else f"{after['gini']:.3f}"))


def whale_section():
    net = False
    if view.dataset.costs_file:  # the whale on gross or on net profit (after the cost to serve)
        basis = st.segmented_control(tr("whale_basis"), ["gross", "net"], default="gross", key="whale_basis",
                                     format_func=lambda b: WHALE_BASIS[b])
        net = basis == "net"
    if net:
        result = queries.account_pnl(view.key)
        st.caption(tr("whale_net_help", start=result.start.isoformat(), end=result.end.isoformat(),
                      rate=format_share(result.rate, 2)))
        whale = conc.whale_curve(queries.ranked_net_profit(view.key))
    else:
        whale = conc.whale_curve(queries.ranked_customers(view.key, "profit"))
    cols = st.columns(4)
    cols[0].metric(tr("whale_peak"), format_share(whale.peak_share), help=tr("help_whale"))
    cols[1].metric(tr("whale_profitable"), format_count(whale.profitable_customers), help=tr("help_profit_class"))
    cols[2].metric(tr("whale_break_even"), format_count(whale.break_even_customers), help=tr("help_profit_class"))
    cols[3].metric(tr("whale_unprofitable"), format_count(whale.unprofitable_customers), help=tr("help_profit_class"))
    if whale.peak_customers:
        st.caption(tr("whale_peak_at", customers=format_count(whale.peak_customers)))
    event = st.plotly_chart(charts.whale(whale.curve, view.lang), on_select="rerun", selection_mode="points",
                            key="whale_chart", config={"displayModeBar": False})
    chosen = clicked_customer(event)
    if chosen:
        open_account(chosen)
    st.subheader(tr("whale_losers"))
    losers = whale.loss_makers
    if losers.empty:
        st.caption(tr("whale_no_losers"))
        return
    config = {"customer_id": st.column_config.TextColumn(tr("col_customer_id")),
              "name": st.column_config.TextColumn(tr("col_name")),
              "revenue": st.column_config.NumberColumn(tr("col_revenue"), format="localized"),
              "profit": st.column_config.NumberColumn(tr("col_profit"), format="localized"),
              "discount": st.column_config.NumberColumn(tr("col_discount_depth"), format="percent",
                                                        help=tr("help_discount_depth"))}
    picked = st.dataframe(losers, hide_index=True, column_config=config, on_select="rerun",
                          selection_mode="single-row", key="whale_losers")
    if picked.selection.rows:
        open_account(str(losers.iloc[picked.selection.rows[0]]["customer_id"]))


def breakdown_section():
    dimension = st.selectbox(tr("breakdown_by"), present, format_func=labeller("field_"), key="conc_dimension")
    groups = queries.indicators_by_dimension(view.key, dimension, measure)
    value_label = tr(f"measure_{measure}")
    shown = pd.DataFrame({
        tr(f"field_{dimension}"): groups["group"], tr("col_customers"): groups["customers"],
        value_label: groups["total"], "CR1": groups["top1_share"], "CR5": groups["top5_share"],
        "HHI": groups["hhi"], tr("gini"): groups["gini"]})
    st.dataframe(shown, hide_index=True, column_config={
        value_label: st.column_config.NumberColumn(format="localized"),
        "CR1": st.column_config.NumberColumn(format="percent"), "CR5": st.column_config.NumberColumn(format="percent"),
        "HHI": st.column_config.NumberColumn(format="%.0f"), tr("gini"): st.column_config.NumberColumn(format="%.3f")})
    st.caption(tr("breakdown_help"))


WHALE_BASIS = {"gross": tr("whale_basis_gross"), "net": tr("whale_basis_net")}
present = [d for d in DIMENSIONS if view.dataset.has(d)]
sections = [("conc_tab_pareto", pareto_section), ("conc_tab_lorenz", lorenz_section),
            ("conc_tab_trend", trend_section), ("conc_tab_whatif", what_if_section)]
if has_profit:
    sections.append(("conc_tab_whale", whale_section))
if present:
    sections.append(("conc_tab_breakdown", breakdown_section))
# Lazy tabs: only the open one runs (the trend and the breakdowns cost a scan each).
# (Switching language shows the first tab again: a tab is identified by its label.)
tabbed(sections, "conc_tab")
