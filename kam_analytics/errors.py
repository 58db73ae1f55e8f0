"""Errors whose message is a plain sentence for a sales manager: what is wrong, where, what to do.

The message is built from an i18n key so the app can show it in either language; ``str(err)``
is the English text (what the command line prints).
"""
from __future__ import annotations


class ReasonCounts:
    """Rows set aside, counted per reason code (``customer_missing``: 3 …), as a parameter of a
    message: written in the message's language ('amount not readable: 30'), never as codes."""

    def __init__(self, counts: dict[str, int]):
        self.counts = dict(counts)

    def render(self, lang: str) -> str:
        from kam_analytics.i18n import join_list, t

        return join_list([f"{t(f'reason_{code}', lang)}: {count:,}" for code, count in self.counts.items()], lang)


def _rendered(params: dict, lang: str) -> dict:
    return {k: v.render(lang) if hasattr(v, "render") else v for k, v in params.items()}


class KamError(Exception):
    """A problem the user can fix; ``key`` and ``params`` render it in any language (a
    parameter with a ``render(lang)`` method, such as ``ReasonCounts``, in that language too)."""

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        from kam_analytics.i18n import t

        super().__init__(t(key, "en", **_rendered(params, "en")))

    def message(self, lang: str) -> str:
        from kam_analytics.i18n import t

        return t(self.key, lang, **_rendered(self.params, lang))


class IngestError(KamError):
    """A file that cannot be loaded; nothing in the store was changed."""


class StoreError(KamError):
    """The store cannot do what was asked (locked, unknown dataset, name taken …)."""


class EngineError(KamError):
    """The engine a dataset needs cannot be reached or cannot read its table."""
