"""What every run of every screen shares, before any page: the store of the server process,
the session's language and its switch, and widgets whose values the session keeps. The sign-in
screens (``ui.auth``) and the app's frame (``ui.state``) both stand on this; it imports
neither."""
from __future__ import annotations

import streamlit as st

from kam_analytics.i18n import normalise_lang, t

IDENTITY_KEY = "_identity"  # session key: who is using this session (set by ``ui.auth.gate`` every run)


@st.cache_resource(show_spinner=False)
def get_store():
    """One read-write connection for the server process (queries use cursors of their own)."""
    from kam_analytics.service import open_store

    return open_store()


def lang() -> str:
    return st.session_state.get("lang", "en")


def tr(key: str, **params) -> str:
    return t(key, lang(), **params)


def query_value(name: str, default=None):
    value = st.query_params.get(name)
    return value if value not in (None, "") else default


def _settle_language() -> None:
    if "lang" not in st.session_state:
        wanted = query_value("lang")
        if wanted is None:
            from kam_analytics.config import setting

            wanted = setting("KAM_LANG") or getattr(st.context, "locale", None) or "en"
        st.session_state["lang"] = normalise_lang(wanted)


def copy_from_widget(key: str) -> None:
    st.session_state[key] = st.session_state[f"_w_{key}"]


def labeller(prefix: str):
    """A format_func for widgets whose options are codes: '<prefix><code>' from the catalog.
    The language is fixed when the widget is drawn (the function may be called later, outside
    the script run, where the session is not at hand)."""
    lang_now = lang()
    return lambda code: t(f"{prefix}{code}", lang_now)


def kept(widget, label: str, key: str, default, *args, **kwargs):
    """Draw ``widget`` whose value lives in ``st.session_state[key]`` (``default`` until the
    user changes it) rather than in the widget's own state: Streamlit forgets a widget's state
    on page changes and in every run that does not draw it, a plain key it keeps. ``args`` and
    ``kwargs`` go to the widget, which must not be given a value of its own."""
    st.session_state.setdefault(key, default)
    st.session_state[f"_w_{key}"] = st.session_state[key]
    widget(label, *args, key=f"_w_{key}", on_change=copy_from_widget, args=(key,), **kwargs)
    return st.session_state[key]


def persistent(widget, label: str, options, key: str, **kwargs):
    """``kept`` for a widget of ``options`` whose value the session already holds."""
    return kept(widget, label, key, st.session_state[key], options, **kwargs)


def language_switch() -> str:
    """The 中文 / English switch (in the sidebar, and on the screens before sign-in)."""
    _settle_language()
    return persistent(st.radio, t("sidebar_language", lang()), ["zh", "en"], "lang", horizontal=True,
                       format_func=lambda code: {"zh": "中文", "en": "English"}[code])


def init_language() -> None:
    """Settle the language before ``st.navigation`` titles the pages."""
    _settle_language()
