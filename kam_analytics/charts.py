"""Plotly figures built from analytics results. Titles, axes and hover text come from i18n;
amounts in hover text use the language's units (万/亿 or K/M)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kam_analytics.i18n import customer_label, format_amount, t

COLOURS = {"primary": "#1f5fa8", "accent": "#d9822b", "muted": "#9aa5b1"}
LINE_POINTS = 1000  # a curve over every customer is drawn through this many of them, evenly spaced


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=360,
                      margin=dict(l=10, r=10, t=50, b=10), hoverlabel=dict(namelength=-1),
                      separators=".,")
    return fig


def money_ticks(low: float, high: float, lang: str, target: int = 5) -> tuple[list[float], list[str]]:
    """Axis ticks for money from ``low`` to ``high`` labelled in the language's units (万/亿 or
    K/M/B, as ``format_amount``; Plotly's own labels say 'M' in Chinese too): about ``target``
    steps of 1, 2, 5 or 10 × a power of ten, from the step at or below the lower end to the
    one at or above the upper end; always including 0. A trailing '.0' is dropped ('3,000万')."""
    import math

    low, high = min(float(low), 0.0), max(float(high), 0.0)
    if high - low <= 0:
        return [0.0], ["0"]
    rough = (high - low) / target
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    values = [k * step for k in range(math.floor(low / step), math.ceil(high / step) + 1)]
    texts = [format_amount(v, lang).replace(".0万", "万").replace(".0亿", "亿").replace(".0K", "K")
             .replace(".0M", "M").replace(".0B", "B") for v in values]
    return values, texts


def plain(text) -> str:
    """User text (a customer's name or id) as Plotly shows it literally: Plotly reads tags such
    as <b> and <a href> in labels and hover text, and decodes entities after reading them, so
    ``&``, ``<`` and ``>`` are written as entities."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _customer_label(row) -> str:
    return plain(customer_label(row["customer_id"], row.get("name") if hasattr(row, "get") else None))


def lorenz(points: pd.DataFrame, gini_value: float | None, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=COLOURS["muted"]),
                    name=t("chart_equality", lang), hoverinfo="skip")
    if len(points) > LINE_POINTS:  # every customer is a point: 1,000 draw the same curve
        points = points.iloc[np.unique(np.linspace(0, len(points) - 1, LINE_POINTS).round().astype(int))]
    fig.add_scatter(x=points["customer_share"], y=points["value_share"], mode="lines", fill="tonexty",
                    line=dict(color=COLOURS["primary"]), name=t("chart_lorenz_curve", lang),
                    hovertemplate=t("chart_hover_lorenz", lang) + "<extra></extra>")
    fig.update_layout(xaxis=dict(tickformat=".0%"), yaxis=dict(tickformat=".0%"), legend=dict(orientation="h", y=-0.2))
    title = t("chart_lorenz", lang, gini="–" if gini_value is None else f"{gini_value:.3f}")
    return _layout(fig, title, t("axis_customer_share", lang), t("axis_value_share", lang))


def indicator_trend(periods: pd.DataFrame, lang: str, freq: str = "month") -> go.Figure:
    """CR5 and Gini (left axis, 0–1) and HHI (right axis) per period."""
    fig = go.Figure()
    x = pd.to_datetime(periods["group"]) if len(periods) else []
    fig.add_scatter(x=x, y=periods["top5_share"], mode="lines+markers", name=t("kpi_top5", lang))
    fig.add_scatter(x=x, y=periods["gini"], mode="lines+markers", name=t("gini", lang))
    fig.add_scatter(x=x, y=periods["hhi"], mode="lines+markers", name="HHI", yaxis="y2", line=dict(dash="dot"))
    fig.update_layout(yaxis=dict(tickformat=".0%", range=[0, 1]),
                      yaxis2=dict(overlaying="y", side="right", title="HHI", tickformat=",.0f", rangemode="tozero"),
                      xaxis=dict(tickformat="%Y-%m"), legend=dict(orientation="h", y=-0.25))
    return _layout(fig, t("chart_concentration_trend", lang), t(f"axis_{freq}", lang), t("axis_share_or_gini", lang))


def whale(curve: pd.DataFrame, lang: str) -> go.Figure:
    """Cumulative profit share of customers ranked by profit; customdata = customer_id."""
    fig = go.Figure()
    labels = [_customer_label(r) for _, r in curve.iterrows()]
    hover = [t("chart_hover_whale", lang, customer=label, profit=format_amount(p, lang), cum=f"{c * 100:.1f}%")
             for label, p, c in zip(labels, curve["profit"], curve["cum_share"])]
    # markers, not a bare line: Plotly selects (and Streamlit reports) only points it can mark
    fig.add_scatter(x=curve["rank"], y=curve["cum_share"], mode="lines+markers", marker=dict(size=4),
                    customdata=curve["customer_id"], line=dict(color=COLOURS["primary"]), hovertext=hover,
                    hoverinfo="text", name=t("chart_cum_profit", lang))
    fig.add_hline(y=1.0, line_dash="dash", line_color=COLOURS["muted"])
    fig.update_layout(yaxis=dict(tickformat=".0%"))
    return _layout(fig, t("chart_whale", lang), t("axis_rank_profit", lang), t("chart_cum_profit", lang))


