"""User text shown where Streamlit renders Markdown (st.info, st.warning, st.caption, …)."""
from __future__ import annotations

_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~$&"
# Streamlit also turns addresses in text into links (e-mail, http://…, www.…), escaped or not;
# an invisible WORD JOINER after '@' and before ':' and in 'www.' keeps them text.
_JOIN = "\u2060"


def escape_markdown(text: str) -> str:
    """``text`` shown literally where Streamlit renders Markdown (st.warning, st.caption):
    a header or file name like ``![x](http://…)`` stays text, fetches nothing and links nowhere.
    Every Markdown character is escaped with a backslash; ``&`` too, so ``&lt;`` stays as typed."""
    out = []
    for c in str(text):
        if c in _MARKDOWN_SPECIAL:
            out.append("\\" + c)
        elif c == ":":
            out.append(_JOIN + c)
        elif c == "@":
            out.append(c + _JOIN)
        else:
            out.append(c)
    escaped = "".join(out)
    return escaped.replace("www\\.", "www" + _JOIN + "\\.").replace("WWW\\.", "WWW" + _JOIN + "\\.")
