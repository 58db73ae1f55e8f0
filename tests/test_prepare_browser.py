"""The app prepares the opening pages of the data loaded last, and of the sidebar's first
dataset, before anyone asks (``ui.prepare``): at its start, and after a load from the command
line while it runs. Seen in a real Chromium: a churn page that finds its scores prepared never
shows the progress bar of the computation; one on a dataset that was not prepared does."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import require_chromium, run_cli, settle, start_app
from kam_analytics.i18n import catalog
from kam_analytics.store import Store
from ui import prepare

pytestmark = pytest.mark.browser

require_chromium("browser tests")
from playwright.sync_api import expect  # noqa: E402

# records whether a progress bar was ever on the page (installed before the page's own scripts)
SEEN_PROGRESS = """window.__progressSeen = false;
new MutationObserver(() => {
  if (document.querySelector('[data-testid="stProgress"]')) window.__progressSeen = true;
}).observe(document, {subtree: true, childList: true});"""


def _dataset_id(db: Path, name: str) -> tuple[int, int]:
    with Store.open(db) as store:
        dataset = store.dataset(name)
        return dataset.id, dataset.version


def _wait_prepared(log: Path, dataset: tuple[int, int], seconds: float = 180) -> str:
    """The log line of ``ui.prepare`` for (id, version), waiting for it up to ``seconds``."""
    pattern = re.compile(rf"prepare: dataset {dataset[0]} version {dataset[1]} prepared in .*")
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = pattern.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"dataset {dataset} was not prepared within {seconds} s; see {log}")


def _churn_page(browser, url: str, dataset_id: int, lang: str) -> bool:
    """Open the churn page of ``dataset_id`` in a new tab until its list is drawn; whether a
    progress bar showed on the way."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(SEEN_PROGRESS)
    page.goto(f"{url}/churn?lang={lang}&ds={dataset_id}")
    expect(page.locator("h1").first).to_have_text(catalog(lang)["churn_title"], timeout=90_000)
    settle(page, timeout=180_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=60_000)
    seen = page.evaluate("window.__progressSeen")
    page.close()
    return seen


def test_the_app_prepares_the_newest_data_at_start_and_after_a_load(browser, shared_dataset, tmp_path):
    db = tmp_path / "kam.db"
    source = shared_dataset("superstore.csv")
    for name in ("first", "middle", "newest"):  # loaded before the start, in this order
        loaded = run_cli("ingest", source, "--dataset", name, db=db)
        assert loaded.returncode == 0, loaded.stderr
    first, middle, newest = (_dataset_id(db, name) for name in ("first", "middle", "newest"))
    log = tmp_path / "app.log"
    url, process = start_app(db, log, demo=False, prepare=True)
    try:
        line = _wait_prepared(log, newest)  # the one loaded last, then the sidebar's first
        assert all(f"{part} " in line for part in ("overview", "concentration", "segments", "churn"))
        assert _churn_page(browser, url, newest[0], "zh") is False  # found computed
        _wait_prepared(log, first)
        assert _churn_page(browser, url, first[0], "en") is False
        assert _churn_page(browser, url, middle[0], "en") is True  # neither: computed on the visit
        loaded = run_cli("ingest", source, "--dataset", "while running", db=db)
        assert loaded.returncode == 0, loaded.stderr
        latest = _dataset_id(db, "while running")
        _wait_prepared(log, latest, seconds=prepare.LOOK_EVERY_S + 180)
        assert _churn_page(browser, url, latest[0], "en") is False
    finally:
        process.terminate()
        process.wait(timeout=30)
