"""The app's background jobs (``ui.background``): shared by key, telling their step, failures
handed out once and then retried."""
import threading

import pytest

from ui import background


def test_a_job_tells_its_step_and_is_shared_by_key():
    go = threading.Event()

    def work(progress):
        progress(0.25, "churn_step_snapshots", done=1, total=4)
        go.wait(10)
        return 42

    key = ("test", "shared", object())
    first = background.job(key, work)
    assert background.job(key, lambda progress: 0) is first  # the second asker gets the running one
    for _ in range(100):
        if first.step:
            break
        first.wait(0.01)
    assert (first.fraction, first.step, first.params, first.done) == (0.25, "churn_step_snapshots",
                                                                      {"done": 1, "total": 4}, False)
    go.set()
    assert first.value() == 42 and first.done
    assert background.job(key, lambda progress: 0).value() == 42  # done: kept for later visits


def test_a_failed_job_is_shown_once_then_tried_again():
    key = ("test", "fails", object())
    failed = background.job(key, lambda progress: 1 / 0)
    failed.wait(10)
    assert background.job(key, lambda progress: 7) is failed  # the page that asks shows why …
    with pytest.raises(ZeroDivisionError):
        failed.value()
    retried = background.job(key, lambda progress: 7)  # … and the next visit starts again
    assert retried is not failed and retried.value() == 7


def _page(opened: threading.Event, close: threading.Event):
    """A page run in another thread: in progress from ``opened`` until ``close``."""
    def run():
        with background.page_run():
            opened.set()
            close.wait(10)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_work_ahead_waits_for_the_pages_to_be_quiet():
    import time

    opened, close = threading.Event(), threading.Event()
    thread = _page(opened, close)
    opened.wait(5)
    threading.Timer(0.3, close.set).start()  # the page ends 0.3 s from now
    started = time.monotonic()
    waited = background.give_way(quiet_s=0.2, longest_s=5)
    ended = time.monotonic() - started
    thread.join(5)
    assert 0.5 <= ended < 2.0 and abs(waited - ended) < 0.05  # 0.3 s of the page + 0.2 s quiet
    # quiet already (the page ended more than 0.2 s ago: after a pause, no wait)
    time.sleep(0.25)
    assert background.give_way(quiet_s=0.2, longest_s=5) < 0.05
    # a page that never ends: the wait ends at longest_s; an event set ends it at once
    opened, close = threading.Event(), threading.Event()
    thread = _page(opened, close)
    opened.wait(5)
    assert 0.3 <= background.give_way(quiet_s=0.1, longest_s=0.3) < 1.0
    wanted = threading.Event()
    wanted.set()
    assert background.give_way(wanted, quiet_s=0.1, longest_s=5) < 0.05
    close.set()
    thread.join(5)


def test_a_job_started_ahead_gives_way_until_a_page_asks_for_it():
    reached = []

    def work(progress):
        for step in range(3):
            progress(step / 3, "churn_step_snapshots", done=step + 1, total=3)
            reached.append(step)
        return "scores"

    opened, close = threading.Event(), threading.Event()
    thread = _page(opened, close)  # someone is on a page the whole time
    opened.wait(5)
    key = ("test", "ahead", object())
    ahead = background.job(key, work, ahead=True)
    assert not ahead.wait(0.5) and reached == []  # paused at its first step while the page runs
    assert background.job(key, lambda progress: None, ahead=True) is ahead and not ahead.wait(0.3)
    assert background.job(key, lambda progress: None) is ahead  # a page asks: no more giving way
    assert ahead.value() == "scores" and reached == [0, 1, 2]
    close.set()
    thread.join(5)
    # a job a page started never gives way
    opened, close = threading.Event(), threading.Event()
    thread = _page(opened, close)
    opened.wait(5)
    assert background.job(("test", "asked", object()), work).value() == "scores"
    close.set()
    thread.join(5)