_MARGIN = dict(l=10, r=10, t=50, b=10)


def tier_pyramid(summary: pd.DataFrame, tier_basis: str, lang: str) -> go.Figure:
    """The customer pyramid: one funnel step per tier (``accounts.tier_summary``), labelled
    with customers, revenue and (when known) profit."""
    labels = []
    for _, row in summary.iterrows():  # four tiers
        parts = [f"{t('col_customers', lang)} {row['customers']:,}", f"{t('col_revenue', lang)} {format_amount(row['revenue'], lang)}"]
        if "profit" in summary:
            parts.append(f"{t('col_profit', lang)} {format_amount(row['profit'], lang)}")
        labels.append("<br>".join(parts))
    fig = go.Figure(go.Funnel(y=[t(f"tier_{x}", lang) for x in summary["tier"]], x=summary["customers"],
                              text=labels, textinfo="text", hoverinfo="y+text",
                              marker=dict(color=["#6d7b8d", "#c9a227", "#8a8d91", "#5b5b5b"])))
    fig.update_layout(title=t("ka_pyramid_chart", lang, basis=t(f"ka_basis_{tier_basis}", lang)), height=340,
                      margin=_MARGIN)
    return fig


def _bars_and_line(x, bars, line, bar_name: str, line_name: str, title: str, line_format: str | None = None,
                   category_axis: bool = False, money_lang: str | None = None) -> go.Figure:
    """Bars on the left axis and a line on the right one (counts against money or shares; with
    ``money_lang`` the line is money, labelled in that language's units)."""
    fig = go.Figure()
    fig.add_bar(x=x, y=bars, name=bar_name, marker_color=COLOURS["primary"])
    fig.add_scatter(x=x, y=line, yaxis="y2", mode="markers+lines", name=line_name, marker_color=COLOURS["accent"])
    right = dict(overlaying="y", side="right", title=line_name)
    if line_format:
        right["tickformat"] = line_format
    if money_lang is not None and len(line):
        right["tickvals"], right["ticktext"] = money_ticks(min(line), max(line), money_lang)
    fig.update_layout(title=title, yaxis=dict(title=bar_name), yaxis2=right, height=380, margin=_MARGIN,
                      legend=dict(orientation="h", y=-0.3))
    if category_axis:
        fig.update_layout(xaxis=dict(type="category"))
    return fig


def rf_grid(grid: pd.DataFrame, lang: str) -> go.Figure:
    """Customers per (R, F) score cell (``rfm.rf_grid``) as a heat map."""
    fig = go.Figure(go.Heatmap(z=grid.values, x=[f"F{f}" for f in grid.columns], y=[f"R{r}" for r in grid.index],
                               colorscale="Blues", texttemplate="%{z}"))
    fig.update_layout(title=t("seg_chart_grid", lang), xaxis_title=t("seg_dim_f", lang),
                      yaxis_title=t("seg_dim_r", lang), height=420, margin=_MARGIN)
    return fig


def cluster_label(code: str, lang: str) -> str:
    """A cluster's name ('recent-frequent-high-long_standing', ``rfm.cluster_names``) in words."""
    return " · ".join(t(f"cluster_word_{w}", lang) for w in str(code).split("-"))


def cluster_scatter(table: pd.DataFrame, x: str, y: str, axis_names: dict[str, str], lang: str) -> go.Figure:
    """Customers on two RFM measures (log scales; only positive values can be drawn), coloured
    by cluster; customdata carries the customer_id for clicks."""
    import plotly.express as px

    shown = table.assign(cluster_label=table["cluster_name"].map(lambda code: cluster_label(code, lang)),
                         hover_id=table["customer_id"].map(plain))
    fig = px.scatter(shown, x=x, y=y, color="cluster_label", log_x=True, log_y=True,
                     color_discrete_sequence=px.colors.qualitative.D3, custom_data=["customer_id"],
                     hover_name="hover_id",
                     labels={x: axis_names[x], y: axis_names[y], "cluster_label": t("seg_cluster", lang)})
    fig.update_layout(title=t("seg_chart_clusters", lang), height=460, margin=_MARGIN)
    return fig


def lapses_by_month(lapsed: pd.DataFrame, lang: str) -> go.Figure:
    """Accounts that lapsed per month of their last order (bars) and the revenue they brought
    in their last year (line), from ``churn.post_mortem``."""
    monthly = lapsed.groupby("lapse_month").agg(accounts=("customer_id", "count"),
                                                revenue=("revenue_lost", "sum")).reset_index()
    return _bars_and_line(monthly["lapse_month"], monthly["accounts"], monthly["revenue"],
                          t("churn_lapsed_accounts", lang), t("churn_revenue_lost", lang),
                          t("churn_post_mortem_chart", lang), category_axis=True, money_lang=lang)


