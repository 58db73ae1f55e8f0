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
