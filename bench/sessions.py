"""Throughput under load: N concurrent sessions in headless Chromium (Debian's) walk
overview → concentration → key accounts → churn on one app process, on the demo and on a
1,000,000-line dataset; the median and worst page time per N.

Usage: python bench/sessions.py [--sessions 1 4 8] [--rows 1000000] [--datasets demo big]
Each session is a browser context of its own (its own cookies and connection: a Streamlit
session of its own, as another person's browser would be) in one Chromium, driven from one
process; each has the app open on the overview, and when all have it open they walk through
the sidebar together. A page's time runs from the click until it has finished (Streamlit's
run state, its title and main figure drawn; ``pages.DONE_JS``, checked inside the page), as a
user waits for it. The app, the browser and this harness share the machine's cores: the CPU
each used during the walk is reported beside the times.
"""
from __future__ import annotations

import argparse
import asyncio
import json
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
VIEWPORT = {"width": 1300, "height": 1000}


async def _finished(page, title: str, since: float) -> float:
    """``pages._finished`` for Playwright's async API."""
    from pages import DONE_JS, PAGE_TIMEOUT_MS, RESET_JS

    await page.evaluate(RESET_JS)
    handle = await page.wait_for_function(DONE_JS, arg=title, polling=50, timeout=PAGE_TIMEOUT_MS)
    return round(await handle.json_value() / 1000 - since, 2)


async def _open(browser, url: str, dataset_id: int, words: dict):
    """A session with the app open on the overview (not timed: its front end from the
    browser's cache, as for anyone who used the app before)."""
    from pages import FETCH_ALL_JS, static_files

    context = await browser.new_context(viewport=VIEWPORT)
    warm = await context.new_page()
    await warm.goto(f"{url}/_stcore/health")
    await warm.evaluate(FETCH_ALL_JS, static_files())
    await warm.close()
    page = await context.new_page()
    await page.goto(f"{url}/?lang=en&ds={dataset_id}", wait_until="commit")
    await _finished(page, words["overview_title"], time.time())
    return context, page


async def _walk(page, words: dict, go: asyncio.Event) -> list[tuple[str, float, int]]:
    """Once ``go`` is set: concentration → key accounts → churn → overview through the
    sidebar, each page timed from the click until it has finished."""
    await go.wait()
    times = []
    for path in [*PAGES[1:], PAGES[0]]:
        title = words[TITLES[path]]
        started = time.time()
        await page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
        took = await _finished(page, title, started)
        errors = await page.locator('[data-testid="stException"]').count()
        times.append((path or "overview", took, errors))
    return times


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu_seconds() -> float:
    """CPU time every core of the machine spent busy so far (Linux /proc/stat: all but idle
    and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and every process below it that is still running."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += _cpu_seconds(current)
        except OSError:
            continue
        todo += children.get(current, [])
    return total


async def _run(url: str, dataset_id: int, sessions: int, server_pid: int | None) -> dict:
    from playwright.async_api import async_playwright

    from kam_analytics.i18n import catalog

    words = catalog("en")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        opened = await asyncio.gather(*(_open(browser, url, dataset_id, words) for _ in range(sessions)))
        browser_pid = next((int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()
                            and _is_browser(int(e.name))), None)
        go = asyncio.Event()
        walks = [asyncio.ensure_future(_walk(page, words, go)) for _, page in opened]
        before = (_cpu_seconds(server_pid) if server_pid else 0.0, _machine_cpu_seconds(),
                  _tree_cpu_seconds(browser_pid) if browser_pid else 0.0, time.perf_counter())
        go.set()  # every session has the app open: the walks start together
        results = await asyncio.gather(*walks)
        after = (_cpu_seconds(server_pid) if server_pid else 0.0, _machine_cpu_seconds(),
                 _tree_cpu_seconds(browser_pid) if browser_pid else 0.0, time.perf_counter())
        for context, _ in opened:
            await context.close()
        await browser.close()
    times = [t for walk in results for _, t, _ in walk]
    errors = sum(e for walk in results for _, _, e in walk)
    by_page = {page: round(max(t for walk in results for p, t, _ in walk if p == page), 2)
               for page in ["overview", *PAGES[1:]]}
    server_cpu, machine_cpu, browser_cpu, wall = (b - a for a, b in zip(before, after))
    return {"sessions": sessions, "median_s": round(statistics.median(times), 2), "worst_s": round(max(times), 2),
            "worst_by_page_s": by_page, "errors": errors, "wall_s": round(wall, 1),
            "server_cpu_s": round(server_cpu, 1) if server_pid else None,
            "browser_cpu_s": round(browser_cpu, 1) if browser_pid else None,
            "machine_cpu_s": round(machine_cpu, 1), "machine_cpu_available_s": round(wall * os.cpu_count(), 1)}


def _is_browser(pid: int) -> bool:
    """The Chromium browser process this harness started (a child of Playwright's driver,
    which is a child of this process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    parent = int(stat.rsplit(")", 1)[1].split()[1])
    try:
        grandparent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return False
    return b"chromium" in command and b"--type=" not in command and grandparent == os.getpid()


def run(url: str, dataset_id: int, sessions: int, server_pid: int | None = None) -> dict:
    """N sessions open the app, then walk together (``_walk``); times and CPU."""
    return asyncio.run(_run(url, dataset_id, sessions, server_pid))


def main() -> int:
    from conftest import big_orders_csv, run_cli, start_app
    from kam_analytics.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--datasets", nargs="+", choices=["demo", "big"], default=["demo", "big"])
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
        choices = {"demo": ("演示数据 Demo", "demo"), "big": ("big", f"{args.rows:,} lines")}
        for name, label in (choices[key] for key in args.datasets):
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
