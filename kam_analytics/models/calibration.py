"""Calibration of lapse probabilities: a score of 0.7 should mean that about 7 in 10 such
accounts lapse. The calibrator is fitted on the most recent held-out snapshots, scored by a
classifier trained on the older ones (``analytics.churn._train``); the method — isotonic regression or a sigmoid
(Platt) on the score's log-odds — is the one with the lower Brier score when each is fitted on
one half of the held-out snapshots and judged on the other, both ways.
"""
from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

METHODS = ("isotonic", "sigmoid")
_EPS = 1e-6


def brier(probabilities, labels) -> float:
    """Mean squared difference between probability and outcome (1 = lapsed): 0 is perfect;
    always saying the lapse rate p scores p(1 − p)."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    return float(np.mean((p - y) ** 2))


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p)).reshape(-1, 1)


class Calibrator:
    """Maps a raw score (0–1) to a calibrated probability with one ``method``."""

    def __init__(self, method: str):
        if method not in METHODS:
            raise ValueError(method)
        self.method = method

    def fit(self, scores, labels) -> "Calibrator":
        y = np.asarray(labels, dtype=int)
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(np.asarray(scores, float), y)
        else:
            self.model_ = LogisticRegression(C=1e6).fit(_logit(scores), y)
        return self

    def transform(self, scores) -> np.ndarray:
        if self.method == "isotonic":
            return np.asarray(self.model_.predict(np.asarray(scores, dtype=float)), dtype=float)
        return self.model_.predict_proba(_logit(scores))[:, 1]


def choose(scores, labels, groups) -> tuple[Calibrator, dict[str, float]]:
    """The calibrator with the lower two-fold Brier score, refitted on all rows, and each
    method's score. ``groups``: the snapshot of each row; the folds alternate snapshots
    (oldest in the first, the next in the second, …) so both span the held-out period."""
    scores, labels, groups = np.asarray(scores, float), np.asarray(labels, int), np.asarray(groups)
    order = {g: i for i, g in enumerate(sorted(set(groups.tolist())))}
    fold = np.array([order[g] % 2 for g in groups.tolist()])
    if len(order) < 2:  # one snapshot: alternate rows instead
        fold = np.arange(len(scores)) % 2
    results = {}
    for method in METHODS:
        losses = []
        for held in (0, 1):
            fit_on, judge = fold != held, fold == held
            if len(set(labels[fit_on].tolist())) < 2 or not judge.any():
                continue
            losses.append(brier(Calibrator(method).fit(scores[fit_on], labels[fit_on]).transform(scores[judge]),
                                labels[judge]))
        results[method] = float(np.mean(losses)) if losses else float("inf")
    best = min(METHODS, key=lambda m: (results[m], METHODS.index(m)))  # ties: isotonic
    return Calibrator(best).fit(scores, labels), results


def reliability(probabilities, labels, edges=(0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)) -> list[dict]:
    """Accounts grouped by predicted probability (bins [a, b), the last one closed): per bin the
    accounts, the mean predicted probability and the share that lapsed. Empty bins are left out."""
    p, y = np.asarray(probabilities, float), np.asarray(labels, float)
    out = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (p >= low) & ((p < high) if i < len(edges) - 2 else (p <= high))
        if inside.any():
            out.append({"low": float(low), "high": float(high), "accounts": int(inside.sum()),
                        "predicted": float(p[inside].mean()), "lapsed": float(y[inside].mean())})
    return out
