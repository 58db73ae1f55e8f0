"""What the server tells a browser that has not signed in, cut to what the front end needs.

* ``/_stcore/metrics`` (cache names, sizes, hit counts of every session) is not served: it is
  dropped from the routes before the server starts (``python -m ui.serve``, which ``make run``
  uses; a server started otherwise has it — the team deployment's proxy refuses it, docs/team.md).
* Every new session's first message carried the app's path on the server and the exact Python
  version; it carries the script's file name and no Python version (``install``).
"""
from __future__ import annotations

import os


def drop_metrics_route() -> None:
    """Serve no ``/_stcore/metrics``: call before the server builds its routes."""
    from streamlit.web.server.starlette import starlette_app

    starlette_app.create_metrics_routes = lambda runtime, base_url: []


def install() -> None:
    """Cut the server's path and Python version from every new session's first message (once
    per process; idempotent)."""
    from streamlit.runtime.app_session import AppSession

    if getattr(AppSession._create_new_session_message, "kam_cut", False):
        return
    create = AppSession._create_new_session_message

    def new_session_message(self, *args, **kwargs):
        message = create(self, *args, **kwargs)
        session = message.new_session
        session.main_script_path = os.path.basename(session.main_script_path)
        session.initialize.environment_info.python_version = ""
        return message

    new_session_message.kam_cut = True
    AppSession._create_new_session_message = new_session_message
