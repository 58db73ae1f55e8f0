"""User text shown where Streamlit renders Markdown (st.info, st.warning, st.caption, …)."""
from __future__ import annotations

_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~$"


def escape_markdown(text: str) -> str:
    """``text`` shown literally where Streamlit renders Markdown (st.warning, st.caption):
    a header or file name like ``![x](http://…)`` stays text and fetches nothing."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text))
