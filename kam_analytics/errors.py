"""Errors whose message is a plain sentence for a sales manager: what is wrong, where, what to do.

The message is built from an i18n key so the app can show it in either language; ``str(err)``
is the English text (what the command line prints).
"""
from __future__ import annotations


class KamError(Exception):
    """A problem the user can fix; ``key`` and ``params`` render it in any language."""

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        from kam_analytics.i18n import t

        super().__init__(t(key, "en", **params))

    def message(self, lang: str) -> str:
        from kam_analytics.i18n import t

        return t(self.key, lang, **self.params)


class IngestError(KamError):
    """A file that cannot be loaded; nothing in the store was changed."""


class StoreError(KamError):
    """The store cannot do what was asked (locked, unknown dataset, name taken …)."""


class EngineError(KamError):
    """The engine a dataset needs cannot be reached or cannot read its table."""
