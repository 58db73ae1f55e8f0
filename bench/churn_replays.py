"""The churn model replayed against what happened, on every history we hold: the demo, the two
shared samples and a generated one-cohort history of irregular buyers; 90- and 180-day horizons.
Prints the README's backtest table and writes it to bench/out/churn_replays.md.

Usage: python bench/churn_replays.py

The generated history (``cohort_history``): 3,000 customers whose first orders all fall in
January–February 2023 (one acquisition cohort), gaps between orders drawn from gamma
distributions of shape 0.4 (bursty), 0.7, 1 (memoryless) or 3 (regular) around a mean gap of
their own, an exponential lifetime, and for 40% of them gaps that stretch before they leave.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent / "out"
SHARED = ROOT.parent / "shared" / "datasets"

REPLAYS = {  # (dataset, horizon): replay dates, each at least a horizon before the data's end
    ("demo", 90): ["2025-03-31", "2025-06-30", "2025-09-30"],
    ("demo", 180): ["2025-03-31", "2025-06-30"],
    ("online_retail_sample", 90): ["2011-06-30", "2011-07-31", "2011-08-31", "2011-09-10"],
    ("online_retail_sample", 180): ["2011-06-10"],
    ("superstore", 90): ["2021-06-30", "2022-06-30", "2022-09-30"],
    ("superstore", 180): ["2022-06-30"],
    ("cohort", 90): ["2024-12-31", "2025-03-31"],
    ("cohort", 180): ["2024-12-31"],
}


def cohort_history(path: Path, customers: int = 3000, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2025-06-30")
    rows = []
    for i in range(customers):
        start = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 59)))
        mean_gap = float(rng.gamma(2.0, 25.0)) + 5
        shape = float(rng.choice([0.4, 0.7, 1.0, 3.0], p=[0.3, 0.3, 0.2, 0.2]))
        life = float(rng.exponential(rng.choice([200, 500, 2000])))
        slows = rng.random() < 0.4
        value = float(rng.lognormal(7, 1))
        day = start
        while day <= end and (day - start).days <= life:
            rows.append((f"S{i:05d}", day.date().isoformat(), round(max(1.0, value * rng.lognormal(0, 0.5)), 2)))
            stretch = 1 + (2.5 * (day - start).days / life if slows and life > 0 else 0)
            day += pd.Timedelta(days=max(1, int(round(rng.gamma(shape, mean_gap / shape) * stretch))))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame.insert(1, "order_id", [f"O{k}" for k in range(len(frame))])
    frame.to_csv(path, index=False)
    return path


def main() -> None:
    from kam_analytics import demo, service
    from kam_analytics.access import local_identity
    from kam_analytics.analytics import churn
    from kam_analytics.store import Store

    work = Path(tempfile.mkdtemp())
    store = Store.open(work / "kam.duckdb")
    demo.seed_store(store)
    for name in ("online_retail_sample.csv", "superstore.csv"):
        service.load_file(store, local_identity(), SHARED / name)
    service.load_file(store, local_identity(), cohort_history(work / "cohort.csv"))
    pct = lambda v: "–" if v is None else f"{v * 100:.0f}%"  # noqa: E731
    f3 = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["| dataset | horizon | replay date | model | days since last order | BG/NBD P(alive) | margin | "
             "precision top 10% | Brier (calibration) | Brier, usual rate | expected revenue: error, bias, in range |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for ds in store.datasets():
        name = "demo" if "Demo" in ds.name else ds.name
        table = service.transactions(store, service.Slice.of(ds))
        for horizon in (90, 180):
            for day in REPLAYS.get((name, horizon), []):
                b = churn.backtest(table, day, horizon)
                best = max((v for v in (b.baseline_recency_auc, b.baseline_bgnbd_auc) if v is not None), default=None)
                margin = f"{b.auc - best:+.3f}".replace("-", "−") if b.auc is not None and best is not None else "–"
                r = b.revenue
                bias = "–" if r["bias"] is None else ("+" if r["bias"] >= 0 else "−") + pct(abs(r["bias"]))
                model = f3(b.auc) + (" (rule)" if b.method == "rule" else "")
                calibrated = b.calibration or ("rule score" if b.method == "rule" else "not calibrated")
                lines.append(f"| {name} | {horizon} | {day} | {model} | {f3(b.baseline_recency_auc)} | "
                             f"{f3(b.baseline_bgnbd_auc)} | {margin} | {pct(b.precision_at_10pct)} | "
                             f"{f3(b.brier)} ({calibrated}) | {f3(b.brier_base_rate)} | "
                             f"{pct(r['wape'])}, {bias}, {pct(r['in_range'])} |")
                print(lines[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "churn_replays.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
