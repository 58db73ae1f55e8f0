"""Customer clusters on RFM-style features, as a scikit-learn estimator.

Skewed money and count features are log-transformed (sign-preserving log1p) and robust-scaled
(median / IQR) before KMeans, so a few whales do not become clusters of their own; k is chosen
by the silhouette score over a range unless given. Deterministic for a fixed random_state.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances
from sklearn.preprocessing import RobustScaler
from sklearn.utils.validation import check_is_fitted, validate_data

SILHOUETTE_SAMPLE = 3_000  # silhouette is quadratic in n: 3,000 customers keep k selection under a second


def signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette of points with pairwise ``distances`` (n × n) in clusters ``labels``
    (scikit-learn's definition): for each point, a = mean distance to the others of its
    cluster, b = the smallest mean distance to the points of another cluster, s = (b − a) /
    max(a, b), and s = 0 for a point alone in its cluster. From one distance matrix, so the
    k range is scored without measuring the distances again (0.01 s per k on 3,000 points
    where ``silhouette_score`` takes 0.07 s)."""
    _, codes = np.unique(labels, return_inverse=True)
    members = np.eye(codes.max() + 1)[codes]  # n × k one-hot
    counts = members.sum(axis=0)
    sums = distances @ members  # each point's total distance to each cluster
    own_count = counts[codes]
    rows = np.arange(len(codes))
    a = sums[rows, codes] / np.maximum(own_count - 1, 1)
    means = sums / counts
    means[rows, codes] = np.inf
    b = means.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.nan_to_num((b - a) / np.maximum(a, b))
    s[own_count == 1] = 0.0
    return float(s.mean())


class RFMClusterer(ClusterMixin, BaseEstimator):
    """KMeans on log-transformed, robust-scaled features.

    Parameters
    ----------
    n_clusters : int or "auto", default="auto"
        "auto" picks k in ``k_range`` with the best silhouette score (on at most 3,000
        customers, sampled with ``random_state``).
    k_range : tuple of int, default=(2, 8)
    random_state : int, default=0
    n_init : int, default=3

    Attributes
    ----------
    n_clusters_ : int
    silhouette_ : float or None, on at most 3,000 customers (None when all are in one cluster)
    scores_ : dict k -> silhouette (when n_clusters="auto")
    scaler_ : RobustScaler ; kmeans_ : KMeans ; labels_ : ndarray ; n_features_in_ : int
    """

    def __init__(self, n_clusters="auto", k_range=(2, 8), random_state=0, n_init=3):
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.random_state = random_state
        self.n_init = n_init

    def _transform(self, X):
        return self.scaler_.transform(signed_log1p(X))

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        logged = signed_log1p(X)
        self.scaler_ = RobustScaler().fit(logged)
        Z = np.ascontiguousarray(self.scaler_.transform(logged))  # KMeans works on rows
        n = len(Z)
        rng = np.random.RandomState(self.random_state)
        sample = rng.choice(n, SILHOUETTE_SAMPLE, replace=False) if n > SILHOUETTE_SAMPLE else np.arange(n)
        distances = pairwise_distances(Z[sample])  # scores every k and the final fit
        if self.n_clusters == "auto":
            low, high = self.k_range
            # no more clusters than distinct points; enough distinct among the first rows is enough
            distinct = len(np.unique(Z[:SILHOUETTE_SAMPLE], axis=0))
            if distinct <= high:
                distinct = len(np.unique(Z, axis=0))
            candidates = [k for k in range(low, high + 1) if k < min(n, distinct + 1)]
            self.scores_ = {}
            # k is chosen on the sample (silhouette is quadratic in n); the final fit uses everyone
            for k in candidates:
                labels = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit_predict(Z[sample])
                if 1 < len(np.unique(labels)) < len(sample):
                    self.scores_[k] = silhouette(distances, labels)
            k = max(self.scores_, key=lambda c: (self.scores_[c], -c)) if self.scores_ else 1
        else:
            k = int(self.n_clusters)
            if k < 1:
                raise ValueError("n_clusters must be a positive integer or 'auto'")
            k = min(k, n)
        self.kmeans_ = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(Z)
        self.n_clusters_ = k
        self.labels_ = self.kmeans_.labels_
        labels = self.labels_[sample]
        self.silhouette_ = silhouette(distances, labels) if 1 < len(np.unique(labels)) < len(sample) else None
        return self

    def predict(self, X):
        check_is_fitted(self, "kmeans_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.kmeans_.predict(self._transform(X))
