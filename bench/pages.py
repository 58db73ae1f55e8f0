"""Speed where the user sits: every page timed in headless Chromium (Debian's), first visit
after the app starts and again, on generated exports of 1M and 10M lines; plus the ingest of
each export, whole command, against DuckDB's own read_csv of the same file (also a whole
Python command).

Usage: python bench/pages.py [--rows 1000000 10000000] [--shape realistic iso] [--no-ingest] [--no-prepare]
Writes bench/out/pages.md (the table) and prints one JSON line per measurement.

The app is started as ``make run`` starts it, so it prepares the opening pages of the data
loaded last as soon as it is up (``ui.prepare``) while the browser starts: *first* is a visitor
who comes at once, and the table says when the preparing finished (from the app's log).
``--no-prepare`` measures every first visit computing on its own (``KAM_NO_PREPARE=1``).

Shapes: 'realistic' — Chinese headers 订单编号/订单日期/客户编号/区域/销售额/利润, dates like
2022/01/01, two lines per order, one customer per 100 lines; 'iso' — English headers, ISO
dates, one line per order.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OUT = Path(__file__).resolve().parent / "out"
CHROMIUM = "/usr/bin/chromium"
PAGES = [("", "overview_title"), ("concentration", "concentration_title"), ("key_accounts", "key_accounts_title"),
         ("segments", "segments_title"), ("churn", "churn_title"), ("account", "account_title")]


def make_export(path: Path, rows: int, shape: str) -> Path:
    import duckdb

    if path.exists():
        return path
    customers = max(1, rows // 100)
    if shape == "realistic":
        sql = f"""COPY (SELECT 'SO' || lpad(CAST(i // 2 AS VARCHAR), 9, '0') AS "订单编号",
                   strftime(DATE '2022-01-01' + CAST((i // 2) % 1095 AS INTEGER), '%Y/%m/%d') AS "订单日期",
                   'K' || lpad(CAST(hash(i // 2) % {customers} AS VARCHAR), 6, '0') AS "客户编号",
                   ['华东', '华南', '华北', '华中', '西南', '西北', '东北'][1 + (i // 2) % 7] AS "区域",
                   round(50 + (hash(i) % 100000) / 10.0, 2) AS "销售额",
                   round((hash(i) % 100000) / 100.0 - 200, 2) AS "利润"
                   FROM range({rows}) t(i)) TO '{path}' (HEADER, DELIMITER ',')"""
    else:
        sql = f"""COPY (SELECT 'SO' || i AS order_id, DATE '2022-01-01' + CAST(i % 1095 AS INTEGER) AS order_date,
                   'C' || (hash(i) % {customers}) AS customer_id, ['East', 'South', 'North'][1 + i % 3] AS region,
                   round(50 + (hash(i) % 100000) / 10.0, 2) AS amount FROM range({rows}) t(i))
                   TO '{path}' (HEADER, DELIMITER ',')"""
    duckdb.connect().execute(sql)
    return path


def _timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, done


def bench_ingest(csv: Path, db: Path) -> dict:
    """Whole commands, Python start-up included on both sides. The store exists before the
    timed ingest, as for a scheduled refresh (a command that finds no store makes one and
    writes the demo into it first: about 1.6 s that has nothing to do with the file)."""
    subprocess.run([sys.executable, "-m", "kam_analytics", "--db", str(db), "datasets"], cwd=ROOT, check=True,
                   capture_output=True)
    baseline_db = db.with_name("baseline.duckdb")
    baseline_db.unlink(missing_ok=True)
    baseline, _ = _timed([sys.executable, "-c", f"import duckdb; duckdb.connect({str(baseline_db)!r}).execute("
                          f"\"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')\")"])
    ours, done = _timed([sys.executable, "-m", "kam_analytics", "--db", str(db), "ingest", str(csv), "--dataset", "bench",
                         "--replace"])
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    baseline_db.unlink(missing_ok=True)
    return {"ingest_s": round(ours, 1), "read_csv_s": round(baseline, 1), "ratio": round(ours / baseline, 2),
            "target_ratio": 1.5}


DONE_JS = """title => {
  const app = document.querySelector('.stApp'), h1 = document.querySelector('h1');
  const done = !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !!h1 && h1.innerText.trim() === title
    && !!document.querySelector('[data-testid="stMetric"], .js-plotly-plot, [data-testid="stEChartsChart"], [data-testid="stDataFrame"]')
    && !document.querySelector('[data-testid="stSpinner"], [data-testid="stStatusWidget"]');
  const now = performance.timeOrigin + performance.now();
  if (!done) { window.__kamDoneAt = 0; return false; }
  window.__kamDoneAt = window.__kamDoneAt || now;
  return now - window.__kamDoneAt >= 300 ? window.__kamDoneAt : false;
}"""
"""In the page, every 50 ms: Streamlit says its script is not running (and connected), the
page's title and its main figure (a metric, a chart or a table) are drawn, no spinner; once
that has held for 300 ms (a rerun would start within that), the moment (epoch ms) it was first
seen. The check runs inside the page (``wait_for_function``), so the harness costs the
machine one round trip per page, not one every 50 ms: with eight sessions on two cores a
harness polling from Python took CPU from the app and browsers it measured."""
PAGE_TIMEOUT_MS = 600_000
RESET_JS = "() => { window.__kamDoneAt = 0; }"  # before a page is timed: nothing seen finished yet
FETCH_ALL_JS = "files => Promise.all(files.map(f => fetch(f).then(r => r.arrayBuffer())))"


def _finished(page, title: str, since: float) -> float:
    """Seconds from ``since`` (``time.time()``) until the page has finished (``DONE_JS``)."""
    page.evaluate(RESET_JS)
    done_at = page.wait_for_function(DONE_JS, arg=title, polling=50, timeout=PAGE_TIMEOUT_MS).json_value()
    return round(done_at / 1000 - since, 2)


def static_files() -> list[str]:
    """The paths of every file of Streamlit's front end (hashed bundles, cached for a year)."""
    import streamlit

    static = Path(streamlit.__file__).parent / "static"
    return [f"/{path.relative_to(static).as_posix()}" for path in static.glob("static/**/*") if path.is_file()]


def keep_window_open(context) -> None:
    """Open a blank tab in ``context`` and leave it open, as the browser of someone who opens
    the app has a window already: each page is then timed in a new tab of that window. With
    no tab left open, every new tab opened a browser window of its own, and Chromium builds a
    window's toolbar with it (its address bar's suggestion list is a web page of its own, run
    in a renderer beside the app's: about 1 s of that renderer's main thread in a Chrome trace
    of one new tab), on the two cores the app and the page share: a new tab on the one-metric
    page took 1.11 s that way against 0.83 s with a tab kept open (median of seven, measured
    side by side, 2026-12-06)."""
    context.new_page().goto("about:blank")


def _warm_browser_cache(context, url: str) -> None:
    """Fetch every file of Streamlit's front end once, as a browser that opened the app
    before has them: the timings are then of the app, not of a first download of 25 MB of
    scripts (measured on its own: ``empty_cache_s``). The tab that fetched them stays open,
    blank (``keep_window_open``)."""
    page = context.new_page()
    page.goto(f"{url}/_stcore/health")
    page.evaluate(FETCH_ALL_JS, static_files())
    page.goto("about:blank")


def _visit(context, url: str, path: str, dataset_id: int, title: str) -> tuple[float, int]:
    """A new tab on the page: seconds until finished, and the errors it shows."""
    page = context.new_page()
    started = time.time()
    page.goto(f"{url}/{path}?lang=en&ds={dataset_id}", wait_until="commit")
    took = _finished(page, title, started)
    errors = page.locator('[data-testid="stException"]').count()
    page.close()
    return took, errors


def time_pages(url: str, dataset_id: int) -> tuple[list[dict], float]:
    """Each page, in a browser that has opened the app before (its scripts cached): first
    visit (a new tab: the app loads, the script runs on cold caches), again (another new tab:
    the app loads again, the script runs on warm caches) and switch (in a tab already showing
    another page, a click on this page's sidebar link). Also the overview again in a browser
    with an empty cache (the one-time cost of downloading the app's scripts)."""
    from playwright.sync_api import sync_playwright

    from kam_analytics.i18n import catalog

    words = catalog("en")
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        _warm_browser_cache(context, url)
        for number, (path, title_key) in enumerate(PAGES):
            row = {"page": path or "overview", "errors": 0}
            for visit in ("first_s", "again_s"):
                row[visit], errors = _visit(context, url, path, dataset_id, words[title_key])
                row["errors"] += errors
            # from the page before (the overview: from concentration), through the sidebar
            other_path, other_title = PAGES[number - 1] if number else PAGES[1]
            page = context.new_page()
            page.goto(f"{url}/{other_path}?lang=en&ds={dataset_id}", wait_until="commit")
            _finished(page, words[other_title], time.time())
            link = page.locator(f'[data-testid="stSidebarNav"] a[href="{url}/{path}"]')
            started = time.time()
            link.click()
            row["switch_s"] = _finished(page, words[title_key], started)
            row["errors"] += page.locator('[data-testid="stException"]').count()
            page.close()
            results.append(row)
        context.close()
        empty = browser.new_context(viewport={"width": 1300, "height": 1000})
        keep_window_open(empty)
        empty_cache_s, _ = _visit(empty, url, "", dataset_id, words["overview_title"])
        empty.close()
        browser.close()
    return results, empty_cache_s


FLOOR_APP = """import streamlit as st
st.set_page_config(layout="wide")
st.title("Overview")
st.metric("Revenue", "1")
"""


@contextmanager
def one_page_app(folder: Path, source: str):
    """``source`` written as ``folder``/app.py and served by plain ``streamlit run``, with a
    headless Chromium context that has Streamlit's front end cached: yields (context, url);
    the server and browser go at the end."""
    from conftest import free_port, healthy
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(source, encoding="utf-8")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                "--server.headless", "true", "--browser.gatherUsageStats", "false"], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not healthy(url):
            raise SystemExit(f"The Streamlit page in {folder} did not start within 90 s.")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1300, "height": 1000})
            _warm_browser_cache(context, url)
            yield context, url
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=60)


def streamlit_floor(tabs: int = 5) -> float:
    """The median of ``tabs`` new tabs on a page of a title and one metric, served by the same
    Streamlit, in a browser with its scripts cached: what a new tab costs before any page of
    the app adds to it (the floor under the *again* column)."""
    import statistics

    with one_page_app(OUT / "floor", FLOOR_APP) as (context, url):
        took = [_visit(context, url, "", 0, "Overview")[0] for _ in range(tabs)]  # (it ignores lang and ds)
    return round(statistics.median(took), 2)


def _peak_mb(pid: int) -> int:
    """The app process's peak resident memory so far (Linux: VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


def prepared_note(log: Path, started: float, dataset_id: int) -> str:
    """When the app finished preparing ``dataset_id`` (the log line of ``ui.prepare``), in
    seconds after ``started`` (time.time() when the app was started), with its parts."""
    import datetime as dt
    import re

    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        found = re.match(r"(\S+ \S+),(\d+) prepare: dataset (\d+) version \d+ prepared in ([\d.]+) s \((.*)\)", line)
        if found and int(found[3]) == dataset_id:
            at = dt.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S").timestamp() + int(found[2]) / 1000
            return f"done {at - started:.1f} s after the start ({found[4]} s; {found[5]})"
    return "not finished before the app stopped"


def main() -> int:
    from conftest import start_app
    from kam_analytics.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--shape", nargs="+", default=["realistic", "iso"])
    parser.add_argument("--no-prepare", action="store_true",
                        help="start the app with KAM_NO_PREPARE=1 (first visits compute on their own)")
    parser.add_argument("--no-ingest", action="store_true",
                        help="time the pages on the store an earlier run left (ingest columns: –)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    lines = ["| export | lines | ingest (whole command) | read_csv | ratio | " + " | ".join(
        f"{p or 'overview'} first / again / switch" for p, _ in PAGES)
             + " | overview, empty browser cache | app peak memory |",
             "|---" * (7 + len(PAGES)) + "|",
             "| target (10M) | | | | ≤ 1.5× | " + " | ".join(
                 f"≤ {15 if p == 'churn' else 3} / ≤ 1 / ≤ 1 s" for p, _ in PAGES) + " | – | ≤ 2,048 MB |"]
    prepared = []
    for shape in args.shape:
        for rows in args.rows:
            folder = OUT / "pages" / f"{shape}_{rows}"
            folder.mkdir(parents=True, exist_ok=True)
            csv = make_export(OUT / f"export_{shape}_{rows}.csv", rows, shape)
            db = folder / "kam.db"
            ingest = ({"ingest_s": "–", "read_csv_s": "–", "ratio": "–"} if args.no_ingest and db.exists()
                      else bench_ingest(csv, db))
            with Store.open(db) as store:
                dataset_id = store.dataset("bench").id
            started = time.time()
            url, process = start_app(db, folder / "app.log", demo=False, prepare=not args.no_prepare)
            try:
                pages, empty_cache_s = time_pages(url, dataset_id)
                peak_mb = _peak_mb(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=60)
            prepared.append(f"{shape} {rows:,}: " + (prepared_note(folder / "app.log", started, dataset_id)
                                                     if not args.no_prepare else "not prepared (--no-prepare)"))
            print(json.dumps({"benchmark": "pages", "shape": shape, "lines": rows, **ingest, "pages": pages,
                              "empty_cache_s": empty_cache_s, "app_peak_mb": peak_mb, "target_peak_mb": 2048},
                             ensure_ascii=False), flush=True)
            lines.append(f"| {shape} | {rows:,} | {ingest['ingest_s']} s | {ingest['read_csv_s']} s | {ingest['ratio']}{'×' if ingest['ratio'] != '–' else ''} | "
                         + " | ".join(f"{p['first_s']} / {p['again_s']} / {p['switch_s']} s" for p in pages)
                         + f" | {empty_cache_s} s | {peak_mb:,} MB |")
    lines.append("")
    lines.append("Prepared ahead (`ui.prepare`, seconds after the app was started): " + "; ".join(prepared) + ".")
    floor = streamlit_floor()
    print(json.dumps({"benchmark": "pages", "streamlit_floor_new_tab_s": floor}), flush=True)
    lines.append("")
    lines.append(f"A new tab on a page of a title and one metric, the same Streamlit and browser (the floor under "
                 f"*again*): {floor} s, the median of five.")
    (OUT / "pages.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
