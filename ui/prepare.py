"""The opening pages of the newest data prepared before anyone asks: when the app starts, and
after each load, a thread of the app process computes into the shared caches what the pages
first show (all of the period, no filter, no scope) on the dataset loaded last and on the one a
new tab opens on (``to_prepare``) — the overview, then concentration, segments, and the churn
scores with what their list needs. After the overview it gives way to the pages being run (on
two cores it would slow whoever is clicking), going on once no page has run for three seconds
(``background.QUIET_S``). A visitor who comes while it runs waits for the part under way
rather than computing it again (each cache computes a value once); one who comes later finds
every page computed.

``KAM_NO_PREPARE=1`` turns it off (each page then computes on its first visit). Datasets
attached on Spark are not prepared: a cluster job at every start is not for the app to decide.
"""
from __future__ import annotations

import atexit
import logging
import sys
import threading
import time

LOOK_EVERY_S = 20.0  # how often the catalog is read for a new dataset version (one small query)

log = logging.getLogger("kam_analytics.prepare")
_stop = threading.Event()  # set when the process exits (``start``): the thread then ends


def steps(key, end) -> list[tuple[str, object]]:
    """The parts prepared, in order, as (name, function of no arguments): the overview's
    figures first (the page a new tab opens on), churn last (it takes longest)."""
    from kam_analytics.analytics import churn
    from ui import queries

    return [
        ("overview", lambda: (queries.headline(key, end), queries.default_scorecard(key, end),
                              queries.key_account_outlook(key, end), queries.attention(key, end),
                              queries.periods(key, "month"), queries.customer_summary(key))),
        ("concentration", lambda: queries.ranked_customers(key, "revenue")),
        ("segments", lambda: queries.rfm_scores(key, end)),
        ("churn", lambda: (queries.churn_job(key, end, churn.HORIZON_DAYS, ahead=True).value(),
                           queries.churn_list_inputs(key, end, "key"))),
    ]


def prepare(dataset) -> dict[str, float]:
    """Compute the opening pages of ``dataset`` (``steps``) into the caches; seconds per step
    (from its start, after giving way to the pages running: ``background.give_way``; the
    churn job gives way at each of its steps too, until a page asks for it)."""
    from ui.background import give_way
    from ui.state import default_slice

    key = default_slice(dataset)
    took = {}
    for number, (name, work) in enumerate(steps(key, key.end)):
        if number:  # (the overview at once: a visitor who comes now waits for it)
            give_way()
        started = time.perf_counter()
        work()
        took[name] = round(time.perf_counter() - started, 2)
    return took


def to_prepare(datasets: list) -> list:
    """Of the catalog's datasets (in the sidebar's order), those worth preparing, in order: the
    one loaded or replaced last (what people come to look at after a load), then the sidebar's
    first (what a new tab opens on); only datasets stored here (DuckDB)."""
    local = [d for d in datasets if d.engine == "duckdb"]
    if not local:
        return []
    newest = max(local, key=lambda d: (d.updated_at is not None, d.updated_at or 0, d.id))
    return [newest] + [d for d in local[:1] if d.id != newest.id]


def _watch() -> None:
    """Wait for Streamlit's runtime (the caches live in it), then prepare each dataset of
    ``to_prepare`` whose (id, version) is not prepared yet, and look again every
    ``LOOK_EVERY_S``. A failure is logged, with its traceback, and that version is not tried
    again."""
    from streamlit import runtime

    while not runtime.exists() and not _stop.is_set():
        time.sleep(0.05)
    from ui.state import get_store  # (after the runtime: its caches are the runtime's)

    done: set[tuple[int, int]] = set()
    while not _stop.is_set():
        try:
            for dataset in to_prepare(get_store().datasets()):
                if (dataset.id, dataset.version) in done or _stop.is_set():
                    continue
                done.add((dataset.id, dataset.version))
                started = time.perf_counter()
                took = prepare(dataset)
                log.info("dataset %s version %s prepared in %.2f s (%s)", dataset.id, dataset.version,
                         time.perf_counter() - started, ", ".join(f"{k} {v} s" for k, v in took.items()))
        except Exception as error:  # logged with a reference; the pages compute on their own
            from ui.errors import reference_for

            reference_for(error)
        _stop.wait(LOOK_EVERY_S)


def start() -> threading.Thread | None:
    """Start the preparing thread (a daemon: it ends with the app), unless ``KAM_NO_PREPARE``."""
    from kam_analytics.config import flags

    if flags().no_prepare:
        return None
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s prepare: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    thread = threading.Thread(target=_watch, daemon=True, name="kam-prepare")
    thread.start()
    atexit.register(_end, thread)
    return thread


def _end(thread: threading.Thread) -> None:
    """At exit: let the thread end between two steps (a second at most), so that what it holds
    is released before the interpreter goes (a daemon thread frozen at exit keeps DuckDB's
    objects, which then report themselves as leaked)."""
    _stop.set()
    thread.join(timeout=1.0)
