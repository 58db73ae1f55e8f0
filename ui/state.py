"""The app-side frame shared by every page: the store, language, dataset, period and filters.

The sidebar widgets live in ``app.py``'s run (before ``st.navigation``), so their values persist
across pages; every selection is mirrored into the URL query string so a view can be shared.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import streamlit as st

from kam_analytics.errors import KamError
from kam_analytics.i18n import format_amount, format_exact, t
from kam_analytics.schema import DIMENSIONS
from kam_analytics.service import LEVELS
from ui.auth import account_box, identity
from ui.markdown import escape_markdown
from ui.session import (copy_from_widget, get_store, init_language, kept, labeller, lang, language_switch,  # noqa: F401
                        persistent, query_value, tr)


PRESETS = ("all", "last_12_months", "this_year", "last_year", "custom")
# Messages from one page to the next run: each has one key, written and read only here.
_OPEN_ACCOUNT = "_open_account"      # the account page opens this customer
_SELECT_DATASET = "_select_dataset"  # the sidebar selects this dataset (after a load)


def money(value) -> str:
    return format_amount(value, lang())


def exact_money(value) -> str:
    """The exact amount behind a rounded ``money`` (to the cent): for hovers and exports."""
    return format_exact(value)


def file_stem(view, what: str, as_of=None) -> str:
    """A download's file name (without extension): the dataset, the list (``what``, in the
    language), the filters in use and the date — '演示数据-流失预警-区域=华东+华南-2025-12-31'. A
    character a file system refuses becomes '_'."""
    parts = [view.dataset.name, what] + ([tr("by_group")] if view.by == "group" else [])
    if view.start is not None:
        parts.append(f"{view.start}~{view.end}")
    parts += [f"{tr('field_' + name)}={'+'.join(values)}" for name, values in sorted(view.dimensions.items()) if values]
    if view.identity is not None and view.identity.scope is not None:
        parts.append("+".join(view.identity.scope))
    if as_of is not None:
        parts.append(str(as_of))
    stem = "-".join(parts)
    return "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in stem)[:150]


def exact_help(key: str, value, **params) -> str:
    """A metric's help text ``key`` followed by the exact amount behind its rounded figure."""
    return tr(key, **params) + " " + tr("exact_value", value=exact_money(value))


@dataclass
class View:
    """What every page computes on: the dataset and the slice the sidebar selected."""

    store: object
    dataset: object | None
    lang: str
    start: dt.date | None = None
    end: dt.date | None = None
    dimensions: dict[str, list[str]] = field(default_factory=dict)
    identity: object = None  # access.Identity: who is looking (their scope limits every query)
    by: str = "customer"  # what an account is: a customer, or the group it belongs to (the sidebar's switch)

    @property
    def key(self):
        """The slice every query computes on, and its cache key (``service.Slice``), within
        the user's scope, at the sidebar's level (customers or groups)."""
        from kam_analytics.service import Slice

        scope = self.identity.scope if self.identity is not None else None
        return None if self.dataset is None else Slice.of(self.dataset, self.start, self.end, self.dimensions, scope,
                                                          by=self.by)

    @property
    def by_group(self) -> bool:
        return self.by == "group"

    def can(self, action: str) -> bool:
        """Whether the user's role allows ``action`` (to show its control; the service checks again)."""
        return self.identity is not None and self.identity.can(action)


