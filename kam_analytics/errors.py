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


class FieldNames:
    """Canonical field names (customer_id, order_date …) as a message parameter: written as the
    language names the fields ('customer ID, order date'; '客户编号、订单日期') on a page, as the
    names ``--map`` takes on the command line (``render(lang, page=False)``)."""

    def __init__(self, names):
        self.names = list(names)

    def render(self, lang: str, page: bool = True) -> str:
        from kam_analytics.i18n import join_list, t

        if not self.names:
            return "–"
        if not page:
            return ", ".join(self.names)
        return join_list([t(f"field_{name}", lang) for name in self.names], lang)


def _rendered(params: dict, lang: str, page: bool = False) -> dict:
    """Parameters with a ``render`` written in ``lang`` (field names as the command line
    takes them unless ``page``)."""
    if page:
        return {k: v.render(lang) if hasattr(v, "render") else v for k, v in params.items()}
    return {k: (v.render(lang, page=False) if isinstance(v, FieldNames) else v.render(lang))
            if hasattr(v, "render") else v for k, v in params.items()}



class KamError(Exception):
    """A problem the user can fix; ``key`` and ``params`` render it in any language (a
    parameter with a ``render(lang)`` method, such as ``ReasonCounts``, in that language too)."""

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        from kam_analytics.i18n import t

        super().__init__(t(key, "en", **_rendered(params, "en")))

    def message(self, lang: str, page: bool = False) -> str:
        """The sentence in ``lang``; ``page``: as a web page says it — the ``<key>_page``
        wording where the catalog has one (its advice names the page's controls, never a
        command-line option), field names in words."""
        from kam_analytics.i18n import catalog, t

        key = f"{self.key}_page" if page and f"{self.key}_page" in catalog(lang) else self.key
        return t(key, lang, **_rendered(self.params, lang, page=page))


class IngestError(KamError):
    """A file that cannot be loaded; nothing in the store was changed."""


class StoreError(KamError):
    """The store cannot do what was asked (locked, unknown dataset, name taken …)."""


class EngineError(KamError):
    """The engine a dataset needs cannot be reached or cannot read its table."""
