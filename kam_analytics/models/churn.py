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
from scipy.special import digamma, gammaln
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted, validate_data


class ChurnClassifier(ClassifierMixin, BaseEstimator):
    """Probability that an account lapses, from its snapshot features.

    Small, heavily regularised trees: at most ``max_leaf_nodes`` leaves each, and a leaf holds
    at least ``min_samples_leaf`` training rows ('auto': one in 40 rows, between 20 and 200).
    Measured on the README's 16 replays (demo, the two shared samples, a one-cohort history of
    irregular buyers; 90- and 180-day horizons), this raised the mean ROC AUC margin over the
    best baseline from +0.024 (31 leaves, 20 rows a leaf) to +0.035; adding the account's own
    gap distribution, BG/NBD P(alive) or 30/180-day order windows as inputs changed it by at
    most 0.001, so they are not in.

    Parameters
    ----------
    max_iter : int, default=200
    learning_rate : float, default=0.05
    max_leaf_nodes : int, default=6
    min_samples_leaf : int or 'auto', default='auto'
    l2_regularization : float, default=1.0
    random_state : int, default=0
    monotonic_cst : dict or None, default=None
        column name → +1 (the risk never falls as it grows) or −1, for inputs whose sign is
        known; read against the column names of a fitted frame.

    A column without any value in the training rows is read as a constant (it never splits).
    """

    def __init__(self, max_iter=200, learning_rate=0.05, max_leaf_nodes=6, min_samples_leaf="auto",
                 l2_regularization=1.0, random_state=0, monotonic_cst=None):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.monotonic_cst = monotonic_cst

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        # a column with no value at all (e.g. an order trend before any prior window) would stop
        # the binning; as a constant it simply never splits
        X = np.where(np.isnan(X).all(axis=0), 0.0, X)
        names = list(getattr(self, "feature_names_in_", []))
        signs = [int((self.monotonic_cst or {}).get(n, 0)) for n in names] if self.monotonic_cst and names else None
        leaf = self.min_samples_leaf if self.min_samples_leaf != "auto" else min(200, max(20, len(X) // 40))
        self.model_ = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                                     max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=leaf,
                                                     l2_regularization=self.l2_regularization,
                                                     random_state=self.random_state, early_stopping=False,
                                                     monotonic_cst=signs)
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

        repeat = x > 0

        def negative_ll(log_params):
            """−log-likelihood and its gradient in the log-parameters (each partial derivative
            × its parameter). With L = logaddexp(A3, A4) and w3, w4 = e^(A3 − L), e^(A4 − L):
            ∂/∂r = ψ(r + x) − ψ(r) + ln α − w3 ln(α + T) − w4 ln(α + t_x); ∂/∂α = r/α −
            (r + x)(w3/(α + T) + w4/(α + t_x)); ∂/∂a = ψ(a + b) − ψ(a + b + x) + w4/a;
            ∂/∂b = ψ(a + b) + ψ(b + x) − ψ(b) − ψ(a + b + x) − w4/(b + x − 1)."""
            r, alpha, a, b = np.exp(log_params)
            a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
            a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
            a3 = -(r + x) * np.log(alpha + T)
            with np.errstate(divide="ignore", invalid="ignore"):
                a4 = np.where(repeat, np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
                last = np.logaddexp(a3, a4)
                w3, w4 = np.exp(a3 - last), np.where(repeat, np.exp(a4 - last), 0.0)
                log_t_x = np.where(repeat, np.log(alpha + t_x), 0.0)
                gap = np.where(repeat, b + x - 1, 1.0)
            d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * log_t_x
            d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + np.where(repeat, t_x, 0.0)))
            d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
            d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / gap
            gradient = np.array([d_r.sum() * r, d_alpha.sum() * alpha, d_a.sum() * a, d_b.sum() * b])
            return -np.sum(a1 + a2 + last), -gradient

        # L-BFGS-B on the log-parameters, bounded so that a history with no sign of death (the
        # Poisson limit: r and α without bound, a → 0) stops at the bounds instead of wandering:
        # 0.16 s on 5,000 such accounts where Nelder-Mead took 14.2 s, the same predictions. The
        # gradient is given (``negative_ll``): 5,000 generated accounts 2.3 s → 0.3 s, and a likelihood
        # as high or higher (finite differences lose the slope where a and b are large)
        best = minimize(negative_ll, np.zeros(4), jac=True, method="L-BFGS-B", bounds=[(-12.0, 18.0)] * 4,
                        options={"maxiter": 1000})
        self.r_, self.alpha_, self.a_, self.b_ = np.exp(best.x)
        self.scale_ = scale
        return self

    def p_alive(self, x, t_x, T):
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        t_x, T = t_x / self.scale_, T / self.scale_
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (self.a_ / (self.b_ + x - 1)) * ((self.alpha_ + T) / (self.alpha_ + t_x)) ** (self.r_ + x)
        return np.where(x > 0, 1.0 / (1.0 + ratio), 1.0)

    def p_no_order(self, x, t_x, T, horizon):
        """The probability of no purchase in the next ``horizon`` days: dead (1 − P(alive)), or
        alive and silent — with the purchase rate's posterior Gamma(r + x, α + T), P(no purchase
        in t | alive) = ((α + T) / (α + T + t))^(r + x) (a BG/NBD customer can die only just
        after a purchase, so one who buys nothing stays alive)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        alive = self.p_alive(x, t_x, T)
        scaled, t = T / self.scale_, float(horizon) / self.scale_
        silent = ((self.alpha_ + scaled) / (self.alpha_ + scaled + t)) ** (self.r_ + x)
        return 1 - alive + alive * silent