def _preset_range(preset: str, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """Period presets relative to the data's last date (never 'today': data may be old)."""
    if preset == "last_12_months":
        return max(first, (last - dt.timedelta(days=364))), last
    if preset == "this_year":
        return max(first, dt.date(last.year, 1, 1)), last
    if preset == "last_year":
        return max(first, dt.date(last.year - 1, 1, 1)), min(last, dt.date(last.year - 1, 12, 31))
    return first, last


def dataset_dates(dataset) -> tuple[dt.date, dt.date]:
    """The first and last day the sidebar offers for ``dataset`` (its data's; today's for none)."""
    first = dataset.date_min.date() if dataset.date_min else dt.date(2000, 1, 1)
    last = dataset.date_max.date() if dataset.date_max else dt.date.today()
    return first, last


def default_slice(dataset):
    """The slice a new visitor's pages compute on for ``dataset``: what ``sidebar`` gives with
    the period 'all', no filter and no scope (``ui.prepare`` computes its pages ahead)."""
    from kam_analytics.service import Slice

    return Slice.of(dataset, *_preset_range("all", *dataset_dates(dataset)))


def _as_date(value, fallback: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return fallback


def sidebar() -> View:
    """Draw the shared sidebar and return the current view."""
    init_language()
    try:
        store = get_store()
    except KamError as error:  # e.g. the store file is locked by another program
        st.error(error.message(lang()))
        st.stop()
    me = identity()
    with st.sidebar:
        language_switch()
        account_box(lang())
        datasets = store.datasets()
        if not datasets:
            st.info(tr("sidebar_no_datasets"))
            view = View(store, None, lang(), identity=me)
            st.query_params["lang"] = lang()
            return view
        by_id = {d.id: d for d in datasets}
        pending = st.session_state.pop(_SELECT_DATASET, None)  # see ``select_dataset``
        if pending in by_id:
            st.session_state["dataset_id"] = pending
        if st.session_state.get("dataset_id") not in by_id:
            wanted = query_value("ds")
            st.session_state["dataset_id"] = int(wanted) if wanted and wanted.isdigit() and int(wanted) in by_id \
                else datasets[0].id
        persistent(st.selectbox, tr("sidebar_dataset"), list(by_id), "dataset_id", format_func=lambda i: by_id[i].name)
        dataset = by_id[st.session_state["dataset_id"]]
        if st.session_state.get("by") not in LEVELS:
            st.session_state["by"] = "group" if query_value("by") == "group" else "customer"
        by = persistent(st.radio, tr("sidebar_by"), list(LEVELS), "by", horizontal=True, format_func=labeller("by_"),
                        help=tr("sidebar_by_help"))
        if me.scope is not None and not _scope_has_owner(dataset):
            st.warning(tr("scope_no_owner"))
        first, last = dataset_dates(dataset)

        # the period: presets or custom dates; reset to the query string / defaults per dataset
        if st.session_state.get("_period_dataset") != dataset.id:
            st.session_state["_period_dataset"] = dataset.id
            preset = query_value("period", "all")
            st.session_state["period"] = preset if preset in PRESETS else "all"
            start = _as_date(query_value("start"), first)
            end = _as_date(query_value("end"), last)
            st.session_state["period_dates"] = (max(first, min(start, last)), min(last, max(end, first)))
        preset = persistent(st.selectbox, tr("sidebar_period"), PRESETS, "period", format_func=labeller("period_"))
        if preset == "custom":
            st.session_state["_w_period_dates"] = st.session_state["period_dates"]
            chosen = st.date_input(tr("sidebar_dates"), key="_w_period_dates", min_value=first, max_value=last,
                                   on_change=copy_from_widget, args=("period_dates",))
            start, end = (chosen if isinstance(chosen, (tuple, list)) and len(chosen) == 2 else (first, last))
        else:
            start, end = _preset_range(preset, first, last)
        st.caption(tr("sidebar_period_shown", start=start.isoformat(), end=end.isoformat()))

        dimensions = _filters(dataset, me.scope)
        _watch_for_updates(dataset.id, dataset.version)
    view = View(store, dataset, lang(), start, end, {k: v for k, v in dimensions.items() if v}, me, by)
    _mirror_to_url(view, preset)
    return view


def _filters(dataset, scope) -> dict[str, list[str]]:
    """The sidebar's filters (a multiselect per dimension the dataset has) in an expander,
    with a line under it counting those in use while it is closed. Their values live in the
    session (``persistent``) and apply whether it is open or not; the multiselects, and the
    values they offer, are made only while it is open: a new tab draws and computes no filter
    (about 0.1 s of the browser's time, and each dimension's distinct values on a page's
    first visit). A filter in the link opens it, so what the link asks for is checked against
    the values the user may see."""
    present = [d for d in DIMENSIONS if dataset.has(d)]
    if not present:
        return {}
    keys = {dim: f"filter_{dataset.id}_{dim}" for dim in present}
    if any(keys[dim] not in st.session_state and query_value(dim) for dim in present):
        st.session_state["_sidebar_filters"] = True  # a filter in the link, not yet read
    # (the label does not count the filters: it is part of the expander's identity, and a
    # changed label would close it; a change of language does close it, the filters stay)
    box = st.expander(tr("sidebar_filters"), key="_sidebar_filters", on_change="rerun")
    dimensions: dict[str, list[str]] = {}
    for dim in present:
        key = keys[dim]
        if box.open:
            options = _dimension_values(dataset, dim, scope)
            if key not in st.session_state:
                st.session_state[key] = [v for v in (query_value(dim) or "").split("|") if v in options]
            with box:
                dimensions[dim] = persistent(st.multiselect, tr(f"field_{dim}"), options, key,
                                              placeholder=tr("sidebar_all"))
        else:
            dimensions[dim] = st.session_state.setdefault(key, [])
    in_use = sum(1 for values in dimensions.values() if values)
    if in_use and not box.open:
        st.caption(tr("sidebar_filters_in_use", count=in_use))
    return dimensions


UPDATE_CHECK_SECONDS = 15


@st.fragment(run_every=UPDATE_CHECK_SECONDS)
def _watch_for_updates(dataset_id: int, shown_version: int) -> None:
    """Every few seconds, ask the catalog whether the dataset on screen has a newer version
    (a load from the CLI, another session or a scheduled job). The page keeps what it shows
    until the user asks for the new data; every later run shows it anyway. It also removes the
    uploads of sessions that ended (``uploads.sweep_uploads``)."""
    try:
        from ui.uploads import sweep_uploads

        sweep_uploads()
        current = get_store().dataset_by_id(dataset_id)
    except Exception as error:  # a fragment's rerun is not inside the page's catch-all
        from ui.errors import reference_for

        reference_for(error)  # logged; the sidebar check simply skips this round
        return
    if current is None or current.version == shown_version:
        return
    when = current.updated_at.strftime("%H:%M") if current.updated_at else "–"
    st.info(tr("data_updated", name=escape_markdown(current.name), time=when), icon=":material/refresh:")
    if st.button(tr("data_updated_show"), key="_show_updated_data"):
        st.rerun(scope="app")


@st.cache_data(show_spinner=False, max_entries=256)
def _dimension_values_cached(data_slice, dim: str) -> list[str]:
    from kam_analytics import service
    from kam_analytics.analytics.customers import dimension_values

    return dimension_values(service.order_lines(get_store(), data_slice), dim)


def _dimension_values(dataset, dim: str, scope) -> list[str]:
    """The values a filter offers: those of the lines the user may see."""
    from kam_analytics.service import Slice

    return _dimension_values_cached(Slice.of(dataset, scope=scope), dim)


@st.cache_data(show_spinner=False, max_entries=64)
def _scope_has_owner_cached(dataset_id: int, version: int) -> bool:
    from kam_analytics import service

    store = get_store()
    return service.scope_has_owner(store, store.dataset_by_id(dataset_id))


def _scope_has_owner(dataset) -> bool:
    return _scope_has_owner_cached(dataset.id, dataset.version)


def _mirror_to_url(view: View, preset: str) -> None:
    params = {"lang": view.lang}
    if view.dataset is not None:
        params["ds"] = str(view.dataset.id)
        params["period"] = preset
        if preset == "custom":
            params["start"], params["end"] = view.start.isoformat(), view.end.isoformat()
        for dim, values in view.dimensions.items():
            params[dim] = "|".join(values)
        if view.by_group:
            params["by"] = "group"
    keep = {k: v for k, v in st.query_params.to_dict().items() if k in ("account",)}
    if st.query_params.to_dict() != {**params, **keep}:
        st.query_params.from_dict({**params, **keep})


def frame(title_key: str) -> View:
    """Start a page: the shared sidebar, then the page title. Every page calls this first
    (the sidebar is drawn by the page, so it is there however the page was reached)."""
    view = sidebar()
    st.title(tr(title_key))
    return view


def open_account(customer_id: str) -> None:
    """Go to the account page for ``customer_id`` (every list and chart links here)."""
    st.session_state[_OPEN_ACCOUNT] = str(customer_id)
    st.switch_page("app_pages/account.py")


def by_key(key: str) -> str:
    """The catalog key of a sentence that counts accounts, at the sidebar's level: ``key`` by
    customer, ``key + '_group'`` by group (the sentence says the accounts are groups)."""
    return key + "_group" if st.session_state.get("by") == "group" else key


def open_group(group_id: str) -> None:
    """Count by group from now on and open the account page of ``group_id``."""
    st.session_state["by"] = "group"
    open_account(group_id)


def open_receivables() -> None:
    """Go to the receivables page, on the list of accounts getting worse."""
    st.session_state["recv_tab"] = tr("recv_tab_deterioration")  # (a tab is chosen by its label)
    st.switch_page("app_pages/receivables.py")


_OPEN_CHURN_LIST = "_open_churn_list"


def open_churn_list(listing: str, scope: str = "key", horizon: int = 90) -> None:
    """Go to the churn page showing ``listing`` ('at_risk' or 'lapsed') of ``scope`` ('key' or
    'all') over ``horizon`` days: the list a count on another page was made of."""
    st.session_state[_OPEN_CHURN_LIST] = (listing, scope, int(horizon))
    st.switch_page("app_pages/churn.py")


def churn_list_to_open() -> tuple[str, str, int] | None:
    """The list, scope and horizon ``open_churn_list`` asked the churn page to show (once), if any."""
    return st.session_state.pop(_OPEN_CHURN_LIST, None)


def account_to_open() -> str | None:
    """The customer ``open_account`` asked the account page to show (once), if any."""
    return st.session_state.pop(_OPEN_ACCOUNT, None)


def select_dataset(dataset_id: int) -> None:
    """Make ``dataset_id`` the sidebar's dataset from the next run on (after a load)."""
    st.session_state[_SELECT_DATASET] = dataset_id
