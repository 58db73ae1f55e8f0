"""Calibration of lapse probabilities: a risk of 0.7 should mean that about 7 in 10 such
accounts lapse — on the accounts the list shows (key accounts first), not only on average.

The calibrator is fitted on the most recent held-out snapshots, scored by a classifier trained
on the older ones (``analytics.churn._train``). Both methods are a sigmoid (Platt) on the
score's log-odds, so the risk rises smoothly with the score and two different scores never
share a risk (isotonic regression, used before, maps whole ranges of scores to one value and
tied the top of the list); ``sigmoid_key`` gives the key accounts (``key``: a 0/1 column, the
top 20% of customers by revenue up to the snapshot) a sigmoid of their own. The method kept is
the one with the lower Brier score on the key accounts when each is fitted on one half of the
held-out snapshots and judged on the other, both ways.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

METHODS = ("sigmoid", "sigmoid_key")
ECE_BINS = 10
_EPS = 1e-6


def brier(probabilities, labels) -> float:
    """Mean squared difference between probability and outcome (1 = lapsed): 0 is perfect;
    always saying the lapse rate p scores p(1 − p)."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    return float(np.mean((p - y) ** 2))


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class Calibrator:
    """Maps a raw score (0–1) to a calibrated probability with one ``method``; ``key`` (0/1 per
    score) matters to ``sigmoid_key`` only."""

    def __init__(self, method: str):
        if method not in METHODS:
            raise ValueError(method)
        self.method = method

    def _inputs(self, scores, key) -> np.ndarray:
        z = _logit(scores)
        if self.method == "sigmoid":
            return z.reshape(-1, 1)
        k = np.zeros(len(z)) if key is None else np.asarray(key, dtype=float)
        return np.column_stack([z, k, k * z])

    def fit(self, scores, labels, key=None) -> "Calibrator":
        self.model_ = LogisticRegression(C=1e6).fit(self._inputs(scores, key), np.asarray(labels, dtype=int))
        return self

    def transform(self, scores, key=None) -> np.ndarray:
        return self.model_.predict_proba(self._inputs(scores, key))[:, 1]


def choose(scores, labels, groups, key=None) -> tuple[Calibrator, dict[str, float]]:
    """The calibrator with the lower two-fold Brier score on the key accounts (on every row
    when ``key`` is None or the key rows of a fold hold one outcome only), refitted on all
    rows, and each method's score. ``groups``: the snapshot of each row; the folds alternate
    snapshots (oldest in the first, the next in the second, …) so both span the held-out
    period. Ties: ``sigmoid`` (the simpler)."""
    scores, labels, groups = np.asarray(scores, float), np.asarray(labels, int), np.asarray(groups)
    key = np.zeros(len(scores), dtype=bool) if key is None else np.asarray(key, dtype=bool)
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
            judged = judge & key if len(set(labels[judge & key].tolist())) == 2 else judge
            fitted = Calibrator(method).fit(scores[fit_on], labels[fit_on], key[fit_on])
            losses.append(brier(fitted.transform(scores[judged], key[judged]), labels[judged]))
        results[method] = float(np.mean(losses)) if losses else float("inf")
    best = min(METHODS, key=lambda m: (results[m], METHODS.index(m)))
    return Calibrator(best).fit(scores, labels, key), results


def _bins(p: np.ndarray, edges) -> list[np.ndarray]:
    """Masks of ``p`` per bin [a, b), the last one closed."""
    return [(p >= low) & ((p < high) if i < len(edges) - 2 else (p <= high))
            for i, (low, high) in enumerate(zip(edges[:-1], edges[1:]))]


EDGES = tuple(i / ECE_BINS for i in range(ECE_BINS + 1))


def reliability(probabilities, labels, edges=EDGES) -> list[dict]:
    """Accounts grouped by predicted probability (bins [a, b), the last one closed): per bin the
    accounts, the mean predicted probability and the share that lapsed. Empty bins are left out."""
    p, y = np.asarray(probabilities, float), np.asarray(labels, float)
    return [{"low": float(low), "high": float(high), "accounts": int(inside.sum()),
             "predicted": float(p[inside].mean()), "lapsed": float(y[inside].mean())}
            for inside, low, high in zip(_bins(p, edges), edges[:-1], edges[1:]) if inside.any()]


def ece(probabilities, labels, edges=EDGES) -> float | None:
    """Expected calibration error: over the ten equal-width bins of ``reliability``, the
    accounts-weighted mean of |mean predicted − share lapsed| (0 is perfect); None without
    accounts."""
    p = np.asarray(probabilities, float)
    if len(p) == 0:
        return None
    return float(sum(b["accounts"] * abs(b["predicted"] - b["lapsed"]) for b in reliability(p, labels, edges)) / len(p))


def ece_floor(probabilities, draws: int = 200, seed: int = 0, edges=EDGES) -> float | None:
    """The ECE a perfectly calibrated risk would still show on these accounts: the mean ``ece``
    over ``draws`` sets of outcomes drawn with exactly the predicted probabilities (fixed
    ``seed``). On a few hundred accounts it is several points — the noise of counting lapses
    in small bins — so an ECE near it is as good as the sample can tell."""
    p = np.asarray(probabilities, float)
    if len(p) == 0:
        return None
    rng = np.random.default_rng(seed)
    return float(np.mean([ece(p, rng.uniform(size=len(p)) < p, edges) for _ in range(draws)]))