def retention_heatmap(retention: pd.DataFrame, lang: str) -> go.Figure:
    """Share of each quarterly cohort that ordered k quarters later (``churn.cohort_retention``)."""
    grid = retention.pivot(index="cohort", columns="k", values="share")
    labels = [pd.Timestamp(c).to_period("Q").strftime("%Y-Q%q") for c in grid.index]
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[str(k) for k in grid.columns], y=labels, colorscale="Blues",
                               zmin=0, zmax=1, texttemplate="%{z:.0%}"))
    fig.update_layout(title=t("churn_retention_chart", lang), xaxis_title=t("churn_retention_k", lang),
                      yaxis_title=t("churn_retention_cohort", lang), height=420, margin=_MARGIN)
    return fig


def reliability(bins: list[dict], lang: str, key_bins: list[dict] | None = None) -> go.Figure:
    """Predicted risk against the share that lapsed, per risk band (``calibration.reliability``)
    of every account and, when given, of the key accounts (``key_bins``): a calibrated model
    keeps its points on the diagonal; the bars count the accounts."""
    predicted = [b["predicted"] for b in bins]
    fig = go.Figure()
    fig.add_bar(x=predicted, y=[b["accounts"] for b in bins], name=t("churn_reliability_accounts", lang),
                yaxis="y2", opacity=0.25, width=0.08, hovertemplate="%{y}<extra></extra>")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"},
                    name=t("churn_reliability_perfect", lang), hoverinfo="skip")
    fig.add_scatter(x=predicted, y=[b["lapsed"] for b in bins], mode="lines+markers",
                    name=t("churn_reliability_observed", lang), hovertemplate="%{x:.0%} → %{y:.0%}<extra></extra>")
    if key_bins:
        fig.add_scatter(x=[b["predicted"] for b in key_bins], y=[b["lapsed"] for b in key_bins], mode="lines+markers",
                        name=t("churn_reliability_observed_key", lang), line={"dash": "dash"},
                        customdata=[b["accounts"] for b in key_bins],
                        hovertemplate="%{x:.0%} → %{y:.0%} (%{customdata})<extra></extra>")
    fig.update_layout(title=t("churn_reliability_chart", lang), xaxis_title=t("churn_reliability_x", lang),
                      yaxis_title=t("churn_reliability_y", lang), height=380, margin=_MARGIN,
                      xaxis={"range": [0, 1], "tickformat": ".0%"}, yaxis={"range": [0, 1], "tickformat": ".0%"},
                      yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                              "title": t("churn_reliability_accounts", lang)},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def bridge_waterfall(bridge: dict, lang: str) -> go.Figure:
    """The revenue bridge of the earlier review's key accounts (``analytics.reviews.bridge``):
    start → + expansion → − contraction → − churned → end, then + new key accounts."""
    steps = [("report_bridge_start", bridge["start_revenue"], "absolute"),
             ("report_bridge_expansion", bridge["expansion"], "relative"),
             ("report_bridge_contraction", -bridge["contraction"], "relative"),
             ("report_bridge_churned", -bridge["churned"], "relative"),
             ("report_bridge_end", bridge["end_revenue"], "total"),
             ("report_bridge_new", bridge["new"], "relative")]
    fig = go.Figure(go.Waterfall(
        x=[t(key, lang) for key, _, _ in steps], y=[value for _, value, _ in steps],
        measure=[measure for _, _, measure in steps],
        text=[format_amount(abs(value), lang) for _, value, _ in steps], textposition="outside",
        hovertemplate="%{x}: %{text}<extra></extra>"))
    return _layout(fig, t("report_bridge", lang), "", t("measure_revenue", lang))


def pnl_waterfall(row: dict, cost_types: list[str], lang: str) -> go.Figure:
    """One account's P&L (``analytics.costs``): revenue → − cost of goods → gross profit → −
    each cost type → − financing → net profit. ``row``: a P&L row; ``cost_types``: its
    ``cost_<type>`` columns, each drawn under its type's own text (shown as text)."""
    from kam_analytics.analytics.costs import COST_PREFIX, OTHER_TYPE

    def label(column: str) -> str:
        kind = column[len(COST_PREFIX):]
        return t("pnl_other_costs", lang) if kind == OTHER_TYPE else plain(kind)

    steps = [(t("col_revenue", lang), row["revenue"], "absolute"),
             (t("pnl_cost_of_goods", lang), -(row["revenue"] - row["gross_profit"]), "relative"),
             (t("col_gross_profit", lang), row["gross_profit"], "total")]
    steps += [(label(c), -row[c], "relative") for c in cost_types if row.get(c)]
    if row.get("financing_cost"):
        steps.append((t("col_financing_cost", lang), -row["financing_cost"], "relative"))
    steps.append((t("col_net_profit", lang), row["net_profit"], "total"))
    fig = go.Figure(go.Waterfall(
        x=[x for x, _, _ in steps], y=[v for _, v, _ in steps], measure=[m for _, _, m in steps],
        text=[format_amount(v, lang) for _, v, _ in steps], textposition="outside",
        hovertemplate="%{x}: %{text}<extra></extra>"))
    return _layout(fig, t("pnl_waterfall_title", lang), "", t("measure_revenue", lang))
