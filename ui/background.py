"""Long computations the app runs once for every session: each in a thread of the app process,
started by the first page that asks, telling which step it is at.

A page that needs one shows its progress and then its result; a user who leaves the page
meanwhile does not stop it (the next visit, or another session, finds it further along or
done), and the rest of the app stays usable. Jobs are kept by key (the slice and the question,
so a new dataset version is a new job); a failed job is forgotten, so the next visit tries again.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import streamlit as st

KEEP_FINISHED = 16  # finished jobs kept for later visits (the oldest beyond that are dropped)


class Job:
    """``work(progress)`` running in a thread: ``fraction`` (0–1), ``step`` and ``params``
    (the catalog key of the step and its figures, as ``progress(fraction, step, **params)``
    last reported them), then ``result`` or ``error``."""

    def __init__(self, work: Callable):
        self.fraction, self.step, self.params = 0.0, None, {}
        self.result, self.error = None, None
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


def job(key, work: Callable) -> Job:
    """The job for ``key``: the one running or finished, else ``work`` started now. A job that
    failed is handed out once more (for the page to show why) and then forgotten."""
    jobs = _jobs()
    with jobs.lock:
        found = jobs.by_key.get(key)
        if found is not None:
            jobs.by_key.move_to_end(key)
            if found.done and found.error is not None:
                del jobs.by_key[key]
            return found
        started = jobs.by_key[key] = Job(work)
        finished = [k for k, j in jobs.by_key.items() if j.done]
        for old in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del jobs.by_key[old]
        return started
