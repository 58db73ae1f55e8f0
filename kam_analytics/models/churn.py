"""Churn models: the lapse classifier and the BG/NBD baseline.

``ChurnClassifier`` is a scikit-learn estimator (gradient-boosted trees on the snapshot
features; missing values allowed). ``BGNBD`` is the beta-geometric / negative-binomial model
of Fader, Hardie & Lee (2005), fitted by maximum likelihood; ``p_alive`` is its probability that
a customer is still active — 1.0 for anyone with no repeat purchase, a known weakness.

References
----------
Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting your customers" the easy way:
An alternative to the Pareto/NBD model. Marketing Science, 24(2), 275–284.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted, validate_data


class ChurnClassifier(ClassifierMixin, BaseEstimator):
    """Probability that an account lapses, from its snapshot features.

    Parameters
    ----------
    max_iter : int, default=200
    learning_rate : float, default=0.05
    random_state : int, default=0
    """

    def __init__(self, max_iter=200, learning_rate=0.05, random_state=0):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                     random_state=self.random_state, early_stopping=False)
        self.model_.fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class BGNBD:
    """BG/NBD fitted on (x = repeat purchases, t_x = time of the last purchase, T = age), all
    in days since each customer's first purchase."""

    def fit(self, x, t_x, T):
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        scale = max(float(np.max(T)), 1.0)  # days -> fraction of the longest age, for stability
        t_x, T = t_x / scale, T / scale

        def negative_ll(log_params):
            r, alpha, a, b = np.exp(log_params)
            a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
            a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
            a3 = -(r + x) * np.log(alpha + T)
            with np.errstate(divide="ignore", invalid="ignore"):
                a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
            return -np.sum(a1 + a2 + np.logaddexp(a3, a4))

        best = minimize(negative_ll, np.zeros(4), method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6})
        self.r_, self.alpha_, self.a_, self.b_ = np.exp(best.x)
        self.scale_ = scale
        return self

    def p_alive(self, x, t_x, T):
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        t_x, T = t_x / self.scale_, T / self.scale_
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (self.a_ / (self.b_ + x - 1)) * ((self.alpha_ + T) / (self.alpha_ + t_x)) ** (self.r_ + x)
        return np.where(x > 0, 1.0 / (1.0 + ratio), 1.0)
