"""Start the app: ``python -m ui.serve [streamlit options]`` is ``streamlit run app.py [options]``
after importing, once, what the pages' first run needs (pandas, Ibis and its DuckDB backend,
Arrow, Plotly, the analytics). Streamlit runs every session's script in this process, so the
first visitor after a start no longer waits for those imports (about 0.8 s on a 2-core
machine, and a second more on the segment and churn pages for scikit-learn). The server
answers a second or two later instead. It also starts the thread that prepares the opening
pages of the newest data (``ui.prepare``).
"""
from __future__ import annotations

import sys

MODULES = ("pandas", "pyarrow", "ibis", "plotly.graph_objects", "plotly.express", "sklearn.ensemble",
           "sklearn.cluster", "sklearn.metrics", "kam_analytics.service", "kam_analytics.charts", "kam_analytics.echarts",
           "kam_analytics.export", "kam_analytics.analytics.accounts", "kam_analytics.analytics.overview",
           "kam_analytics.analytics.expected_revenue", "kam_analytics.analytics.concentration",
           "kam_analytics.analytics.rfm", "kam_analytics.analytics.churn", "kam_analytics.models.churn",
           "kam_analytics.models.segmentation", "kam_analytics.store", "kam_analytics.ingest",
           "kam_analytics.analytics.account_features", "kam_analytics.analytics.receivables",
           "kam_analytics.analytics.trend")


def _import(names) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # a module that fails here fails again, with its message, where it is used
            pass


def main(argv: list[str]) -> int:
    _import(MODULES)
    import ibis

    ibis.duckdb.connect().disconnect()  # the backend's own first-use set-up
    # The first element the process draws has Streamlit ask whether it runs in a Python REPL,
    # to warn that it should be started by `streamlit run`: it walks the whole call stack
    # reading every frame's source (inspect.stack), 0.23 s of the first page after a start.
    # This always is `streamlit run`, so that question is marked as asked.
    from streamlit import delta_generator

    delta_generator._use_warning_has_been_displayed = True
    from ui import hardening, prepare, upload_guard

    hardening.drop_metrics_route()
    hardening.install()
    upload_guard.install()  # before the server takes a request (app.py installs it too: `streamlit run app.py`)
    prepare.start()  # waits for the runtime the server starts below
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", "app.py", *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
