"""Plotly figures built from analytics results. Titles, axes and hover text come from i18n;
amounts in hover text use the language's units (万/亿 or K/M)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from kam_analytics.i18n import format_amount, format_count, t

COLOURS = {"primary": "#1f5fa8", "accent": "#d9822b", "muted": "#9aa5b1"}


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=360,
                      margin=dict(l=10, r=10, t=50, b=10), hoverlabel=dict(namelength=-1),
                      separators=".,")
    return fig


def revenue_trend(periods: pd.DataFrame, lang: str, title_key: str = "chart_revenue_trend",
                  freq: str = "month") -> go.Figure:
    """Bars of revenue per period (``revenue_by_period`` output) with orders and customers on hover."""
    fig = go.Figure()
    if not periods.empty:
        labels = pd.to_datetime(periods["period"]).dt.strftime("%Y-%m" if freq == "month" else "%Y-%m")
        hover = [
            t("chart_hover_period", lang, period=label, revenue=format_amount(rev, lang),
              orders=format_count(orders), customers=format_count(customers))
            for label, rev, orders, customers in zip(labels, periods["revenue"], periods["orders"], periods["customers"])
        ]
        fig.add_bar(x=pd.to_datetime(periods["period"]), y=periods["revenue"], marker_color=COLOURS["primary"],
                    hovertext=hover, hoverinfo="text", name=t("axis_revenue", lang))
    return _layout(fig, t(title_key, lang), t(f"axis_{freq}", lang), t("axis_revenue", lang))
