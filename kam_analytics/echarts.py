"""ECharts options (plain dicts for ``st.echarts_chart``) for the charts a page shows as it
opens. A new tab draws an ECharts chart in about 0.2 s where Plotly's script alone takes about
0.85 s (bench/pages.py, two cores), so the first view of a page does not wait for Plotly; the
figures further in (other tabs) stay in ``charts.py``.

Titles, axis names and tooltips come from i18n; money axes are labelled in the language's
units (万/亿 or K/M/B). ECharts draws every string as text; a tooltip template is ours, and the
values put into it are escaped by Streamlit."""
from __future__ import annotations

import pandas as pd

from kam_analytics.charts import COLOURS, money_ticks
from kam_analytics.i18n import amount_unit, format_amount, format_count, t

HEIGHT = 360  # pixels, as the Plotly figures
MAX_LABELS = 12  # at most about this many period labels on a time axis


def money_axis(low: float, high: float, lang: str) -> tuple[dict, float]:
    """A value axis for money from ``low`` to ``high``, and the unit its values are divided by.

    The ticks are ``money_ticks``' (about five steps of 1, 2, 5 or 10 × a power of ten, from
    the step at or below the lower end to the one at or above the upper end, always 0); they
    and the data are written in the unit of the largest tick (``amount_unit``: 万/亿, K/M/B, or
    none below 1万 / 1K), which every label names: 0 .. 28,000,000 gives '0万', '1,000万',
    '2,000万', '3,000万' (English '0M' .. '30M'). With nothing but zeros: one tick, 0."""
    values, _ = money_ticks(low, high, lang)
    size, suffix = amount_unit(max(abs(v) for v in values), lang)
    axis = {"type": "value", "axisLabel": {"formatter": "{value}" + suffix}}
    if len(values) > 1:
        axis.update(min=values[0] / size, max=values[-1] / size, interval=(values[1] - values[0]) / size)
    return axis, size


def _base(title: str, x_name: str) -> dict:
    return {"title": {"text": title, "left": 0, "textStyle": {"fontSize": 16}},
            "grid": {"left": 10, "right": 10, "top": 60, "bottom": 30, "containLabel": True},
            "xAxis": {"type": "category", "name": x_name, "nameLocation": "middle", "nameGap": 28}}


def revenue_trend(periods: pd.DataFrame, lang: str, title_key: str = "chart_revenue_trend",
                  freq: str = "month") -> dict:
    """Bars of revenue per period (``revenue_by_period`` output: period, revenue, orders,
    customers), labelled 'YYYY-MM' (a quarter by its first month); every k-th period is
    labelled, k = ⌈periods / 12⌉, so at most about 12 labels. The tooltip gives the period,
    its revenue in the language's units and its orders and customers. No periods: the titled
    axes with no bars."""
    option = _base(t(title_key, lang), t(f"axis_{freq}", lang))
    option["yAxis"] = {"type": "value", "name": t("axis_revenue", lang)}
    if periods.empty:
        option["xAxis"]["data"] = []
        option["series"] = []
        return option
    revenue = periods["revenue"].astype(float)
    axis, size = money_axis(revenue.min(), revenue.max(), lang)
    option["yAxis"] = {**axis, "name": t("axis_revenue", lang)}
    option["xAxis"]["axisLabel"] = {"interval": max(1, -(-len(periods) // MAX_LABELS)) - 1}
    source = pd.DataFrame({
        "period": pd.to_datetime(periods["period"]).dt.strftime("%Y-%m"), "bar": revenue / size,
        "revenue": [format_amount(v, lang) for v in revenue],
        "orders": [format_count(v) for v in periods["orders"]],
        "customers": [format_count(v) for v in periods["customers"]]})
    option["dataset"] = {"source": source}
    option["tooltip"] = {"trigger": "axis", "formatter": t(
        "chart_hover_period", lang, period="{@period}", revenue="{@revenue}", orders="{@orders}",
        customers="{@customers}")}
    option["series"] = [{"type": "bar", "name": t("axis_revenue", lang), "encode": {"x": "period", "y": "bar"},
                         "itemStyle": {"color": COLOURS["primary"]}}]
    return option


def segment_sizes(summary: pd.DataFrame, lang: str) -> dict:
    """Customers per RFM segment (bars, left axis) and each segment's share of revenue (line,
    right axis, in per cent: a share of 0.425 is drawn at 42.5 and shown as '42.5%')."""
    option = _base(t("seg_chart_sizes", lang), "")
    customers, share = t("col_customers", lang), t("ka_revenue_share", lang)
    option["xAxis"]["data"] = [t(f"segment_{s}", lang) for s in summary["segment"]]
    option["xAxis"]["axisLabel"] = {"interval": 0, "width": 90, "overflow": "break"}  # every name, wrapped
    option["yAxis"] = [{"type": "value", "name": customers},
                       {"type": "value", "name": share, "axisLabel": {"formatter": "{value}%"}, "splitLine": {"show": False}}]
    option["grid"]["bottom"] = 36
    option["legend"] = {"bottom": 0}
    option["tooltip"] = {"trigger": "axis"}
    option["series"] = [
        {"type": "bar", "name": customers, "data": [int(v) for v in summary["customers"]],
         "itemStyle": {"color": COLOURS["primary"]}, "tooltip": {"valueFormatter": "localized"}},
        {"type": "line", "name": share, "yAxisIndex": 1, "data": [None if pd.isna(v) else round(float(v) * 100, 1) for v in summary["revenue_share"]],
         "itemStyle": {"color": COLOURS["accent"]}, "tooltip": {"valueFormatter": "%.1f%%"}}]
    return option
