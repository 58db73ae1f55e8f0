"""User text shown where Streamlit renders Markdown (st.info, st.warning, st.caption, …)."""
from __future__ import annotations

import re

_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~$&"
# Streamlit also turns addresses in text into links (e-mail, http://…, www.…), escaped or not;
# an invisible WORD JOINER after '@' and before ':' and in 'www.' keeps them text.
_JOIN = "\u2060"
# Streamlit's own directives all start at a colon followed by a name: icons ':material/lock:',
# emoji ':smile:' and ':+1:', colours ':red[…]', badges ':blue-badge[…]'. A joiner after such a
# colon leaves none of them a name to read; a colon before a space or other text ('Rows: 4')
# is left as it is, so sentences copy out clean.
_DIRECTIVE_COLON = re.compile(r"(?<!\u2060):(?=[A-Za-z0-9_+\\-])")
# Characters that reorder the text shown around them (a right-to-left override makes
# 'exe.txt' of 'txt.exe'): not shown at all.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"))


def escape_markdown(text: str) -> str:
    """``text`` shown literally where Streamlit renders Markdown (st.warning, st.caption):
    a header or file name like ``![x](http://…)`` stays text, fetches nothing and links nowhere.
    Every Markdown character is escaped with a backslash (``&`` too, so ``&lt;`` stays as
    typed), and an invisible joiner goes where Streamlit would start a link of its own: after
    '@', before '://' and 'mailto:''s colon, inside 'www.' — and after any other colon, which
    would start a Streamlit directive (``:material/…:``, ``:smile:``, ``:red[…]``). Bidirectional
    controls (U+202E …) are dropped, so the text reads in the order it was typed."""
    escaped = "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(text).translate(_BIDI_CONTROLS))
    escaped = escaped.replace("@", "@" + _JOIN).replace("://", _JOIN + "://")
    for word in ("mailto:", "MAILTO:", "Mailto:"):
        escaped = escaped.replace(word, word[:-1] + _JOIN + ":")
    escaped = escaped.replace("www\\.", "www" + _JOIN + "\\.").replace("WWW\\.", "WWW" + _JOIN + "\\.")
    return _DIRECTIVE_COLON.sub(":" + _JOIN, escaped)


def escaped_params(params: dict) -> dict:
    """A message's parameters with every text escaped (``escape_markdown``): the catalog's own
    words keep their formatting, what came from a file or a user shows as typed."""
    return {k: escape_markdown(v) if isinstance(v, str) else v for k, v in params.items()}
