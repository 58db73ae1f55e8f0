"""Shared fixtures: a fresh store file per test, a CLI runner, paths to the shared datasets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# a catalog key missing in a language, or a placeholder left unfilled, raises in every test
# (and in the app and CLI processes the tests start) instead of showing the bare key
os.environ["KAM_STRICT_I18N"] = "1"
# one OpenMP thread for the churn model's trees, in the tests and the app and CLI processes they
# start: three test workers on two cores already keep both busy, and OpenMP's threads then wait
# on each other (a fit of 4,000 rows with the suite running: 3.9 s with a thread per core, 0.97 s
# with one; the same trees either way)
os.environ.setdefault("OMP_NUM_THREADS", "1")
DATASETS = ROOT.parent / "shared" / "datasets"


# The test files that take longest, longest first: with the tests on two workers a file to a
# worker (make test: -n 3 --dist loadfile), the long files are handed out first and the short
# ones fill in behind them, so no worker is left alone with a long file at the end.
LONGEST_FIRST = [  # (seconds a file took in a fresh clone's make test of 2026-12-08, three workers)
    "test_spark.py", "test_app.py", "test_browser.py", "test_browser_flows.py", "test_auth_browser.py",  # 744 680 601 524 370
    "test_shared_browser.py", "test_spark_browser.py", "test_hostile_browser.py", "test_one_truth.py",  # 325 227 178 175
    "test_prepare_browser.py", "test_costs.py", "test_churn.py", "test_shared_use.py", "test_report.py",  # 169 168 158 147 121
    "test_pieces_browser.py", "test_reviews.py", "test_groups_browser.py", "test_spark_connect.py",  # 116 115 109 95
    "test_ingest_property.py", "test_receivables.py", "test_order_table.py", "test_alerts.py"]  # 85 85 76 72


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # (stable: a file's tests keep their order)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the run's own process: one demo template for all its workers
        import tempfile

        os.environ["KAM_TEST_DEMO_ROOT"] = tempfile.mkdtemp(prefix="kam-demo-")
    config.addinivalue_line("markers", "browser: drives a real Chromium through Playwright")
    config.addinivalue_line("markers", "slow: large generated files (CI runs them too)")
    config.addinivalue_line("markers", "spark: a local Spark session (one per test run; needs Java 17)")


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        import shutil

        shutil.rmtree(os.environ.pop("KAM_TEST_DEMO_ROOT", ""), ignore_errors=True)


@pytest.fixture
def store(tmp_path):
    from kam_analytics.store import Store

    s = Store.open(tmp_path / "kam.duckdb")
    yield s
    s.close()


@pytest.fixture
def shared_dataset():
    def get(name: str) -> Path:
        path = DATASETS / name
        if not path.exists():
            pytest.skip(f"shared dataset {path} is absent (the ../shared/datasets folder is not beside the project)")
        return path
    return get


def run_cli(*args, db: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KAM_NO_DEMO": "1", **(env or {})}
    full_env.pop("KAM_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "kam_analytics", "--db", str(db), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=timeout)


@pytest.fixture
def cli(tmp_path):
    db = tmp_path / "cli.duckdb"

    def call(*args, **kwargs):
        return run_cli(*args, db=db, **kwargs)
    call.db = db
    return call


def start_cli(*args, db: Path, env: dict | None = None) -> subprocess.Popen:
    """A CLI command running in the background (stdout and stderr captured)."""
    full_env = {**os.environ, "KAM_NO_DEMO": "1", **(env or {})}
    full_env.pop("KAM_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "kam_analytics", "--db", str(db), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=full_env)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_template() -> Path:
    """A store seeded with the demo once per test run (``demo.seed_store``: 55,092 generated
    lines loaded, with the costs file), shared by the test workers: seeding takes 8-15 s of a
    2-core machine each time, and a dozen servers and fixtures need the demo as a new store
    has it. Built under a lock by the first worker that asks; tests/test_demo.py seeds for real."""
    import fcntl

    from kam_analytics import demo
    from kam_analytics.store import Store

    root = Path(os.environ["KAM_TEST_DEMO_ROOT"])  # (made by ``pytest_configure``, removed after the run)
    template = root / "demo.db"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = root / "building.db"
            with Store.open(building) as store:
                demo.seed_store(store)
            folder_of = lambda p: p.with_name(f"{p.stem}-datasets")  # noqa: E731 (``store.folder_of``)
            folder_of(building).rename(folder_of(template))
            building.rename(template)
    return template


def demo_copy(db: Path) -> Path:
    """A new store at ``db`` holding the demo dataset exactly as seeding a new store makes it
    (a copy of ``_demo_template``: the catalog and its folder of dataset files)."""
    import shutil

    from kam_analytics.store import folder_of

    template = _demo_template()
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder_of(template), folder_of(db))
    shutil.copy2(template, db)
    for suffix in ("-wal", "-shm"):  # (the catalog's write-ahead log, if a connection left one)
        if template.with_name(template.name + suffix).exists():
            shutil.copy2(template.with_name(template.name + suffix), db.with_name(db.name + suffix))
    return db


def start_app(db: Path, log: Path, demo: bool = True, options: tuple = (), prepare: bool = False):
    """The app as ``make run`` starts it (``python -m ui.serve``: ``streamlit run app.py`` after
    the imports) on a free port over the store ``db`` (with more Streamlit
    ``options``, such as a secrets file); returns (url, process) once the health endpoint
    answers. The caller terminates the process. Without ``prepare`` the app does not compute
    the opening pages ahead (``ui.prepare``): each test's pages compute when it asks. With
    ``demo`` a store not there yet starts as a new store seeded with the demo (``demo_copy``)."""
    port = free_port()
    if "--secrets.files" not in map(str, options):  # not the project's own (a developer may have one)
        options = (*options, "--secrets.files", log.with_suffix(".no-secrets.toml"))
    env = {**os.environ, "KAM_DB": str(db)}
    env.pop("KAM_LANG", None)
    if prepare:
        env.pop("KAM_NO_PREPARE", None)
    else:
        env["KAM_NO_PREPARE"] = "1"
    if demo:
        env.pop("KAM_NO_DEMO", None)
        if not db.exists():
            demo_copy(db)
    else:
        env["KAM_NO_DEMO"] = "1"
    out = open(log, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", *map(str, options)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if healthy(url):
        return url, process
    process.kill()
    pytest.fail(f"streamlit did not start; see {log}")


def healthy(url: str, seconds: float = 90) -> bool:
    """Whether the Streamlit server at ``url`` answers its health endpoint within ``seconds``."""
    import time
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return True
        except OSError:
            time.sleep(0.5)
    return False


def big_orders_csv(path: Path, rows: int, customers: int = 5000, amount: str = "i % 997") -> Path:
    """A generated CSV of ``rows`` one-line orders (order_id, customer_id, order_date, amount)."""
    import duckdb

    duckdb.connect().execute(
        f"""COPY (SELECT 'SO' || i AS order_id, 'C' || (i % {customers}) AS customer_id,
                   DATE '2023-01-01' + CAST(i % 700 AS INTEGER) AS order_date, ({amount}) + 0.5 AS amount
            FROM range({rows}) t(i)) TO '{path}' (HEADER, DELIMITER ',')""")
    return path


CHROMIUM = "/usr/bin/chromium"  # Debian's package (Playwright's own browser cannot be downloaded here)
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def require_chromium(tests: str) -> None:
    """At the top of a browser test module: skip it, saying why, when Debian's Chromium or
    Playwright is missing (``make browser``; ``.ci/run`` installs both)."""
    from pathlib import Path as _Path

    if not _Path(CHROMIUM).exists():
        print(f"\n{tests} skipped: {CHROMIUM} is absent (apt-get install chromium chromium-driver, or `make browser`)")
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (make browser)", allow_module_level=True)
    try:
        from playwright.sync_api import expect
    except ImportError:  # pragma: no cover - the dev requirements install it
        pytest.skip("playwright is not installed (make dev)", allow_module_level=True)
    # an assertion on the page waits up to 30 s for it to come true (Playwright's own 5 s): a
    # rerun of the app under a full suite on two cores took longer than 5 s (the CI run of
    # 2026-12-07 failed on a metric that was on the page a moment later)
    expect.set_options(timeout=30_000)


class OneWindow:
    """The tests' browser: ``new_page()`` opens a tab in one window kept open by a blank tab,
    as a person's browser has a window already. A page opened in a context of its own got a
    window of its own, and Chromium builds each window's toolbar (its address bar's suggestion
    list is a page of its own): about 1 s of CPU a page on the two cores the app, the browser
    and the other test worker share (``bench/pages.keep_window_open`` measured it). A page
    asked for with options of its own (a locale, downloads refused …) still gets its own
    context; ``new_context`` and everything else are Playwright's own."""

    def __init__(self, chromium):
        self.chromium = chromium
        self.window = chromium.new_context(accept_downloads=True)
        self.window.new_page().goto("about:blank")

    def new_page(self, viewport: dict | None = None, **options):
        if options:
            return self.chromium.new_page(viewport=viewport, **options)
        page = self.window.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        return page

    def __getattr__(self, name):
        return getattr(self.chromium, name)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Playwright, one per test module (browser tests only), its
    pages tabs of one window (``OneWindow``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield OneWindow(chromium)
        chromium.close()


_IDLE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app !== null && app.dataset.testConnectionState === 'CONNECTED'
        && app.dataset.testScriptState === 'notRunning'
        && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


def settle(page, timeout: int = 60_000) -> None:
    """Wait until Streamlit has finished the script run: the app's own state says connected and
    not running (nor a rerun requested, which a click sets at once), no 'running' indicator,
    and that still holds a moment later (a run a callback or the URL asks for starts then)."""
    page.wait_for_load_state("networkidle")
    for _ in range(2):
        page.wait_for_function(_IDLE, timeout=timeout)
        page.wait_for_timeout(250)
    page.wait_for_function(_IDLE, timeout=timeout)
