"""The churn warning replayed against what happened, on every history we hold: the demo, the two
shared samples, a generated one-cohort history of irregular buyers and — when a copy is at
hand — CDNOW, the public purchase history of 23,570 customers of a CD retailer who all first
bought in January–March 1997 (the classic test of BG/NBD); 90- and 180-day horizons. Prints the
table of docs/churn.md and writes it to bench/out/churn_replays.md.

Usage: python bench/churn_replays.py [--cdnow PATH]

CDNOW is not in this repository and this script fetches nothing: PATH is ``CDNOW_master.txt``
(whitespace-separated: customer id, yyyymmdd, CDs, dollars), which the ``lifetimes`` package
ships — ``pip download lifetimes==0.11.3 --no-deps`` and unzip ``lifetimes/datasets/`` from the
wheel. Without it (and without ``lifetimes`` or ``btyd`` installed) CDNOW is left out, with a
line saying so.

Per replay: the ranker the rolling-origin validation kept; ROC AUC of the risk (the list's
order), of days since the last order and of BG/NBD's probability of no order in the horizon,
on every active account and on the key accounts (the top 20% of customers by revenue up to the
date); the margin over the better baseline; the expected calibration error of the risk (ten
equal-width bins) with, in brackets, the ECE a perfectly calibrated risk would still show on
that many accounts (``calibration.ece_floor``); and hindsight: the same trees trained on the
replay's own outcomes, five-fold cross-validated — a model shown the answers of that one date
(fewer rows than the model's many snapshots, so not a strict bound, but where it is no better
than the model the inputs have nothing more to tell).

The generated history (``cohort_history``): 3,000 customers whose first orders all fall in
January–February 2023 (one acquisition cohort), gaps between orders drawn from gamma
distributions of shape 0.4 (bursty), 0.7, 1 (memoryless) or 3 (regular) around a mean gap of
their own, an exponential lifetime, and for 40% of them gaps that stretch before they leave.
"""
from __future__ import annotations

import argparse
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
    ("cdnow", 90): ["1997-09-30", "1997-12-31", "1998-03-31"],
    ("cdnow", 180): ["1997-12-31"],
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


def cdnow_master(given: str | None) -> Path | None:
    """CDNOW_master.txt: ``given``, else the copy an installed lifetimes or btyd ships, else None."""
    if given:
        return Path(given)
    import importlib.util

    for package in ("lifetimes", "btyd"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            path = Path(spec.origin).parent / "datasets" / "CDNOW_master.txt"
            if path.exists():
                return path
    return None


def cdnow_csv(master: Path, path: Path) -> Path:
    """CDNOW_master.txt as a transaction file: customer_id, order_date, quantity, amount."""
    raw = pd.read_csv(master, sep=r"\s+", header=None, skiprows=1, names=["id", "day", "cds", "dollars"],
                      dtype={"id": str, "day": str})  # (its first line names the columns)
    pd.DataFrame({"customer_id": "CD" + raw["id"], "order_date": pd.to_datetime(raw["day"], format="%Y%m%d").dt.date,
                  "quantity": raw["cds"], "amount": raw["dollars"]}).to_csv(path, index=False)
    return path


def hindsight(table: pd.DataFrame, labels: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC (every account, key accounts) of the trees trained on the replay's own outcomes,
    five-fold cross-validated: what the inputs could tell if the model were shown the answers."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from kam_analytics.analytics import churn
    from kam_analytics.models.churn import ChurnClassifier

    if not 10 <= labels.sum() <= len(labels) - 10:
        return None, None
    columns = churn._candidate_columns("trees", table)
    scores = cross_val_predict(ChurnClassifier(), table[columns].astype("float64"), labels,
                               cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")[:, 1]
    key = table["key"].to_numpy(dtype=bool)
    both = 0 < labels[key].sum() < key.sum()
    return float(roc_auc_score(labels, scores)), float(roc_auc_score(labels[key], scores[key])) if both else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdnow", help="path of CDNOW_master.txt")
    args = parser.parse_args()
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
    master = cdnow_master(args.cdnow)
    if master is not None:
        service.load_file(store, local_identity(), cdnow_csv(master, work / "cdnow.csv"))
    else:
        print("CDNOW left out: no --cdnow PATH and no lifetimes/btyd package with its copy", flush=True)
    f3 = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    signed = lambda v: "–" if v is None else f"{v:+.3f}".replace("-", "−")  # noqa: E731

    def margin(model, *baselines):
        known = [b for b in baselines if b is not None]
        return signed(model - max(known)) if model is not None and known else "–"

    lines = ["| dataset | horizon | replay date | ranker kept | all: model | days silent | BG/NBD | margin | hindsight | "
             "key accounts | key: model | days silent | BG/NBD | margin | hindsight | ECE key (perfect) | ECE all (perfect) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ds in store.datasets():
        name = "demo" if "Demo" in ds.name else ds.name
        table = service.transactions(store, service.Slice.of(ds))
        for horizon in (90, 180):
            for day in REPLAYS.get((name, horizon), []):
                scored = churn.score_accounts(table, day, horizon)
                b = churn.backtest(table, day, horizon, scored=scored)
                labels = churn.lapse_labels(table, day, scored.table["customer_id"], horizon).to_numpy()
                top_all, top_key = hindsight(scored.table, labels)
                ranker = scored.ranker or "rule"
                lines.append(
                    f"| {name} | {horizon} | {day} | {ranker} | {f3(b.auc)} | {f3(b.baseline_recency_auc)} | "
                    f"{f3(b.baseline_bgnbd_auc)} | {margin(b.auc, b.baseline_recency_auc, b.baseline_bgnbd_auc)} | "
                    f"{f3(top_all)} | {b.key_accounts} | {f3(b.key_auc)} | {f3(b.key_baseline_recency_auc)} | "
                    f"{f3(b.key_baseline_bgnbd_auc)} | "
                    f"{margin(b.key_auc, b.key_baseline_recency_auc, b.key_baseline_bgnbd_auc)} | {f3(top_key)} | "
                    f"{f3(b.key_ece)} ({f3(b.key_ece_floor)}) | {f3(b.ece)} ({f3(b.ece_floor)}) |")
                print(lines[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "churn_replays.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
