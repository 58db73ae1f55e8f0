"""Long computations the app runs once for every session: each in a thread of the app process,
started by the first page that asks, telling which step it is at.

A page that needs one shows its progress and then its result; a user who leaves the page
meanwhile does not stop it (the next visit, or another session, finds it further along or
done), and the rest of the app stays usable. Jobs are kept by key (the slice and the question,
so a new dataset version is a new job); a failed job is forgotten, so the next visit tries again.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable

import streamlit as st

KEEP_FINISHED = 16  # finished jobs kept for later visits (the oldest beyond that are dropped)
QUIET_S = 3.0  # work done ahead goes on once no page has run for this long (``give_way``): a
# new tab draws for about a second after its script, in a browser that may share the machine
LONGEST_PAUSE_S = 60.0  # ... or after this long, so that it ends even while pages never stop


class Job:
    """``work(progress)`` running in a thread: ``fraction`` (0–1), ``step`` and ``params``
    (the catalog key of the step and its figures, as ``progress(fraction, step, **params)``
    last reported them), then ``result`` or ``error``. A job started ``ahead`` (before any page
    asked, ``ui.prepare``) gives way to the pages at each step it reports (``give_way``) until
    a page asks for it."""

    def __init__(self, work: Callable, ahead: bool = False):
        self.fraction, self.step, self.params = 0.0, None, {}
        self.result, self.error = None, None
        self.wanted = threading.Event()  # a page asked for it: no more giving way
        if not ahead:
            self.wanted.set()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True, name="kam-job")
        self._thread.start()

    def _run(self, work) -> None:
        try:
            self.result = work(self._progress)
        except BaseException as failure:  # kept for the page to show (``wait``)
            self.error = failure
        finally:
            self._finished.set()

    def _progress(self, fraction: float, step: str, **params) -> None:
        self.fraction, self.step, self.params = float(fraction), step, params
        if not self.wanted.is_set():  # started ahead and no page waits for it yet
            give_way(self.wanted)

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: until done); whether it is done."""
        return self._finished.wait(timeout)

    def value(self):
        """The result once done (raising the job's own failure if it failed)."""
        self._finished.wait()
        if self.error is not None:
            raise self.error
        return self.result


class _Jobs:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_key: OrderedDict = OrderedDict()


@st.cache_resource(show_spinner=False)
def _jobs() -> _Jobs:
    return _Jobs()


def job(key, work: Callable, ahead: bool = False) -> Job:
    """The job for ``key``: the one running or finished, else ``work`` started now. A job that
    failed is handed out once more (for the page to show why) and then forgotten. ``ahead``:
    asked for by no page yet (see ``Job``); a page's asking ends the giving way."""
    jobs = _jobs()
    with jobs.lock:
        found = jobs.by_key.get(key)
        if found is not None:
            if not ahead:
                found.wanted.set()
            jobs.by_key.move_to_end(key)
            if found.done and found.error is not None:
                del jobs.by_key[key]
            return found
        started = jobs.by_key[key] = Job(work, ahead)
        finished = [k for k, j in jobs.by_key.items() if j.done]
        for old in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del jobs.by_key[old]
        return started


class _Activity:
    """The page runs in progress in this process (``page_run``) and when the last one ended."""

    def __init__(self):
        self.changed = threading.Condition()
        self.running = 0
        self.last_end = 0.0


_activity = _Activity()


@contextmanager
def page_run():
    """Around every page's run (``app.py``): work done ahead waits while one is in progress."""
    with _activity.changed:
        _activity.running += 1
    try:
        yield
    finally:
        with _activity.changed:
            _activity.running -= 1
            _activity.last_end = time.monotonic()
            _activity.changed.notify_all()


def give_way(until: threading.Event | None = None, quiet_s: float = QUIET_S,
             longest_s: float = LONGEST_PAUSE_S) -> float:
    """Wait until no page has run for ``quiet_s`` (on two cores, work done ahead would
    otherwise slow the page of whoever is clicking), until ``until`` is set, or ``longest_s``
    at most; the seconds waited."""
    started = time.monotonic()
    with _activity.changed:
        while until is None or not until.is_set():
            now = time.monotonic()
            if now - started >= longest_s or (_activity.running == 0 and now - _activity.last_end >= quiet_s):
                break
            _activity.changed.wait(timeout=0.1)
    return time.monotonic() - started
