"""Segments: RFM scores and named segments, R×F grid, scikit-learn clusters, migration."""
import datetime as dt

import pandas as pd
import streamlit as st

from kam_analytics import charts, echarts
from kam_analytics.analytics import rfm
from kam_analytics.i18n import join_list
from ui import queries, tables
from ui.state import frame, labeller, open_account, tr
from ui.widgets import clickable_table, no_dataset, tabbed

view = frame("segments_title")
if view.dataset is None:
    no_dataset()
    st.stop()

as_of = view.end
k_choice = st.selectbox(tr("seg_k"), ["auto", 2, 3, 4, 5, 6, 7, 8], key="seg_k",
                        format_func=lambda k, auto=tr("seg_k_auto"): auto if k == "auto" else str(k))
with st.spinner(tr("computing")):
    result = queries.rfm_scores(view.key, as_of)
if result.table.empty:
    st.info(tr("empty_slice"))
    st.stop()
st.caption(tr("seg_as_of", as_of=str(as_of)))
for dim, used in result.collapsed.items():
    limits = result.thresholds[dim]
    ranges = join_list([f"{int(r.score)}: {r['min']:,.0f}–{r['max']:,.0f}" for _, r in limits.iterrows()], view.lang,
                       sentences=True)
    st.warning(tr("seg_ties", dim=tr(f"seg_dim_{dim}"), used=join_list(used, view.lang), ranges=ranges))

seg_label = labeller("segment_")


def segments_section():
    summary = rfm.segment_summary(result)
    st.echarts_chart(echarts.segment_sizes(summary, view.lang), height=echarts.HEIGHT)
    st.dataframe(pd.DataFrame({
        tr("seg_segment"): [seg_label(s) for s in summary["segment"]], tr("col_customers"): summary["customers"],
        tr("col_revenue"): summary["revenue"].round(2), tr("ka_revenue_share"): summary["revenue_share"],
        tr("seg_median_recency"): summary["recency"], tr("seg_median_frequency"): summary["frequency"]}),
        hide_index=True, column_config={tr("col_revenue"): st.column_config.NumberColumn(format="localized"),
                                        tr("ka_revenue_share"): st.column_config.NumberColumn(format="percent")})
    st.caption(tr("seg_rule_help"))


def grid_section():
    grid = rfm.rf_grid(result)
    fig = charts.rf_grid(grid, view.lang)
    st.plotly_chart(fig, config={"displayModeBar": False})


AXES = {"frequency": "seg_dim_f", "monetary": "seg_dim_m", "recency_days": "seg_recency",
        "tenure_days": "seg_dim_tenure", "avg_order_value": "seg_dim_aov"}


def clustered():
    """The customers clustered with the chosen k (only the tabs that show clusters ask)."""
    with st.spinner(tr("computing")):
        return queries.rfm_result(view.key, as_of, k_choice)


def clusters_section():
    result, silhouette, k = clustered()
    table = result.table
    st.caption(tr("seg_silhouette", k=k, silhouette="–" if silhouette is None else f"{silhouette:.3f}"))
    left, right = st.columns(2)
    axis_names = {column: tr(key_) for column, key_ in AXES.items()}  # fixed now: see ui.state.labeller
    x_axis = left.selectbox(tr("seg_axis_x"), list(AXES), format_func=axis_names.get, key="seg_x")
    y_axis = right.selectbox(tr("seg_axis_y"), list(AXES), index=1, format_func=axis_names.get, key="seg_y")
    drawable = (table[x_axis] > 0) & (table[y_axis] > 0)
    fig = charts.cluster_scatter(table[drawable], x_axis, y_axis, axis_names, view.lang)
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="seg_scatter",
                            config={"displayModeBar": False})
    if not drawable.all():
        st.caption(tr("seg_not_on_log_axes", n=int((~drawable).sum())))
    points = event.selection.points if event is not None else []
    if points:
        value = points[0].get("customdata")
        open_account(str(value[0] if isinstance(value, (list, tuple)) else value))
    profiles = rfm.cluster_profiles(result)
    st.dataframe(pd.DataFrame({
        tr("seg_cluster"): profiles["cluster_name"].map(lambda code: charts.cluster_label(code, view.lang)), tr("col_customers"): profiles["customers"],
        tr("ka_revenue_share"): profiles["revenue_share"], tr("seg_median_recency"): profiles["recency"],
        tr("seg_median_frequency"): profiles["frequency"], tr("seg_median_monetary"): profiles["monetary"].round(0),
        tr("seg_median_tenure"): profiles["tenure"]}),
        hide_index=True, column_config={tr("ka_revenue_share"): st.column_config.NumberColumn(format="percent"),
                                        tr("seg_median_monetary"): st.column_config.NumberColumn(format="localized")})


@st.fragment
def migration_section():
    first = view.start or (view.dataset.date_min.date() if view.dataset.date_min else as_of)
    default = max(first, as_of - dt.timedelta(days=182))
    before = st.date_input(tr("seg_migration_from"), value=default, min_value=first, max_value=as_of, key="seg_from")
    with st.spinner(tr("computing")):
        earlier = queries.rfm_scores(view.key, before)
    matrix = rfm.migration(earlier, result)
    labels = {s: seg_label(s) for s in rfm.SEGMENT_ORDER}
    labels["none"] = tr("tier_none")
    st.caption(tr("seg_migration_help", before=str(before), after=str(as_of)))
    st.dataframe(matrix.rename(index=labels, columns=labels).rename_axis(index=tr("seg_segment"), columns=None))


def customers_section():
    table = clustered()[0].table
    data = {tr("col_customer_id"): table["customer_id"]}
    if "name" in table:
        data[tr("col_name")] = table["name"]
    data[tr("col_standing")] = tables.standing_marks(table["customer_id"].astype(str), queries.standing(view.key, as_of),
                                                     view.lang)
    data.update({tr("seg_recency"): table["recency_days"], tr("seg_dim_f"): table["frequency"],
                 tr("seg_dim_m"): table["monetary"].round(2), "RFM": table["rfm_score"],
                 tr("seg_segment"): table["segment"].map(seg_label),
                 tr("seg_cluster"): table["cluster_name"].map(lambda code: charts.cluster_label(code, view.lang))})
    clickable_table(pd.DataFrame(data), "seg_customers",
                    {tr("seg_dim_m"): st.column_config.NumberColumn(format="localized")})


sections = [("seg_tab_segments", segments_section), ("seg_tab_grid", grid_section),
            ("seg_tab_clusters", clusters_section), ("seg_tab_migration", migration_section),
            ("seg_tab_customers", customers_section)]
tabbed(sections, "seg_tab")
