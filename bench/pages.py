"""Speed where the user sits: every page timed in headless Chromium (Debian's), first visit
after the app starts and again, on generated exports of 1M and 10M lines; plus the ingest of
each export, whole command, against DuckDB's own read_csv of the same file (also a whole
Python command).

Usage: python bench/pages.py [--rows 1000000 10000000] [--shape realistic iso] [--no-ingest]
Writes bench/out/pages.md (the table) and prints one JSON line per measurement.

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


def _finished(page, title: str) -> float:
    """Wait until the page shows ``title``, its main figure (a metric, a chart or a table) is
    drawn and nothing is left running (no running indicator, no spinner, three checks in a
    row); the moment it was last seen busy."""
    from playwright.sync_api import expect

    expect(page.locator("h1").first).to_have_text(title, timeout=600_000)
    page.locator('[data-testid="stMetric"], .js-plotly-plot, [data-testid="stDataFrame"]').first \
        .wait_for(state="visible", timeout=600_000)
    quiet, done_at = 0, time.perf_counter()
    while quiet < 3:
        busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSpinner"]').count()
        quiet = 0 if busy else quiet + 1
        if busy or quiet == 1:
            done_at = time.perf_counter()
        page.wait_for_timeout(200)
    return done_at


def time_pages(url: str, dataset_id: int) -> list[dict]:
    """Each page: first visit (a fresh browser tab: the app loads, the script runs on cold
    caches), again (a second fresh tab: the app loads again, the script runs on warm caches)
    and switch (in a tab already showing another page, a click on this page's sidebar link,
    warm caches: what a user going back to a page waits)."""
    from playwright.sync_api import sync_playwright

    from kam_analytics.i18n import catalog

    words = catalog("en")
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for number, (path, title_key) in enumerate(PAGES):
            row = {"page": path or "overview"}
            for visit in ("first_s", "again_s"):
                page = browser.new_page(viewport={"width": 1300, "height": 1000})
                started = time.perf_counter()
                page.goto(f"{url}/{path}?lang=en&ds={dataset_id}")
                row[visit] = round(_finished(page, words[title_key]) - started, 2)
                row["errors"] = row.get("errors", 0) + page.locator('[data-testid="stException"]').count()
                page.close()
            # from the page before (the overview: from concentration), through the sidebar
            other_path, other_title = PAGES[number - 1] if number else PAGES[1]
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{url}/{other_path}?lang=en&ds={dataset_id}")
            _finished(page, words[other_title])
            link = page.locator(f'[data-testid="stSidebarNav"] a[href="{url}/{path}"]')
            started = time.perf_counter()
            link.click()
            row["switch_s"] = round(_finished(page, words[title_key]) - started, 2)
            row["errors"] += page.locator('[data-testid="stException"]').count()
            page.close()
            results.append(row)
        browser.close()
    return results


def _peak_mb(pid: int) -> int:
    """The app process's peak resident memory so far (Linux: VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


def main() -> int:
    from conftest import start_app
    from kam_analytics.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--shape", nargs="+", default=["realistic", "iso"])
    parser.add_argument("--no-ingest", action="store_true",
                        help="time the pages on the store an earlier run left (ingest columns: –)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    lines = ["| export | lines | ingest (whole command) | read_csv | ratio | " + " | ".join(
        f"{p or 'overview'} first / again / switch" for p, _ in PAGES) + " | app peak memory |",
             "|---" * (6 + len(PAGES)) + "|"]
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
            url, process = start_app(db, folder / "app.log", demo=False)
            try:
                pages = time_pages(url, dataset_id)
                peak_mb = _peak_mb(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=60)
            print(json.dumps({"benchmark": "pages", "shape": shape, "lines": rows, **ingest, "pages": pages,
                              "app_peak_mb": peak_mb, "target_peak_mb": 2048},
                             ensure_ascii=False), flush=True)
            lines.append(f"| {shape} | {rows:,} | {ingest['ingest_s']} s | {ingest['read_csv_s']} s | {ingest['ratio']}{'×' if ingest['ratio'] != '–' else ''} | "
                         + " | ".join(f"{p['first_s']} / {p['again_s']} / {p['switch_s']} s" for p in pages)
                         + f" | {peak_mb:,} MB |")
    (OUT / "pages.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
