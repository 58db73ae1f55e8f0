"""Charts every session shares: built once per slice, settings and language and handed to
each session as the same Plotly figure (``st.cache_resource``; nothing changes a figure once
it is built: ``st.plotly_chart`` copies it). Worth it where building is slow: Plotly checks
every one of 2,000 bars and markers, 0.3 s a run on each page visit otherwise."""
from __future__ import annotations

import streamlit as st

from kam_analytics import charts
from kam_analytics.analytics import concentration
from kam_analytics.service import Slice
from ui import queries


@st.cache_resource(show_spinner=False, max_entries=32)
def pareto(key: Slice, measure: str, cuts: tuple, lang: str, limit: int):
    """``charts.pareto`` of the slice's ranked customers (``queries.ranked_customers``) with
    the ABC ``cuts``, the first ``limit`` customers drawn."""
    table = concentration.pareto_table(queries.ranked_customers(key, measure), cuts)
    return charts.pareto(table, lang, measure, limit=limit)
