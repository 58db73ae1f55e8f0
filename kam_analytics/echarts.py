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
from kam_analytics.i18n import amount_unit, customer_label, format_amount, format_count, format_share, t

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
    return {"animation": False,  # drawn at once, as the Plotly figures are (and 2,000 markers cost less)
            "title": {"text": title, "left": 0, "textStyle": {"fontSize": 16}},
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


def share_steps(shown: pd.DataFrame) -> dict[str, tuple[list[float], list[float]]]:
    """Per ABC class, the outline of its customers' shares as one step line: customer of
    rank r spans r − 0.5 to r + 0.5 at the height of its share (x: each step's start, then the
    end of the class's last step; y: the shares, the last repeated). Classes follow rank order
    (A, then B, then C), so each is one run of ranks."""
    steps = {}
    for k in ("A", "B", "C"):
        part = shown[shown["abc"] == k]
        if len(part):
            x = (part["rank"] - 0.5).tolist() + [float(part["rank"].iloc[-1]) + 0.5]
            steps[k] = (x, part["share"].tolist() + [float(part["share"].iloc[-1])])
    return steps


CLASS_COLOURS = {"A": COLOURS["primary"], "B": COLOURS["accent"], "C": COLOURS["muted"]}
PARETO_GRID = {"left": 70, "right": 70, "top": 60, "bottom": 70,  # pixels, fixed: a click lands on a known rank
               "outerBoundsMode": "none"}  # (ECharts would move the grid to fit its labels)


def _percent(values) -> list:
    """Fractions as per cent for an axis labelled '{value}%', rounded to 4 places; NaN → None."""
    return [None if pd.isna(v) else round(float(v) * 100, 4) for v in values]


def pareto(table: pd.DataFrame, lang: str, measure: str = "revenue", limit: int = 2000) -> dict:
    """The first ``limit`` customers of ``pareto_table`` in rank order: each one's share as a
    filled step per ABC class (``share_steps``: rank r spans r − 0.5 .. r + 0.5, left
    axis); the cumulative share as a line with a marker per customer coloured by class (right
    axis, 0–100%), which hover and clicks go to (``picked_customer``); a dashed line at 80%
    and, when the customers making 80% are all drawn, a dotted line after the last of them.
    The rank axis runs from 0 to ``limit`` + 0.5 inside ``PARETO_GRID``."""
    shown = table.head(limit)
    share, cumulative = t("chart_share", lang), t("chart_cum_share", lang)
    option = _base(t("chart_pareto", lang, measure=t(f"measure_{measure}", lang)), t("axis_rank", lang))
    option["grid"] = dict(PARETO_GRID)
    option["xAxis"].update(type="value", min=0, max=max(len(shown), 1) + 0.5, nameGap=30,
                           axisLabel={"showMaxLabel": False})  # (the max is half a rank past the last)
    option["yAxis"] = [{"type": "value", "name": share, "axisLabel": {"formatter": "{value}%"}},
                       {"type": "value", "name": cumulative, "min": 0, "max": 100, "interval": 20,
                        "axisLabel": {"formatter": "{value}%"}, "splitLine": {"show": False}}]
    option["legend"] = {"bottom": 0, "data": [share, cumulative]}
    option["tooltip"] = {"trigger": "item", "formatter": t(
        "chart_hover_customer", lang, customer="{@customer}", value="{@value}", share="{@share}", cum="{@cum}",
        abc="{@abc}")}
    series, datasets = [], []
    for k, (x, y) in share_steps(shown).items():
        series.append({"type": "line", "name": share, "step": "end", "symbol": "none", "silent": True,
                       "data": [[a, b] for a, b in zip(x, _percent(y))], "lineStyle": {"width": 0},
                       "itemStyle": {"color": CLASS_COLOURS[k]}, "areaStyle": {"color": CLASS_COLOURS[k], "opacity": 1},
                       "tooltip": {"show": False}})
    reach = int(table["in_80pct"].sum()) if "in_80pct" in table else 0
    marks = [{"yAxis": 80, "lineStyle": {"type": "dashed", "color": COLOURS["accent"]}, "label": {"show": False}}]
    if 0 < reach <= len(shown):
        marks.append({"xAxis": reach + 0.5, "lineStyle": {"type": "dotted", "color": COLOURS["accent"]},
                      "label": {"formatter": t("chart_80pct_marker", lang, customers=f"{reach:,}"),
                                "position": "end"}})
    series.append({"type": "line", "name": cumulative, "yAxisIndex": 1, "symbol": "none", "silent": True,
                   "data": [[r, c] for r, c in zip(shown["rank"].tolist(), _percent(shown["cum_share"]))],
                   "itemStyle": {"color": "#333333"}, "lineStyle": {"width": 1}, "tooltip": {"show": False},
                   "markLine": {"symbol": "none", "silent": True, "data": marks}})
    for k in ("A", "B", "C"):
        part = shown[shown["abc"] == k]
        if part.empty:
            continue
        datasets.append({"source": pd.DataFrame({
            "rank": part["rank"].astype(float), "cum_pct": _percent(part["cum_share"]),
            "customer_id": part["customer_id"].astype(str),
            "customer": [customer_label(i, n) for i, n in zip(part["customer_id"], part.get("name", [None] * len(part)))],
            "value": [format_amount(v, lang) for v in part["value"]],
            "share": [format_share(s, 2) for s in part["share"]], "cum": [format_share(c) for c in part["cum_share"]],
            "abc": k})})
        series.append({"type": "scatter", "name": cumulative, "yAxisIndex": 1, "datasetIndex": len(datasets) - 1,
                       "encode": {"x": "rank", "y": "cum_pct"}, "symbolSize": 5, "selectedMode": "single",
                       "itemStyle": {"color": CLASS_COLOURS[k]}})
    option["dataset"] = datasets
    option["series"] = series
    return option


def picked_customer(option: dict, event) -> str | None:
    """The customer whose marker was clicked in a ``pareto`` chart: the first selected point
    of a marker series (``st.echarts_chart`` returns series and data indices), looked up in
    that series' dataset. None when nothing is selected."""
    selection = (event or {}).get("selection") or {}
    for group in selection.get("selected") or []:
        series = option["series"][group["series_index"]] if group["series_index"] < len(option["series"]) else {}
        if "datasetIndex" in series and group.get("data_indices"):
            source = option["dataset"][series["datasetIndex"]]["source"]
            index = group["data_indices"][0]
            if 0 <= index < len(source):
                return str(source["customer_id"].iloc[index])
    return None


AGING_COLOURS = {"not_due": "#9aa5b1", "overdue_1_30": "#f2c14e", "overdue_31_60": "#d9822b",
                 "overdue_61_90": "#c2452d", "overdue_90_plus": "#7a1f1f"}
BAR_ROW = 26  # pixels per account in the aging bars
# an account's name on a category axis is cut to this many pixels and ends in '…' (the tooltip
# has it whole): names of 200–3,000 characters squeezed the bars to a sliver
NAME_LABEL_WIDTH = 240


def aging_height(accounts: int) -> int:
    """The aging chart's height in pixels for ``accounts`` bars: ``BAR_ROW`` each and 140 for
    the title, axis and legend; at least ``HEIGHT``."""
    return max(HEIGHT, BAR_ROW * accounts + 140)


def aging_bars(rows: pd.DataFrame, lang: str) -> dict:
    """Stacked horizontal bars: each account's outstanding split by the aging buckets (rows of
    ``receivables.per_customer``, drawn top to bottom in the order given). Negative buckets
    (credits) stack left of zero, positive ones right of it. The money axis spans the most
    negative to the most positive stack (``money_axis``); the tooltip gives the account and
    every bucket in the language's units."""
    buckets = list(AGING_COLOURS)
    stacks = rows[buckets]
    axis, size = money_axis(stacks.clip(upper=0).sum(axis=1).min(), stacks.clip(lower=0).sum(axis=1).max(), lang)
    option = _base(t("chart_aging", lang), t("recv_outstanding", lang))
    option["grid"].update(bottom=50, right=30)  # (room for the last money label)
    option["xAxis"] = {**axis, "name": t("recv_outstanding", lang), "nameLocation": "middle", "nameGap": 28}
    ordered = rows.iloc[::-1]  # ECharts draws a category axis bottom-up
    source = pd.DataFrame({"account": [customer_label(i, n) for i, n in zip(
        ordered["customer_id"], ordered["name"] if "name" in ordered else [None] * len(ordered))]})
    for bucket in buckets:
        source[bucket] = (ordered[bucket].astype(float) / size).to_numpy()
        source[f"{bucket}_text"] = [format_amount(v, lang) for v in ordered[bucket]]
    option["dataset"] = {"source": source}
    option["yAxis"] = {"type": "category", "axisLabel": {"interval": 0, "width": NAME_LABEL_WIDTH, "overflow": "truncate"}}
    option["legend"] = {"bottom": 0}
    option["tooltip"] = {"trigger": "axis", "axisPointer": {"type": "shadow"}, "formatter": "<br>".join(
        ["{@account}"] + [f"{t(f'recv_{bucket}', lang)}: {{@{bucket}_text}}" for bucket in buckets])}
    option["series"] = [{"type": "bar", "name": t(f"recv_{bucket}", lang), "stack": "outstanding",
                         "encode": {"y": "account", "x": bucket}, "itemStyle": {"color": colour}}
                        for bucket, colour in AGING_COLOURS.items()]
    return option
