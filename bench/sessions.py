"""Throughput under load: N concurrent headless Chromium sessions (Debian's chromium) walk
overview → concentration → key accounts → churn on one app process, on the demo and on a
1,000,000-line dataset; the median and worst page time per N.

Usage: python bench/sessions.py [--sessions 1 4 8] [--rows 1000000]
Each session is a process of its own (Playwright's sync API is per thread) with the app open
on the overview; when all have it open they walk through the sidebar together. A page's time
runs from the click until it has finished (Streamlit's run state, its title and main figure
drawn), as a user waits for it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OUT = Path(__file__).resolve().parent / "out"
PAGES = ["", "concentration", "key_accounts", "churn"]
TITLES = {"": "overview_title", "concentration": "concentration_title", "key_accounts": "key_accounts_title",
          "churn": "churn_title"}
CHROMIUM = "/usr/bin/chromium"


def _walk(url: str, dataset_id: int, ready, queue) -> None:
    """Open the app on the overview (not timed: the browser starting and loading the app's
    front end, from its cache as for anyone who used the app before), wait until every
    session has, then go page to page through the sidebar at the same moment as the others:
    concentration → key accounts → churn → overview. Each page is timed from the click until
    it has finished (``pages._finished``: Streamlit's run state, the title and main figure)."""
    from pages import _finished, _warm_browser_cache
    from playwright.sync_api import sync_playwright

    from kam_analytics.i18n import catalog

    words = catalog("en")
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        _warm_browser_cache(context, url)
        page = context.new_page()
        page.goto(f"{url}/?lang=en&ds={dataset_id}", wait_until="commit")
        _finished(page, words["overview_title"], time.perf_counter())
        ready.wait()
        for path in [*PAGES[1:], PAGES[0]]:
            title = words[TITLES[path]]
            started = time.perf_counter()
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            took = _finished(page, title, started)
            errors = page.locator('[data-testid="stException"]').count()
            times.append((path or "overview", took, errors))
        browser.close()
    queue.put(times)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(url: str, dataset_id: int, sessions: int, server_pid: int | None = None) -> dict:
    queue, ready = mp.Queue(), mp.Barrier(sessions + 1)
    workers = [mp.Process(target=_walk, args=(url, dataset_id, ready, queue)) for _ in range(sessions)]
    for w in workers:
        w.start()
    ready.wait(timeout=1800)  # every session has the app open: the walks start together
    cpu_before, wall_before = (_cpu_seconds(server_pid) if server_pid else 0.0), time.perf_counter()
    results = [queue.get(timeout=1800) for _ in workers]
    for w in workers:
        w.join()
    server_cpu = (_cpu_seconds(server_pid) - cpu_before) if server_pid else None
    wall = time.perf_counter() - wall_before
    times = [t for walk in results for _, t, _ in walk]
    errors = sum(e for walk in results for _, _, e in walk)
    by_page = {page: round(max(t for walk in results for p, t, _ in walk if p == page), 2)
               for page in ["overview", *PAGES[1:]]}
    return {"sessions": sessions, "median_s": round(statistics.median(times), 2), "worst_s": round(max(times), 2),
            "worst_by_page_s": by_page, "errors": errors, "wall_s": round(wall, 1),
            "server_cpu_s": round(server_cpu, 1) if server_cpu is not None else None}


def main() -> int:
    from conftest import big_orders_csv, run_cli, start_app
    from kam_analytics.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    db = OUT / "sessions" / "kam.db"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        run_cli("datasets", db=db, env={"KAM_NO_DEMO": ""})
        csv = big_orders_csv(db.parent / f"orders_{args.rows}.csv", args.rows)
        loaded = run_cli("ingest", csv, "--dataset", "big", db=db)
        if loaded.returncode != 0:
            print(loaded.stderr, file=sys.stderr)
            return 1
    with Store.open(db) as store:
        datasets = {d.name: d.id for d in store.datasets()}
    url, process = start_app(db, db.parent / "app.log")
    try:
        for name, label in (("演示数据 Demo", "demo"), ("big", f"{args.rows:,} lines")):
            # one walk first: the measured ones find the results cached, as every user after
            # the first does (the first pays for the computing, which the other benchmarks time)
            run(url, datasets[name], 1)
            single = None
            for n in args.sessions:
                result = run(url, datasets[name], n, process.pid)
                single = result["worst_s"] if n == 1 else single
                result.update(benchmark="sessions", dataset=label)
                if single and n > 1:
                    result["worst_vs_single"] = round(result["worst_s"] / single, 2)
                if n == 8 and label == "demo":
                    result["target"] = "worst page with 8 sessions within 3x the single-session worst"
                print(json.dumps(result, ensure_ascii=False), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
