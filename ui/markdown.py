"""User text shown where Streamlit renders Markdown (st.info, st.warning, st.caption, …)."""
from __future__ import annotations

_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~$&"
# Streamlit also turns addresses in text into links (e-mail, http://…, www.…), escaped or not;
# an invisible WORD JOINER after '@' and before ':' and in 'www.' keeps them text.
_JOIN = "\u2060"


def escape_markdown(text: str) -> str:
    """``text`` shown literally where Streamlit renders Markdown (st.warning, st.caption):
    a header or file name like ``![x](http://…)`` stays text, fetches nothing and links nowhere.
    Every Markdown character is escaped with a backslash (``&`` too, so ``&lt;`` stays as
    typed), and an invisible joiner goes where Streamlit would start a link of its own: after
    '@', before '://' and 'mailto:''s colon, inside 'www.'."""
    escaped = "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text))
    escaped = escaped.replace("@", "@" + _JOIN).replace("://", _JOIN + "://")
    for word in ("mailto:", "MAILTO:", "Mailto:"):
        escaped = escaped.replace(word, word[:-1] + _JOIN + ":")
    return escaped.replace("www\\.", "www" + _JOIN + "\\.").replace("WWW\\.", "WWW" + _JOIN + "\\.")
