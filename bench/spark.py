"""Each analysis on DuckDB and on a local Spark session over the same lines, at 10M and 50M.

Generates a Parquet export (two lines per order, one customer per 100 lines, three years,
regions and names), loads it into a DuckDB store (``ingest``) and attaches the same file to
Spark (``attach --engine spark``); then times every analysis on both, and reports the peak
memory of this process (the app's side) and of Spark's JVM. Writes bench/out/spark.md.

    python bench/spark.py [--rows 10000000 50000000] [--skip-churn-above 10000000]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"


def generate(path: Path, rows: int) -> Path:
    import duckdb

    if path.exists():
        return path
    customers = max(1, rows // 100)
    duckdb.connect().execute(f"""COPY (
        SELECT 'SO' || (i // 2) AS order_id, 'C' || lpad(((i // 2) * 7919 % {customers})::VARCHAR, 7, '0') AS customer_id,
               TIMESTAMP '2022-01-01' + INTERVAL (((i // 2) * 13) % 1095) DAY AS order_date,
               round(10 + ((i * 37) % 997) + (i % 7) * 0.25, 2)::DECIMAL(18, 4) AS amount,
               'Customer ' || ((i // 2) * 7919 % {customers}) AS customer_name,
               ['华东', '华南', '华北', '西南', '东北'][1 + ((i // 2) * 7919 % {customers}) % 5] AS region
        FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    return path


def _jvm_peak_mb() -> float | None:
    """Peak resident memory of this process's Spark JVM (a child process), from /proc."""
    try:
        for child in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split():
            status = Path(f"/proc/{child}/status").read_text()
            if "java" in Path(f"/proc/{child}/cmdline").read_text():
                return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
    except (OSError, StopIteration):
        pass
    return None


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--skip-churn-above", type=int, default=10_000_000)
    args = parser.parse_args()
    os.environ["KAM_NO_DEMO"] = "1"
    from kam_analytics import service, spark
    from kam_analytics.access import local_identity
    from kam_analytics.analytics import account_features, churn, concentration, customers, rfm, trend
    from kam_analytics.store import Store

    OUT.mkdir(parents=True, exist_ok=True)
    me = local_identity()
    lines = [f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"{dt.date.today().isoformat()}; local Spark `local[*]`, DuckDB embedded.", ""]
    start = time.perf_counter()
    spark.spark_session()
    lines.append(f"Spark session start: {time.perf_counter() - start:.1f} s (once per process).")
    for rows in args.rows:
        parquet = generate(OUT / f"spark_{rows}.parquet", rows)
        db = OUT / f"spark_{rows}" / "kam.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        store = Store.open(db)
        load_s, _ = timed(lambda: store.find("duck") or service.load_file(store, me, parquet, dataset="duck"))
        attach_s, _ = timed(lambda: store.find("spark") or service.attach_dataset(store, me, "spark", f"parquet.`{parquet}`"))
        as_of = service.default_as_of(store.dataset("duck"))
        analyses = [
            ("customer summary", lambda t: customers.customer_summary(t)),
            ("revenue by month", lambda t: trend.revenue_by_period(t, "month")),
            ("concentration (ranked customers)", lambda t: concentration.ranked_customers(t)),
            ("concentration by region", lambda t: concentration.grouped_indicators(t, "region")),
            ("indicators by quarter", lambda t: concentration.indicators_by_period(t, "quarter")),
            ("scorecard features", lambda t: account_features.customer_features(t, as_of)),
            ("RFM values", lambda t: rfm.rfm_values(t, as_of)),
            ("churn post-mortem", lambda t: churn.post_mortem(t, as_of, 90, "region")),
        ]
        if rows <= args.skip_churn_above:
            analyses.append(("churn scoring (snapshots, training, scoring)",
                             lambda t: churn.score_accounts(t, as_of, 90).table))
        lines += ["", f"### {rows:,} lines ({rows // 100:,} customers)", "",
                  f"Load into DuckDB (ingest of the Parquet file): {load_s:.1f} s; attach to Spark (mapping, counts, "
                  f"totals): {attach_s:.1f} s.", "", "| analysis | rows back | DuckDB | Spark | Spark / DuckDB |",
                  "|---|---|---|---|---|"]
        for name, fn in analyses:
            tables = {e: service.transactions(store, service.Slice.of(store.dataset(e))) for e in ("duck", "spark")}
            duck_s, result = timed(lambda: fn(tables["duck"]))
            spark_s, _ = timed(lambda: fn(tables["spark"]))
            lines.append(f"| {name} | {len(result):,} | {duck_s:.1f} s | {spark_s:.1f} s | {spark_s / duck_s:.1f}× |")
            print(lines[-1], flush=True)
        store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm = _jvm_peak_mb()
    lines += ["", f"Peak memory: this (app-side) process {rss:,.0f} MB; Spark's JVM "
              f"{'%.0f MB' % jvm if jvm else 'not measured'}."]
    (OUT / "spark.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
