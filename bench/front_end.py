"""What one part of a page costs a new tab in the browser: a page of a title and one metric,
alone and with one more part (a Plotly chart, an ECharts chart, Streamlit's data grid, a
static table, the app's kind of sidebar and navigation), each served by its own Streamlit to
headless Chromium (Debian's) with the front end's scripts cached; seconds from opening the
tab until Streamlit's script has finished and the part is drawn, the median of six tabs after
a first one. It is how the pages' charts were chosen (``kam_analytics/echarts.py``) and what
the *again* column of ``bench/pages.py`` cannot go below.

Usage: python bench/front_end.py [part ...]   (default: every part)
Prints one JSON line per part and writes bench/out/front_end.md.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pages import OUT, one_page_app  # noqa: E402

PAGE = 'import streamlit as st\nst.set_page_config(layout="wide")\nst.title("Overview")\nst.metric("Revenue", "1")\n'
SIDEBAR = '''import streamlit as st
st.set_page_config(layout="wide")


def page():
    with st.sidebar:
        st.radio("Language", ["中文", "English"], horizontal=True)
        st.selectbox("Dataset", ["a", "b"])
        st.selectbox("Period", ["all", "ytd"])
        st.caption("2022-01-01 – 2024-12-31")
        with st.expander("Filters"):
            st.multiselect("Region", ["a", "b"])
    st.title("Overview")
    st.metric("Revenue", "1")


icons = ["home", "trending_up", "star", "scatter_plot", "warning", "account_balance", "person_search", "folder_open"]
st.navigation([st.Page(page, title=f"Page {i}", icon=f":material/{icon}:", url_path=f"p{i}", default=i == 0)
               for i, icon in enumerate(icons)]).run()
'''
PARTS = {  # part: (the app, what shows it drawn)
    "one metric": (PAGE, '[data-testid="stMetric"]'),
    "+ a Plotly chart": (PAGE + "import plotly.graph_objects as go\nst.plotly_chart(go.Figure(go.Bar(x=list(range(36)), "
                         "y=list(range(36)))), config={'displayModeBar': False})\n", ".js-plotly-plot .main-svg"),
    "+ an ECharts chart": (PAGE + "st.echarts_chart({'xAxis': {'type': 'category', 'data': list(range(36))}, 'yAxis': "
                           "{'type': 'value'}, 'series': [{'type': 'bar', 'data': list(range(36))}]})\n",
                           '[data-testid="stEChartsChart"][aria-busy="false"] canvas'),
    "+ a data grid of 10 rows": (PAGE + "st.dataframe({'a': list(range(10)), 'b': ['x'] * 10})\n",
                                 '[data-testid="stDataFrame"] canvas'),
    "+ a static table of 10 rows": (PAGE + "st.table({'a': list(range(10)), 'b': ['x'] * 10})\n",
                                    '[data-testid="stTable"]'),
    "+ the sidebar and navigation of eight pages": (SIDEBAR, '[data-testid="stSidebarNav"] a'),
}
DRAWN_JS = """figure => { const app = document.querySelector('.stApp');
  const done = app && app.getAttribute('data-test-script-state') === 'notRunning' && document.querySelector(figure);
  return done ? performance.timeOrigin + performance.now() : false; }"""
TABS = 7


def time_part(name: str) -> float:
    app, figure = PARTS[name]
    took = []
    with one_page_app(OUT / "front_end" / name.strip("+ ").replace(" ", "_"), app) as (context, url):
        for _ in range(TABS):
            page = context.new_page()
            started = time.time()
            page.goto(url, wait_until="commit")
            drawn = page.wait_for_function(DRAWN_JS, arg=figure, polling=20, timeout=120_000).json_value()
            took.append(drawn / 1000 - started)
            page.close()
    return round(statistics.median(took[1:]), 2)


def main() -> int:
    parts = sys.argv[1:] or list(PARTS)
    lines = ["| page | new tab until drawn (median of six) |", "|---|---|"]
    for name in parts:
        seconds = time_part(name)
        print(json.dumps({"benchmark": "front_end", "part": name, "new_tab_s": seconds}, ensure_ascii=False), flush=True)
        lines.append(f"| {name} | {seconds} s |")
    OUT.mkdir(exist_ok=True)
    (OUT / "front_end.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
