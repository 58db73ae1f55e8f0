"""What the browser sees when something fails: a plain sentence in the user's language, never a
traceback. The full traceback goes to the server log under a short reference id that the
sentence quotes, so a user can report it and an administrator can find it."""
from __future__ import annotations

import logging
import secrets

import streamlit as st

from kam_analytics.errors import KamError
from ui.markdown import escape_markdown

log = logging.getLogger("kam_analytics.app")


def reference_for(error: BaseException) -> str:
    """Log ``error`` with its traceback under a new reference id, and return the id."""
    reference = secrets.token_hex(4)
    log.error("unexpected error, reference %s", reference, exc_info=(type(error), error, error.__traceback__))
    return reference


def show_error(error: Exception, lang: str) -> None:
    """A refusal (``KamError``) shows its own sentence; anything else a sentence with the
    reference id of the logged traceback. User text inside either is shown as text."""
    from kam_analytics.i18n import t

    if isinstance(error, KamError):
        st.error(escape_markdown(error.message(lang, page=True)))
    else:
        st.error(t("error_unexpected", lang, reference=reference_for(error)))
