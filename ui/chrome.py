"""Streamlit's own words: its menu, the file uploader's texts and the chart toolbar's buttons are
English whatever the page's language, and Streamlit offers no way to translate them. What can be
hidden or replaced by a style sheet is, here; what cannot is listed in the README.

- the chart toolbar's "Show data" (raw column names and units, in English) and "Download as
  PNG": hidden in both languages (a chart's data is in the page's tables and downloads);
- a container keyed ``phone_only…`` (a list's first accounts in a few lines) shown only on
  screens at most ``PHONE_MAX_PX`` wide, where columns stack and a wide table starts far down;
- in 中文: the main menu (Rerun, Settings, Print, Record screen, About, "Made with Streamlit")
  hidden; the uploader's "Drag and drop", "Upload" and "1GB per file" replaced by the catalog's
  words (``uploader_*``)."""
from __future__ import annotations

import streamlit as st

from kam_analytics.i18n import t

PHONE_ONLY = "phone_only"  # a container whose key starts with this shows on phones only (``style_sheet``)
PHONE_MAX_PX = 640          # the width below which Streamlit stacks columns: a phone's


def css_text(text: str) -> str:
    """``text`` as a CSS string literal (for ``content:``): quotes, backslashes and line ends
    escaped, so a catalog entry cannot end the rule."""
    escaped = "".join(c if c not in '"\\\n\r<>' else f"\\{ord(c):x} " for c in text)
    return f'"{escaped}"'


def style_sheet(lang: str, max_upload_mb: int) -> str:
    """The style sheet for ``lang`` (see the module's docstring)."""
    rules = ['[data-testid="stElementToolbar"] button[aria-label="Show data"],'
             '[data-testid="stElementToolbar"] button[aria-label^="Download as"]{display:none}',
             # a phone's summary of a list (``PHONE_ONLY`` containers): shown on narrow screens only,
             # where the list's wide table would start a screen or two further down
             f'@media (min-width:{PHONE_MAX_PX + 1}px){{[class*="st-key-{PHONE_ONLY}"]{{display:none}}}}']
    if lang == "zh":
        instructions = t("uploader_instructions", lang, size=f"{max_upload_mb / 1024:g} GB" if max_upload_mb >= 1024
                         else f"{max_upload_mb} MB")
        rules += [
            '[data-testid="stMainMenu"]{display:none}',
            '[data-testid="stFileUploaderDropzoneInstructions"] *{display:none}',
            f'[data-testid="stFileUploaderDropzoneInstructions"]::after{{content:{css_text(instructions)};'
            'font-size:0.875rem;opacity:0.7}',
            '[data-testid="stFileUploaderDropzone"] button > *{display:none}',
            f'[data-testid="stFileUploaderDropzone"] button::after{{content:{css_text(t("uploader_button", lang))}}}',
        ]
    return "<style>" + "".join(rules) + "</style>"


def install(lang: str) -> None:
    """Apply ``style_sheet`` to this run's page (a style-only block takes no room)."""
    st.html(style_sheet(lang, int(st.get_option("server.maxUploadSize"))))
